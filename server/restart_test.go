package server_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage/seal"
)

// TestRestartKeepsEverything: sessions (and their apiKeys, derived from the
// sealed secret), channels, messages and responses survive a clean restart,
// and a root-key rotation still opens everything.
func TestRestartKeepsEverything(t *testing.T) {
	r := newRelay(t, func(*app.Config) {})
	signed := r.register(t, true)
	legacy := r.register(t, false)
	ch, hook := webhookChannel(t, signed, client.NewChannel{Name: "GitHub"})
	hookPath := strings.TrimPrefix(hook, r.URL) // the port changes across restarts
	var ids []string
	for i := range 5 {
		id, err := client.PostWebhook(bg, nil, hook, "text/plain", []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	respID, err := signed.Reply(bg, client.Reply{ChannelID: ch.ID, Content: "done"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := client.Register(bg, r.URL, signed.Key, nil)
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T) {
		t.Helper()
		signed.BaseURL, legacy.BaseURL = r.URL, r.URL
		// Reclaim returns the same session and the same apiKey: the sealed
		// API-key secret survived.
		again, err := client.Register(bg, r.URL, signed.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.UserID != signed.UserID || again.APIKey != signed.APIKey {
			t.Fatalf("reclaim after restart: got %s/%s, want %s/%s", again.UserID, again.APIKey, signed.UserID, signed.APIKey)
		}
		if again.ServerPublicKey.X != before.ServerPublicKey.X || again.ServerPublicKey.Y != before.ServerPublicKey.Y {
			t.Fatal("server key pair changed across restart")
		}
		if _, err := legacy.Channels(bg); err != nil {
			t.Fatalf("legacy session lost: %v", err)
		}
		chans, err := signed.Channels(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(chans) != 1 || chans[0].ID != ch.ID || chans[0].Name != "GitHub" {
			t.Fatalf("channels after restart: %+v", chans)
		}
		msgs := messages(t, signed)
		if len(msgs) != len(ids) {
			t.Fatalf("%d messages after restart, want %d", len(msgs), len(ids))
		}
		for i, m := range msgs {
			if m.ID != ids[i] {
				t.Fatalf("message %d = %s, want %s", i, m.ID, ids[i])
			}
		}
		page, err := client.Responses(bg, nil, r.URL, ch.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Responses) != 1 || page.Responses[0].ID != respID {
			t.Fatalf("responses after restart: %+v", page.Responses)
		}
		// The webhook still authenticates, and timestamps keep increasing.
		id, err := client.PostWebhook(bg, nil, r.URL+hookPath, "text/plain", []byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		msgs = messages(t, signed)
		if n := len(msgs); n < 2 || msgs[n-1].Timestamp <= msgs[n-2].Timestamp {
			t.Fatal("timestamps not increasing across restart")
		}
	}

	r.restart(t)
	t.Run("clean restart", check)

	r.stop()
	next, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	n, err := app.RotateRootKey(bg, r.cfg, discard, r.key, next)
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 { // the API-key secret and the server key pair at least
		t.Fatalf("rotated %d sealed values", n)
	}
	old := r.cfg
	old.Store.RootKey = r.key.Encode()
	if _, err := app.OpenStore(bg, old, discard); !errors.Is(err, seal.ErrWrongKey) {
		t.Fatalf("opening with the old key after rotation: %v, want ErrWrongKey", err)
	}
	r.key = next
	r.start(t)
	t.Run("after rotation", check)
}

package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
)

// TestPrepareReleaseFailsWhenTheTokenCannotBeRead: a deleted channel's webhook
// is removed with its token, which the deletion removes too. When the token
// cannot be read, the release is refused (the deletion with it) instead of
// silently leaving Telegram posting to a deleted channel.
func TestPrepareReleaseFailsWhenTheTokenCannotBeRead(t *testing.T) {
	ctx := context.Background()
	key, err := seal.GenerateRootKey()
	must(t, err)
	st, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: key})
	must(t, err)
	u := storage.User{ID: storage.NewID(), CreatedAt: time.Now()}
	_, _, err = st.RegisterUser(ctx, u, []byte("hash"))
	must(t, err)
	ch := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	must(t, st.CreateChannel(ctx, &ch, map[string][]byte{channels.SecretBotToken: []byte(token)}))
	plain := storage.Channel{ID: "plain", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	must(t, st.CreateChannel(ctx, &plain, nil))
	a := telegram.New(telegram.Config{APIURL: "http://127.0.0.1:1"}, nil)

	release, err := a.PrepareRelease(ctx, st, plain)
	if err != nil || release == nil {
		t.Fatalf("a channel without a token: %v, want a release that does nothing", err)
	}
	release(ctx)

	must(t, st.Close()) // the store fails every read from now on
	if _, err := a.PrepareRelease(ctx, st, ch); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("PrepareRelease with an unreadable token: %v, want the store's error", err)
	}
}

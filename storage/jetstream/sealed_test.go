package jetstream_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// rawMsg is a message of a store's stream as JetStream holds it.
type rawMsg struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// dump reads every message of the stream named prefix, straight from
// JetStream: what a copy of the NATS store directory would give away.
func dump(t *testing.T, url, prefix string) []rawMsg {
	t.Helper()
	stream := rawStream(t, url, prefix)
	info, err := stream.Info(ctx)
	must(t, err)
	var out []rawMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, njs.ErrMsgNotFound) {
			continue
		}
		must(t, err)
		out = append(out, rawMsg{seq: seq, subject: m.Subject, header: m.Header, data: m.Data})
	}
	return out
}

// noPlainSecrets fails when any message of the stream holds one of plain in
// its subject, a header or its payload.
func noPlainSecrets(t *testing.T, url, prefix string, plain ...string) {
	t.Helper()
	msgs := dump(t, url, prefix)
	if len(msgs) == 0 {
		t.Fatal("the stream is empty")
	}
	for _, m := range msgs {
		var hdr strings.Builder
		for k, vs := range m.header {
			hdr.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		for _, p := range plain {
			if strings.Contains(m.subject, p) || strings.Contains(hdr.String(), p) || strings.Contains(string(m.data), p) {
				t.Errorf("message %d (%s) holds %q in plain form:\n%s%q", m.seq, m.subject, p, hdr.String(), m.data)
			}
		}
	}
}

// TestSecretsSealedAtRest: nothing the stream holds shows a public key, its
// fingerprint, a channel's secret metadata members or its sealed secrets,
// through updates that replace and remove members, and after an import;
// the store gives them back on read.
func TestSecretsSealedAtRest(t *testing.T) {
	srv := natstest.Start(t)
	key := testKey(t)
	prefix := newPrefix()
	s := open(t, jetstream.Options{URLs: srv.URL(), Prefix: prefix, RootKey: key})
	pk := storage.PublicKey{X: "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg", Y: "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXk"}
	u, _, err := s.RegisterUser(ctx, storage.User{ID: storage.NewID(), PublicKey: &pk}, []byte("hash"))
	must(t, err)
	meta := `{"botUsername":"bot","webhookSecret":"plain-secret-1","pairingCode":"ABCD1234"}`
	ch := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(meta)}
	must(t, s.CreateChannel(ctx, &ch, map[string][]byte{"botToken": []byte("token-plain-1")}))
	plain := []string{pk.X, pk.Y, "plain-secret", "ABCD1234", "token-plain"}
	noPlainSecrets(t, srv.URL(), prefix, plain...)

	paired := `{"botUsername":"bot","webhookSecret":"plain-secret-2","allowedUsers":["7"]}`
	_, err = s.UpdateChannel(ctx, "tg", func(c *storage.Channel) error { c.Metadata = json.RawMessage(paired); return nil })
	must(t, err)
	noPlainSecrets(t, srv.URL(), prefix, plain...)
	for _, read := range []func() (storage.Channel, error){
		func() (storage.Channel, error) { return s.Channel(ctx, "tg") },
		func() (storage.Channel, error) { l, err := s.Channels(ctx, u.ID); return l[0], err },
		func() (storage.Channel, error) {
			l, err := s.ChannelsOfType(ctx, storage.TypeTelegram)
			return l[0], err
		},
	} {
		if c, err := read(); err != nil || string(c.Metadata) != paired {
			t.Fatalf("read %s, %v; want %s", c.Metadata, err, paired)
		}
	}
	got, err := s.User(ctx, u.ID)
	must(t, err)
	equal(t, "public key", *got.PublicKey, pk)

	// Another instance opens them too, and an import carries them sealed.
	other := open(t, jetstream.Options{URLs: srv.URL(), Prefix: prefix, RootKey: key})
	c, err := other.Channel(ctx, "tg")
	must(t, err)
	equal(t, "metadata on another instance", string(c.Metadata), paired)
	movedPrefix := newPrefix()
	moved := open(t, jetstream.Options{URLs: srv.URL(), Prefix: movedPrefix, RootKey: key})
	must(t, moved.Import(ctx, storagetest.Records(storagetest.Exported(t, s))))
	c, err = moved.Channel(ctx, "tg")
	must(t, err)
	equal(t, "metadata after an import", string(c.Metadata), paired)
	noPlainSecrets(t, srv.URL(), movedPrefix, plain...)
}

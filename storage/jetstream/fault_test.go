package jetstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

// fastReconnect keeps the tests' waits for a reconnect short.
const fastReconnect = 100 * time.Millisecond

// TestNATSStoppedWhileOpen: while NATS is down, writes fail at once with
// ErrUnavailable and reads fail; once it is back, the same store works
// again, with everything acknowledged before.
func TestNATSStoppedWhileOpen(t *testing.T) {
	srv := natstest.Start(t)
	opts := jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: testKey(t), MaxReconnectWait: fastReconnect}
	s := open(t, opts)
	u := storage.NewID()
	before := storage.Message{UserID: u, ChannelID: "c", Content: "before"}
	must(t, s.AppendMessage(ctx, &before, storage.AppendOptions{}))

	srv.Stop()
	waitFor(t, 5*time.Second, "Health to say not open", func() bool { return !s.Health().Open })
	m := storage.Message{UserID: u, ChannelID: "c", Content: "during"}
	start := time.Now()
	errorIs(t, s.AppendMessage(ctx, &m, storage.AppendOptions{}), storage.ErrUnavailable)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a write while disconnected took %s to fail", took)
	}
	equal(t, "no id for a failed write", m.ID, "")
	_, _, err := s.MessagesAfter(ctx, u, time.Time{}, 10)
	errorIs(t, err, storage.ErrUnavailable)

	srv.Restart()
	waitFor(t, 10*time.Second, "Health to say open", func() bool { return s.Health().Open })
	after := storage.Message{UserID: u, ChannelID: "c", Content: "after"}
	must(t, s.AppendMessage(ctx, &after, storage.AppendOptions{}))
	msgs, _, err := s.MessagesAfter(ctx, u, time.Time{}, 10)
	must(t, err)
	equal(t, "messages", len(msgs), 2)
	equal(t, "first", msgs[0].ID, before.ID)
	equal(t, "second", msgs[1].ID, after.ID)

	// The consumers came back too: another instance's append reaches this one.
	other := open(t, opts)
	third := storage.Message{UserID: u, ChannelID: "c", Content: "third"}
	must(t, other.AppendMessage(ctx, &third, storage.AppendOptions{}))
	waitFor(t, 10*time.Second, "the other instance's append", func() bool {
		msgs, _, err := s.MessagesAfter(ctx, u, time.Time{}, 10)
		return err == nil && len(msgs) == 3
	})
}

// TestOpenWithNATSDown: Open returns at once, the store is not open and
// refuses calls until NATS comes up, then it is.
func TestOpenWithNATSDown(t *testing.T) {
	srv := natstest.NotStarted(t)
	start := time.Now()
	s := openAsync(t, jetstream.Options{URLs: srv.URL(), MaxReconnectWait: fastReconnect})
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Open took %s with NATS down", took)
	}
	equal(t, "open", s.Health().Open, false)
	_, err := s.User(ctx, "u")
	errorIs(t, err, storage.ErrUnavailable)

	srv.Restart()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	must(t, s.Wait(wctx))
	equal(t, "open", s.Health().Open, true)
	m := storage.Message{UserID: "u", ChannelID: "c", Content: "x"}
	must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{}))
}

// TestWrongRootKey: a store sealed under one root key refuses another, at
// Open, or (when NATS came up later) through Wait.
func TestWrongRootKey(t *testing.T) {
	srv := natstest.Start(t)
	prefix := newPrefix()
	s := open(t, jetstream.Options{URLs: srv.URL(), Prefix: prefix})
	must(t, s.Close())

	_, err := jetstream.Open(ctx, jetstream.Options{URLs: srv.URL(), Prefix: prefix, RootKey: testKey(t), Logger: natstest.Logger(t)})
	errorIs(t, err, seal.ErrWrongKey)

	srv.Stop()
	late := openAsync(t, jetstream.Options{URLs: srv.URL(), Prefix: prefix, MaxReconnectWait: fastReconnect})
	srv.Restart()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errorIs(t, late.Wait(wctx), seal.ErrWrongKey)
	_, err = late.User(ctx, "u")
	errorIs(t, err, seal.ErrWrongKey)
	equal(t, "open", late.Health().Open, false)
}

// TestMaxPayloadTooSmall: a NATS whose max_payload cannot hold the largest
// record is refused with a message that says what to set.
func TestMaxPayloadTooSmall(t *testing.T) {
	srv := natstest.Start(t, natstest.MaxPayload(1<<20))
	_, err := jetstream.Open(ctx, jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: testKey(t), Logger: natstest.Logger(t)})
	if err == nil || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("error = %v, want one about max_payload", err)
	}
}

// TestRotateRootKey: after a rotation the store opens with the new key,
// its secrets intact, and refuses the old one; a second run changes nothing.
func TestRotateRootKey(t *testing.T) {
	srv := natstest.Start(t)
	opts := jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: testKey(t), Logger: natstest.Logger(t)}
	s := open(t, opts)
	secret, err := s.Secret(ctx, "apikey_secret", func() ([]byte, error) { return []byte("s3cret"), nil })
	must(t, err)
	u := storage.User{ID: storage.NewID()}
	_, _, err = s.RegisterUser(ctx, u, []byte("h"))
	must(t, err)
	c := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Metadata: []byte(`{}`)}
	must(t, s.CreateChannel(ctx, &c, map[string][]byte{"botToken": []byte("123:abc")}))
	must(t, s.PutAdminSession(ctx, []byte("token-hash"), time.Now()))
	must(t, s.Close())

	next := testKey(t)
	n, err := jetstream.RotateRootKey(ctx, opts, opts.RootKey, next)
	must(t, err)
	equal(t, "re-wrapped", n, 4) // the check value, the secret, the bot token, the session
	n, err = jetstream.RotateRootKey(ctx, opts, opts.RootKey, next)
	must(t, err)
	equal(t, "re-wrapped again", n, 0)

	_, err = jetstream.Open(ctx, opts)
	errorIs(t, err, seal.ErrWrongKey)
	opts.RootKey = next
	s = open(t, opts)
	got, err := s.Secret(ctx, "apikey_secret", func() ([]byte, error) { return nil, nil })
	must(t, err)
	equal(t, "secret", string(got), string(secret))
	tok, err := s.ChannelSecret(ctx, "tg", "botToken")
	must(t, err)
	equal(t, "bot token", string(tok), "123:abc")
	_, err = s.AdminSession(ctx, []byte("token-hash"))
	must(t, err)
}

package jetstream_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// TestRetentionBehindKeptMessage: messages that expire behind one kept
// longer leave the stream itself, not only the index, sweep after sweep;
// an instance opened afterwards has the same messages and horizon.
func TestRetentionBehindKeptMessage(t *testing.T) {
	srv := natstest.Start(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := storagetest.NewClock(t0)
	opts := jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: testKey(t), Now: clock.Now}
	s := open(t, opts)
	u := storage.NewID()
	add := func(content string, retention time.Duration) storage.Message {
		m := storage.Message{UserID: u, ChannelType: storage.TypeWebhook, ChannelID: "c", Content: content}
		must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{Retention: retention}))
		return m
	}
	add("long", 5*time.Hour)
	add("plain-1", 0)
	add("short-1", time.Minute)
	add("plain-2", 0)
	newest := add("short-2", time.Minute)
	inStream := func() int { // the messages the user's log holds in JetStream
		n := 0
		for _, m := range dump(t, srv.URL(), opts.Prefix) {
			if m.subject == opts.Prefix+".m."+u && m.header.Get("Relay-Op") == "" {
				n++
			}
		}
		return n
	}
	contents := func(s *jetstream.Store) []string {
		msgs, _, err := s.MessagesAfter(ctx, u, time.Time{}, 10)
		must(t, err)
		var out []string
		for _, m := range msgs {
			out = append(out, m.Content)
		}
		return out
	}
	sweep := func(at time.Duration, want int) {
		t.Helper()
		res, err := s.Sweep(ctx, t0.Add(at), time.Hour, 2) // two entries per marker
		must(t, err)
		equal(t, "swept", res.Messages, want)
	}

	sweep(2*time.Minute, 2)
	equal(t, "read after the short retention", len(contents(s)), 3)
	equal(t, "messages in the stream after the short retention", inStream(), 3)
	sweep(2*time.Hour, 2)
	if got := contents(s); !slices.Equal(got, []string{"long"}) {
		t.Fatalf("read after the relay's retention: %v", got)
	}
	equal(t, "messages in the stream", inStream(), 1)
	sweep(6*time.Hour, 1)
	equal(t, "messages in the stream at the end", inStream(), 0)

	again := open(t, opts)
	for _, st := range []*jetstream.Store{s, again} {
		h, err := st.Horizon(ctx, u)
		must(t, err)
		equal(t, "horizon: the newest removed", h.Equal(newest.Timestamp), true)
		equal(t, "messages", len(contents(st)), 0)
	}
	clock.Set(t0) // behind every timestamp the log had
	next := storage.Message{UserID: u, ChannelID: "c", Content: "next"}
	must(t, again.AppendMessage(ctx, &next, storage.AppendOptions{}))
	equal(t, "after the horizon", next.Timestamp.After(newest.Timestamp), true)
}

// TestDeletedChannelForgetsKeys: a deleted channel's dedupe keys and
// accepted senders go with it, though its messages stay: a channel created
// again with its id accepts the key and does not know the sender.
func TestDeletedChannelForgetsKeys(t *testing.T) {
	srv := natstest.Start(t)
	s := open(t, jetstream.Options{URLs: srv.URL()})
	u := storage.User{ID: storage.NewID()}
	_, _, err := s.RegisterUser(ctx, u, []byte("hash"))
	must(t, err)
	create := func() {
		c := storage.Channel{ID: "mail", UserID: u.ID, Type: storage.TypeEmail, Address: "in@x.test", Metadata: json.RawMessage(`{}`)}
		must(t, s.CreateChannel(ctx, &c, nil))
	}
	appendKeyed := func() error {
		m := storage.Message{UserID: u.ID, ChannelType: storage.TypeEmail, ChannelID: "mail", Content: "x"}
		return s.AppendMessage(ctx, &m, storage.AppendOptions{DedupeKey: "svix-1", AcceptSender: "alice@x.test"})
	}
	accepted := func() bool {
		var ok bool
		r := storage.Response{UserID: u.ID, ChannelID: "mail", Content: "hi"}
		_, err := s.AppendResponse(ctx, &r, func(v storage.ChannelView) (storage.Delivery, error) {
			ok = v.Accepted("alice@x.test")
			return storage.Delivery{Status: storage.StatusStored}, nil
		})
		must(t, err)
		return ok
	}
	create()
	must(t, appendKeyed())
	errorIs(t, appendKeyed(), storage.ErrDuplicate)
	equal(t, "accepted", accepted(), true)

	must(t, s.DeleteChannel(ctx, u.ID, "mail"))
	_, err = s.PurgeDeleted(ctx, 100)
	must(t, err)
	create()
	equal(t, "accepted by the channel created again", accepted(), false)
	must(t, appendKeyed())
	msgs, _, err := s.MessagesAfter(ctx, u.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "messages of both channels", len(msgs), 2)
}

package jetstream_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// pair opens two instances of one store (same prefix and root key) on srv,
// as two relay processes would.
func pair(t *testing.T, srv *natstest.Server, onAppend ...func(string)) (*jetstream.Store, *jetstream.Store) {
	t.Helper()
	prefix, key := newPrefix(), testKey(t)
	stores := make([]*jetstream.Store, 2)
	for i := range stores {
		opts := jetstream.Options{URLs: srv.URL(), Prefix: prefix, RootKey: key}
		if i < len(onAppend) {
			opts.OnAppend = onAppend[i]
		}
		stores[i] = open(t, opts)
	}
	return stores[0], stores[1]
}

// TestInstances runs the tests of several instances on one store, on one
// shared server.
func TestInstances(t *testing.T) {
	srv := natstest.Start(t)
	t.Run("ConcurrentAppendsSameUsers", func(t *testing.T) { testConcurrentAppends(t, srv) })
	t.Run("ChangeFeed", func(t *testing.T) { testChangeFeed(t, srv) })
	t.Run("DedupeAcrossInstances", func(t *testing.T) { testDedupeAcross(t, srv) })
	t.Run("RecordsAcrossInstances", func(t *testing.T) { testRecordsAcross(t, srv) })
	t.Run("SweepAcrossInstances", func(t *testing.T) { testSweepAcross(t, srv) })
	t.Run("RepliesAcrossInstances", func(t *testing.T) { testRepliesAcross(t, srv) })
	t.Run("ConsumersMadeAgain", func(t *testing.T) { testConsumersMadeAgain(t, srv) })
}

// testConcurrentAppends: two instances append for the same users at once,
// while a poller on each follows every user with its cursor. No message is
// lost, every user's timestamps strictly increase, and every poller sees
// every message once, in order, with no gap.
func testConcurrentAppends(t *testing.T, srv *natstest.Server) {
	a, b := pair(t, srv)
	users := []string{storage.NewID(), storage.NewID(), storage.NewID()}
	const writers, each = 4, 25 // per instance
	stop := make(chan struct{})
	var polls sync.WaitGroup
	seen := make([]map[string][]storage.Message, 2) // per instance, per user: what its poller saw
	for i, s := range []*jetstream.Store{a, b} {
		seen[i] = map[string][]storage.Message{}
		polls.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, u := range users {
					var after time.Time
					if got := seen[i][u]; len(got) > 0 {
						after = got[len(got)-1].Timestamp
					}
					page, _, err := s.MessagesAfter(ctx, u, after, 7)
					if err != nil {
						t.Error(err)
						return
					}
					seen[i][u] = append(seen[i][u], page...)
				}
			}
		})
	}
	defer func() { // the pollers stop before the test returns, failed or not
		select {
		case <-stop:
		default:
			close(stop)
		}
		polls.Wait()
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*each)
	for i, s := range []*jetstream.Store{a, b} {
		for w := range writers {
			wg.Go(func() {
				for n := range each {
					m := storage.Message{UserID: users[(w+n)%len(users)], ChannelType: storage.TypeWebhook, ChannelID: "c",
						Content: fmt.Sprintf("%d-%d-%d", i, w, n)}
					errs <- s.AppendMessage(ctx, &m, storage.AppendOptions{})
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	total := func(s *jetstream.Store) int {
		n := 0
		for _, u := range users {
			msgs, more, err := s.MessagesAfter(ctx, u, time.Time{}, 1000)
			must(t, err)
			equal(t, "more", more, false)
			n += len(msgs)
		}
		return n
	}
	for _, s := range []*jetstream.Store{a, b} {
		waitFor(t, 5*time.Second, "every message on every instance", func() bool { return total(s) == 2*writers*each })
	}
	close(stop)
	polls.Wait()
	for _, u := range users {
		all, _, err := a.MessagesAfter(ctx, u, time.Time{}, 1000)
		must(t, err)
		contents := map[string]bool{}
		for i, m := range all {
			if i > 0 && !m.Timestamp.After(all[i-1].Timestamp) {
				t.Fatalf("user %s: timestamps not strictly increasing at %d", u, i)
			}
			if contents[m.Content] {
				t.Fatalf("duplicate %s", m.Content)
			}
			contents[m.Content] = true
		}
		for i := range seen {
			got := seen[i][u]
			// A poller may have stopped before the last messages reached it,
			// but what it saw is a gapless prefix, each message once.
			if len(got) > len(all) {
				t.Fatalf("poller %d saw %d messages of %d", i, len(got), len(all))
			}
			for j, m := range got {
				if m.ID != all[j].ID {
					t.Fatalf("poller %d, user %s: message %d is %s, want %s (skipped or reordered)", i, u, j, m.Content, all[j].Content)
				}
			}
		}
	}
}

// testChangeFeed: OnAppend fires on both instances for an append on either,
// and the other instance then reads the message from memory, without a
// direct get.
func testChangeFeed(t *testing.T, srv *natstest.Server) {
	var mu sync.Mutex
	fired := make([]map[string]int, 2)
	hook := func(i int) func(string) {
		fired[i] = map[string]int{}
		return func(user string) {
			mu.Lock()
			fired[i][user]++
			mu.Unlock()
		}
	}
	a, b := pair(t, srv, hook(0), hook(1))
	count := func(i int, user string) int {
		mu.Lock()
		defer mu.Unlock()
		return fired[i][user]
	}
	u := storage.NewID()
	spy := spyDirectGets(t, srv)
	m := storage.Message{UserID: u, ChannelID: "c", Content: "x"}
	must(t, a.AppendMessage(ctx, &m, storage.AppendOptions{}))
	equal(t, "fired on the appending instance before the append returned", count(0, u), 1)
	waitFor(t, 5*time.Second, "the other instance's feed", func() bool { return count(1, u) == 1 })
	msgs, _, err := b.MessagesAfter(ctx, u, time.Time{}, 10)
	must(t, err)
	equal(t, "readable where it fired", len(msgs), 1)
	equal(t, "content", msgs[0].Content, "x")
	spy.none(t, "the other instance's read of the message")
	m = storage.Message{UserID: u, ChannelID: "c", Content: "y"}
	must(t, b.AppendMessage(ctx, &m, storage.AppendOptions{}))
	waitFor(t, 5*time.Second, "both feeds", func() bool { return count(0, u) == 2 && count(1, u) == 2 })
}

// testDedupeAcrossInstances: a dedupe key stored through one instance
// refuses the repeat through the other, also when both race.
func testDedupeAcross(t *testing.T, srv *natstest.Server) {
	a, b := pair(t, srv)
	u := storage.NewID()
	m := storage.Message{UserID: u, ChannelID: "tg", Content: "hi"}
	must(t, a.AppendMessage(ctx, &m, storage.AppendOptions{DedupeKey: "u:1"}))
	again := storage.Message{UserID: u, ChannelID: "tg", Content: "hi"}
	errorIs(t, b.AppendMessage(ctx, &again, storage.AppendOptions{DedupeKey: "u:1"}), storage.ErrDuplicate)
	for k := range 10 {
		key := fmt.Sprint("race:", k)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*jetstream.Store{a, b} {
			wg.Go(func() {
				m := storage.Message{UserID: u, ChannelID: "tg", Content: key}
				errs[i] = s.AppendMessage(ctx, &m, storage.AppendOptions{DedupeKey: key})
			})
		}
		wg.Wait()
		stored := 0
		for _, err := range errs {
			if err == nil {
				stored++
			} else {
				errorIs(t, err, storage.ErrDuplicate)
			}
		}
		equal(t, "stored of a raced key", stored, 1)
	}
	msgs, _, err := a.MessagesAfter(ctx, u, time.Time{}, 100)
	must(t, err)
	equal(t, "messages", len(msgs), 11)
}

// testRecordsAcross: what one instance writes, the other reads at once
// (through the leader when its view is behind), and read-modify-writes from
// both lose nothing.
func testRecordsAcross(t *testing.T, srv *natstest.Server) {
	a, b := pair(t, srv)
	u := storage.User{ID: storage.NewID(), CreatedAt: time.Now().UTC(), PublicKey: &storage.PublicKey{X: "x", Y: "y"}}
	_, created, err := a.RegisterUser(ctx, u, []byte("hash"))
	must(t, err)
	equal(t, "created", created, true)
	got, err := b.UserByAPIKeyHash(ctx, []byte("hash"))
	must(t, err)
	equal(t, "user on the other instance", got.ID, u.ID)
	again, created, err := b.RegisterUser(ctx, storage.User{ID: storage.NewID(), PublicKey: &storage.PublicKey{X: "x", Y: "y"}}, []byte("other"))
	must(t, err)
	equal(t, "reclaimed on the other instance", created || again.ID != u.ID, false)

	c := storage.Channel{ID: "shared", UserID: u.ID, Type: storage.TypeWebhook, Metadata: json.RawMessage(`{"n":0}`)}
	must(t, a.CreateChannel(ctx, &c, nil))
	dup := c
	errorIs(t, b.CreateChannel(ctx, &dup, nil), storage.ErrConflict)
	const each = 10
	var wg sync.WaitGroup
	for _, s := range []*jetstream.Store{a, b} {
		wg.Go(func() {
			for range each {
				_, err := s.UpdateChannel(ctx, "shared", func(ch *storage.Channel) error {
					var meta struct{ N int }
					if err := json.Unmarshal(ch.Metadata, &meta); err != nil {
						return err
					}
					ch.Metadata = json.RawMessage(`{"n":` + strconv.Itoa(meta.N+1) + `}`)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, s := range []*jetstream.Store{a, b} {
		waitFor(t, 5*time.Second, "both updates everywhere", func() bool {
			ch, err := s.Channel(ctx, "shared")
			return err == nil && string(ch.Metadata) == fmt.Sprintf(`{"n":%d}`, 2*each)
		})
	}
	// Written through one, current through the other at once.
	for i := range 20 {
		want := `{"n":` + strconv.Itoa(-i) + `}`
		_, err := a.UpdateChannel(ctx, "shared", func(ch *storage.Channel) error { ch.Metadata = json.RawMessage(want); return nil })
		must(t, err)
		cur, err := b.CurrentChannel(ctx, "shared")
		must(t, err)
		equal(t, "the current channel on the other instance", string(cur.Metadata), want)
	}
	must(t, b.DeleteChannel(ctx, u.ID, "shared"))
	waitFor(t, 5*time.Second, "the deletion on the other instance", func() bool {
		_, err := a.Channel(ctx, "shared")
		return err != nil
	})
	_, err = a.Channel(ctx, "shared")
	errorIs(t, err, storage.ErrNotFound)
}

// testSweepAcross: both instances sweep at once and remove each message
// once; the sweep trims both indexes, and the next timestamps stay above
// what was swept.
func testSweepAcross(t *testing.T, srv *natstest.Server) {
	a, b := pair(t, srv)
	u := storage.NewID()
	var last storage.Message
	for range 3 {
		last = storage.Message{UserID: u, ChannelID: "c", Content: "x"}
		must(t, a.AppendMessage(ctx, &last, storage.AppendOptions{}))
	}
	waitFor(t, 5*time.Second, "b's index", func() bool {
		msgs, _, err := b.MessagesAfter(ctx, u, time.Time{}, 10)
		return err == nil && len(msgs) == 3
	})
	var wg sync.WaitGroup
	swept := make([]int, 2)
	for i, s := range []*jetstream.Store{a, b} {
		wg.Go(func() {
			res, err := s.Sweep(ctx, time.Now().Add(time.Hour), 0, 100)
			if err != nil {
				t.Error(err)
			}
			swept[i] = res.Messages
		})
	}
	wg.Wait()
	equal(t, "swept by both", swept[0]+swept[1], 3)
	waitFor(t, 5*time.Second, "b's index to be trimmed", func() bool {
		n, err := b.CountMessagesSince(ctx, time.Time{})
		return err == nil && n == 0
	})
	// A backlog cap counts what is left, on either instance.
	for range 2 {
		m := storage.Message{UserID: u, ChannelID: "c", Content: "y"}
		must(t, b.AppendMessage(ctx, &m, storage.AppendOptions{MaxBacklog: 2}))
		if !m.Timestamp.After(last.Timestamp) {
			t.Fatalf("timestamp %v not after the swept %v", m.Timestamp, last.Timestamp)
		}
		last = m
	}
	m := storage.Message{UserID: u, ChannelID: "c", Content: "z"}
	errorIs(t, a.AppendMessage(ctx, &m, storage.AppendOptions{MaxBacklog: 2}), storage.ErrInboxFull)
}

// testRepliesAcross: both instances reply on one channel at once (the
// channel's timestamps strictly increase, nothing is lost), and a pending
// reply accepted on one is delivered through the other.
func testRepliesAcross(t *testing.T, srv *natstest.Server) {
	a, b := pair(t, srv)
	u := storage.User{ID: storage.NewID(), CreatedAt: time.Now().UTC()}
	_, _, err := a.RegisterUser(ctx, u, []byte("h"))
	must(t, err)
	c := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Metadata: json.RawMessage(`{}`)}
	must(t, a.CreateChannel(ctx, &c, nil))
	const each = 10
	var wg sync.WaitGroup
	for i, s := range []*jetstream.Store{a, b} {
		wg.Go(func() {
			for n := range each {
				r := storage.Response{UserID: u.ID, ChannelID: "tg", From: "agent", Content: fmt.Sprint(i, "-", n)}
				_, err := s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
					return storage.Delivery{Status: storage.StatusPending}, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	all, _, err := a.ResponsesAfter(ctx, "tg", time.Time{}, 100)
	must(t, err)
	equal(t, "responses", len(all), 2*each)
	for i := 1; i < len(all); i++ {
		if !all[i].Timestamp.After(all[i-1].Timestamp) {
			t.Fatalf("response timestamps not increasing at %d", i)
		}
	}
	// The oldest is the head on both; b sends it, and a moves on.
	var head storage.PendingReply
	waitFor(t, 5*time.Second, "b's pending head", func() bool {
		heads, err := b.PendingHeads(ctx)
		if err != nil || len(heads) != 1 {
			return false
		}
		head = heads[0]
		return true
	})
	equal(t, "head", head.Response.ID, all[0].ID)
	equal(t, "head content", head.Response.Content, all[0].Content)
	_, err = b.UpdateDelivery(ctx, head.Delivery.ResponseID, func(d *storage.Delivery) error { d.Status = storage.StatusSent; return nil })
	must(t, err)
	waitFor(t, 5*time.Second, "a's next head", func() bool {
		heads, err := a.PendingHeads(ctx)
		return err == nil && len(heads) == 1 && heads[0].Response.ID == all[1].ID
	})
}

// testConsumersMadeAgain: when the consumers that instances follow the
// stream with are deleted under them, each makes its own again from where
// it was, and misses none of another instance's appends, those made while
// it had no consumer included.
func testConsumersMadeAgain(t *testing.T, srv *natstest.Server) {
	prefix, key := newPrefix(), testKey(t)
	a := open(t, jetstream.Options{URLs: srv.URL(), Prefix: prefix, RootKey: key})
	b := open(t, jetstream.Options{URLs: srv.URL(), Prefix: prefix, RootKey: key})
	stream := rawStream(t, srv.URL(), prefix)
	consumers := func() []string {
		var names []string
		for name := range stream.ConsumerNames(ctx).Name() {
			names = append(names, name)
		}
		return names
	}
	deleted := consumers()
	equal(t, "consumers, two per instance", len(deleted), 4)
	for _, name := range deleted {
		must(t, stream.DeleteConsumer(ctx, name))
	}

	u := storage.NewID()
	var sent []string
	for i := range 20 {
		m := storage.Message{UserID: u, ChannelID: "c", Content: strconv.Itoa(i)}
		must(t, a.AppendMessage(ctx, &m, storage.AppendOptions{}))
		sent = append(sent, m.ID)
	}
	var got []storage.Message
	waitFor(t, 10*time.Second, "every append on the other instance", func() bool {
		var err error
		got, _, err = b.MessagesAfter(ctx, u, time.Time{}, 100)
		return err == nil && len(got) == len(sent)
	})
	for i, m := range got {
		equal(t, "message "+strconv.Itoa(i), m.ID, sent[i])
	}
	waitFor(t, 10*time.Second, "four new consumers", func() bool {
		now := consumers()
		return len(now) == 4 && !slices.ContainsFunc(now, func(n string) bool { return slices.Contains(deleted, n) })
	})
}

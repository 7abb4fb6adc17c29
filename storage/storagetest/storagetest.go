// Package storagetest is the contract suite every storage.Store backend must
// pass. A backend's test calls Run with a function that opens a fresh, empty
// store on the given clock.
package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// Opener opens a fresh empty store whose clock is now. It registers the
// store's Close with t.Cleanup.
type Opener func(t *testing.T, now func() time.Time) storage.Store

// Clock is a settable test clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to t (backwards too).
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 11, 23, 10, 15, 30, 123_000_000, time.UTC)

// Run runs the whole contract against open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"SecretIsCreatedOnce", testSecretIsCreatedOnce},
		{"RegisterAndReclaim", testRegisterAndReclaim},
		{"MissingIsErrNotFound", testMissingIsErrNotFound},
		{"ChannelLifecycle", testChannelLifecycle},
		{"ChannelSecretsAreSealedAndDeleted", testChannelSecrets},
		{"AppendAssignsIncreasingTimestamps", testAppendIncreasing},
		{"TimestampsSurviveClockStepBack", testClockStepBack},
		{"MessagesAfterPaginates", testMessagesAfterPaginates},
		{"ConcurrentAppendsAreOrdered", testConcurrentAppends},
		{"BacklogCap", testBacklogCap},
		{"DedupeKey", testDedupe},
		{"ResponsesAndDeliveries", testResponses},
		{"DeleteFailsPendingAndPurgeReleasesID", testDeletePurge},
		{"SweepExpiresOldItems", testSweep},
		{"PendingHeadsInChannelOrder", testPendingHeads},
		{"Retention", testRetention},
		{"AdminSessions", testAdminSessions},
		{"AdminOverview", testAdminOverview},
		{"DeliveriesListing", testDeliveriesListing},
		{"DeleteUser", testDeleteUser},
		{"Browse", testBrowse},
		{"SecretsNeverBrowsed", testSecretsNeverBrowsed},
		{"EmailChannels", testEmailChannels},
		{"ChannelReadsFollowWrites", testChannelReadsFollowWrites},
		{"MessageByID", testMessageByID},
		{"DeliveryHistory", testDeliveryHistory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func errorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func newUser(t *testing.T, s storage.Store, key *storage.PublicKey) storage.User {
	t.Helper()
	u := storage.User{ID: storage.NewID(), CreatedAt: t0, PublicKey: key}
	got, created, err := s.RegisterUser(ctx, u, []byte("hash-"+u.ID))
	must(t, err)
	equal(t, "created", created, true)
	return got
}

func newChannel(t *testing.T, s storage.Store, userID, id, typ string) storage.Channel {
	t.Helper()
	c := storage.Channel{ID: id, UserID: userID, Type: typ, Direction: storage.DirectionInbound, Enabled: true,
		Metadata: json.RawMessage(`{"webhookSecret":"s"}`), CreatedAt: t0}
	must(t, s.CreateChannel(ctx, &c, nil))
	return c
}

func appendN(t *testing.T, s storage.Store, userID, channelID string, n int) []storage.Message {
	t.Helper()
	out := make([]storage.Message, n)
	for i := range n {
		m := storage.Message{UserID: userID, ChannelType: storage.TypeWebhook, ChannelID: channelID, From: "webhook",
			Content: fmt.Sprint(i), Metadata: json.RawMessage(`{"n":` + fmt.Sprint(i) + `}`)}
		must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{}))
		out[i] = m
	}
	return out
}

func testSecretIsCreatedOnce(t *testing.T, open Opener) {
	s := open(t, time.Now)
	calls := 0
	create := func() ([]byte, error) { calls++; return []byte("sekrit"), nil }
	a, err := s.Secret(ctx, "apikey", create)
	must(t, err)
	b, err := s.Secret(ctx, "apikey", create)
	must(t, err)
	equal(t, "value", string(b), string(a))
	equal(t, "create calls", calls, 1)
	_, err = s.Secret(ctx, "broken", func() ([]byte, error) { return nil, errors.New("boom") })
	if err == nil {
		t.Fatal("a failing create must fail Secret")
	}
}

func testRegisterAndReclaim(t *testing.T, open Opener) {
	s := open(t, time.Now)
	key := &storage.PublicKey{X: "x1", Y: "y1"}
	u := newUser(t, s, key)
	got, err := s.UserByAPIKeyHash(ctx, []byte("hash-"+u.ID))
	must(t, err)
	equal(t, "id", got.ID, u.ID)
	equal(t, "key", got.PublicKey.Fingerprint(), "x1:y1")
	equal(t, "createdAt", got.CreatedAt.Equal(t0), true)

	again, created, err := s.RegisterUser(ctx, storage.User{ID: storage.NewID(), CreatedAt: t0, PublicKey: &storage.PublicKey{X: "x1", Y: "y1"}}, []byte("other"))
	must(t, err)
	equal(t, "created", created, false)
	equal(t, "reclaimed id", again.ID, u.ID)
	_, err = s.UserByAPIKeyHash(ctx, []byte("other"))
	errorIs(t, err, storage.ErrNotFound) // reclaim stores nothing

	legacy := newUser(t, s, nil)
	got, err = s.User(ctx, legacy.ID)
	must(t, err)
	equal(t, "legacy key", got.PublicKey == nil, true)
}

func testMissingIsErrNotFound(t *testing.T, open Opener) {
	s := open(t, time.Now)
	_, err := s.User(ctx, "nope")
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.UserByAPIKeyHash(ctx, []byte("nope"))
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.Channel(ctx, "nope")
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.UpdateChannel(ctx, "nope", func(*storage.Channel) error { return nil })
	errorIs(t, err, storage.ErrNotFound)
	errorIs(t, s.DeleteChannel(ctx, "u", "nope"), storage.ErrNotFound)
	_, err = s.ChannelSecret(ctx, "nope", "botToken")
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.Delivery(ctx, "nope")
	errorIs(t, err, storage.ErrNotFound)
	_, _, err = s.ResponsesAfter(ctx, "nope", time.Time{}, 10)
	errorIs(t, err, storage.ErrNotFound)
	msgs, more, err := s.MessagesAfter(ctx, "nope", time.Time{}, 10)
	must(t, err)
	equal(t, "messages", len(msgs), 0)
	equal(t, "hasMore", more, false)
	chans, err := s.Channels(ctx, "nope")
	must(t, err)
	equal(t, "channels non-nil", chans != nil, true)
}

func testChannelLifecycle(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	other := newUser(t, s, nil)
	a := newChannel(t, s, u.ID, "a", storage.TypeWebhook)
	newChannel(t, s, other.ID, "theirs", storage.TypeWebhook)
	b := newChannel(t, s, u.ID, "b", storage.TypeTelegram)
	c := newChannel(t, s, u.ID, "c", storage.TypeWebhook)
	if !(a.Seq < b.Seq && b.Seq < c.Seq) {
		t.Fatalf("sequences not increasing: %d %d %d", a.Seq, b.Seq, c.Seq)
	}
	dup := storage.Channel{ID: "a", UserID: other.ID, Type: storage.TypeWebhook, Metadata: json.RawMessage(`{}`)}
	errorIs(t, s.CreateChannel(ctx, &dup, nil), storage.ErrConflict)

	upd, err := s.UpdateChannel(ctx, "a", func(ch *storage.Channel) error {
		ch.Name, ch.Enabled = "renamed", false
		return nil
	})
	must(t, err)
	equal(t, "name", upd.Name, "renamed")
	boom := errors.New("refused")
	_, err = s.UpdateChannel(ctx, "a", func(ch *storage.Channel) error { ch.Name = "lost"; return boom })
	errorIs(t, err, boom)

	list, err := s.Channels(ctx, u.ID)
	must(t, err)
	equal(t, "count", len(list), 3)
	tgs, err := s.ChannelsOfType(ctx, storage.TypeTelegram)
	must(t, err)
	equal(t, "of type", len(tgs), 1)
	equal(t, "of type id", tgs[0].ID, "b")
	for i, id := range []string{"a", "b", "c"} { // updates keep the position
		equal(t, "order", list[i].ID, id)
	}
	equal(t, "updated name", list[0].Name, "renamed")
	equal(t, "updated enabled", list[0].Enabled, false)
	equal(t, "metadata", string(list[1].Metadata), `{"webhookSecret":"s"}`)

	errorIs(t, s.DeleteChannel(ctx, other.ID, "b"), storage.ErrNotFound) // not theirs
	must(t, s.DeleteChannel(ctx, u.ID, "b"))
	_, err = s.Channel(ctx, "b")
	errorIs(t, err, storage.ErrNotFound)
	list, err = s.Channels(ctx, u.ID)
	must(t, err)
	equal(t, "count after delete", len(list), 2)
	equal(t, "first", list[0].ID, "a")
	equal(t, "second", list[1].ID, "c")
}

func testChannelSecrets(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	c := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &c, map[string][]byte{"botToken": []byte("123:abc")}))
	tok, err := s.ChannelSecret(ctx, "tg", "botToken")
	must(t, err)
	equal(t, "token", string(tok), "123:abc")
	_, err = s.ChannelSecret(ctx, "tg", "other")
	errorIs(t, err, storage.ErrNotFound)
	must(t, s.DeleteChannel(ctx, u.ID, "tg"))
	_, err = s.ChannelSecret(ctx, "tg", "botToken")
	errorIs(t, err, storage.ErrNotFound)
}

func testAppendIncreasing(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	msgs := appendN(t, s, u.ID, "c", 3) // frozen clock: +1 ms each
	for i, m := range msgs {
		want := t0.Add(time.Duration(i) * time.Millisecond)
		equal(t, "timestamp", m.Timestamp.Equal(want), true)
		equal(t, "uuid version", m.ID[14], byte('7'))
		ms := want.UnixMilli()
		equal(t, "uuid time", m.ID[:8]+m.ID[9:13], fmt.Sprintf("%012x", ms))
	}
	clock.Add(time.Second)
	m := appendN(t, s, u.ID, "c", 1)[0]
	equal(t, "clock moved on", m.Timestamp.Equal(t0.Add(time.Second)), true)
	// Another user's stream is independent.
	v := newUser(t, s, nil)
	clock.Set(t0)
	equal(t, "other stream", appendN(t, s, v.ID, "d", 1)[0].Timestamp.Equal(t0), true)
}

func testClockStepBack(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	first := appendN(t, s, u.ID, "c", 1)[0]
	clock.Set(t0.Add(-time.Hour))
	second := appendN(t, s, u.ID, "c", 1)[0]
	equal(t, "after step back", second.Timestamp.Equal(first.Timestamp.Add(time.Millisecond)), true)
	// Retention must not reset the stream: sweep everything, append again.
	clock.Set(t0.Add(-2 * time.Hour))
	_, err := s.Sweep(ctx, t0.Add(time.Hour), 0, 1000)
	must(t, err)
	third := appendN(t, s, u.ID, "c", 1)[0]
	equal(t, "after sweep", third.Timestamp.Equal(second.Timestamp.Add(time.Millisecond)), true)
}

func testMessagesAfterPaginates(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	other := newUser(t, s, nil)
	msgs := appendN(t, s, u.ID, "c", 7)
	appendN(t, s, other.ID, "d", 3)

	var got []storage.Message
	after := time.Time{}
	for range 10 {
		page, more, err := s.MessagesAfter(ctx, u.ID, after, 3)
		must(t, err)
		got = append(got, page...)
		if len(page) > 0 {
			after = page[len(page)-1].Timestamp
		}
		if !more {
			break
		}
		equal(t, "full page when more", len(page), 3)
	}
	equal(t, "all seen", len(got), len(msgs))
	for i := range msgs {
		equal(t, "id", got[i].ID, msgs[i].ID)
		equal(t, "userId", got[i].UserID, u.ID)
		equal(t, "content", got[i].Content, msgs[i].Content)
		equal(t, "metadata", string(got[i].Metadata), fmt.Sprintf(`{"n":%d}`, i))
		equal(t, "channelId", got[i].ChannelID, "c")
	}
	// Strictly later: sub-millisecond precision truncates toward the past.
	page, _, err := s.MessagesAfter(ctx, u.ID, msgs[2].Timestamp.Add(999*time.Microsecond), 100)
	must(t, err)
	equal(t, "after third", len(page), 4)
	equal(t, "first after third", page[0].ID, msgs[3].ID)
	page, more, err := s.MessagesAfter(ctx, u.ID, msgs[6].Timestamp, 100)
	must(t, err)
	equal(t, "after last", len(page), 0)
	equal(t, "more after last", more, false)
	page, _, err = s.MessagesAfter(ctx, u.ID, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 100)
	must(t, err)
	equal(t, "before epoch", len(page), 7)
}

func testConcurrentAppends(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := storage.Message{UserID: u.ID, ChannelType: storage.TypeWebhook, ChannelID: "c", Content: fmt.Sprintf("%d-%d", w, i)}
				errs <- s.AppendMessage(ctx, &m, storage.AppendOptions{})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	msgs, more, err := s.MessagesAfter(ctx, u.ID, time.Time{}, 1000)
	must(t, err)
	equal(t, "more", more, false)
	equal(t, "count", len(msgs), writers*each)
	seen := map[string]bool{}
	for i, m := range msgs {
		if i > 0 && !m.Timestamp.After(msgs[i-1].Timestamp) {
			t.Fatalf("timestamps not strictly increasing at %d", i)
		}
		if seen[m.Content] {
			t.Fatalf("duplicate %s", m.Content)
		}
		seen[m.Content] = true
	}
}

func testBacklogCap(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	opts := storage.AppendOptions{MaxBacklog: 2}
	for range 2 {
		m := storage.Message{UserID: u.ID, ChannelID: "c", Content: "x"}
		must(t, s.AppendMessage(ctx, &m, opts))
	}
	m := storage.Message{UserID: u.ID, ChannelID: "c", Content: "x"}
	errorIs(t, s.AppendMessage(ctx, &m, opts), storage.ErrInboxFull)
	equal(t, "no id on refusal", m.ID, "")
	msgs, _, err := s.MessagesAfter(ctx, u.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "stored", len(msgs), 2)
	// Expiry frees room.
	clock.Add(time.Hour)
	res, err := s.Sweep(ctx, t0.Add(time.Minute), 0, 1000)
	must(t, err)
	equal(t, "swept", res.Messages, 2)
	must(t, s.AppendMessage(ctx, &m, opts))
}

func testDedupe(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	m := storage.Message{UserID: u.ID, ChannelID: "tg", Content: "hi"}
	must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{DedupeKey: "u:5001"}))
	again := storage.Message{UserID: u.ID, ChannelID: "tg", Content: "hi"}
	errorIs(t, s.AppendMessage(ctx, &again, storage.AppendOptions{DedupeKey: "u:5001"}), storage.ErrDuplicate)
	otherChannel := storage.Message{UserID: u.ID, ChannelID: "tg2", Content: "hi"}
	must(t, s.AppendMessage(ctx, &otherChannel, storage.AppendOptions{DedupeKey: "u:5001"}))
	msgs, _, err := s.MessagesAfter(ctx, u.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "stored", len(msgs), 2)
}

func stored(storage.ChannelView) (storage.Delivery, error) {
	return storage.Delivery{Status: storage.StatusStored}, nil
}

func testResponses(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	other := newUser(t, s, nil)
	newChannel(t, s, u.ID, "wh", storage.TypeWebhook)
	tg := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &tg, map[string][]byte{"botToken": []byte("t")}))
	// The reply target comes from inbound traffic.
	in := storage.Message{UserID: u.ID, ChannelType: storage.TypeTelegram, ChannelID: "tg", Content: "hi"}
	must(t, s.AppendMessage(ctx, &in, storage.AppendOptions{ReplyTarget: "200"}))
	target, err := s.ReplyTarget(ctx, "tg")
	must(t, err)
	equal(t, "reply target", target, "200")
	_, err = s.ReplyTarget(ctx, "nope")
	errorIs(t, err, storage.ErrNotFound)

	var ids []string
	for i := range 3 {
		r := storage.Response{UserID: u.ID, ChannelID: "wh", From: "agent", Content: fmt.Sprint(i), Metadata: json.RawMessage(`{"replyTo":"x"}`)}
		d, err := s.AppendResponse(ctx, &r, stored)
		must(t, err)
		equal(t, "status", d.Status, storage.StatusStored)
		equal(t, "delivery id", d.ResponseID, r.ID)
		equal(t, "type from channel", r.ChannelType, storage.TypeWebhook)
		equal(t, "timestamp", r.Timestamp.Equal(t0.Add(time.Duration(i)*time.Millisecond)), true)
		ids = append(ids, r.ID)
	}
	page, more, err := s.ResponsesAfter(ctx, "wh", time.Time{}, 2)
	must(t, err)
	equal(t, "page", len(page), 2)
	equal(t, "more", more, true)
	page, more, err = s.ResponsesAfter(ctx, "wh", page[1].Timestamp, 2)
	must(t, err)
	equal(t, "rest", len(page), 1)
	equal(t, "more", more, false)
	equal(t, "id", page[0].ID, ids[2])
	equal(t, "metadata", string(page[0].Metadata), `{"replyTo":"x"}`)

	var seen storage.ChannelView
	r := storage.Response{UserID: u.ID, ChannelID: "tg", From: "agent", Content: "hello"}
	d, err := s.AppendResponse(ctx, &r, func(v storage.ChannelView) (storage.Delivery, error) {
		seen = v
		return storage.Delivery{Status: storage.StatusPending, Target: v.ReplyTarget, PartsTotal: 1}, nil
	})
	must(t, err)
	equal(t, "view target", seen.ReplyTarget, "200")
	equal(t, "view secret", seen.HasSecret("botToken"), true)
	equal(t, "view type", seen.Channel.Type, storage.TypeTelegram)
	got, err := s.Delivery(ctx, r.ID)
	must(t, err)
	equal(t, "pending", got.Status, storage.StatusPending)
	equal(t, "target", got.Target, d.Target)
	equal(t, "channel", got.ChannelID, "tg")
	equal(t, "user", got.UserID, u.ID)

	// Another user's channel is not found, and decide's error aborts.
	r = storage.Response{UserID: other.ID, ChannelID: "wh", Content: "x"}
	_, err = s.AppendResponse(ctx, &r, stored)
	errorIs(t, err, storage.ErrNotFound)
	refuse := errors.New("refused")
	r = storage.Response{UserID: u.ID, ChannelID: "wh", Content: "x"}
	_, err = s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) { return storage.Delivery{}, refuse })
	errorIs(t, err, refuse)
	page, _, err = s.ResponsesAfter(ctx, "wh", time.Time{}, 10)
	must(t, err)
	equal(t, "nothing stored by failures", len(page), 3)
}

func testDeletePurge(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	tg := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &tg, nil))
	var ids []string
	for range 5 {
		r := storage.Response{UserID: u.ID, ChannelID: "tg", Content: "x"}
		_, err := s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
			return storage.Delivery{Status: storage.StatusPending}, nil
		})
		must(t, err)
		ids = append(ids, r.ID)
	}
	must(t, s.DeleteChannel(ctx, u.ID, "tg"))
	for _, id := range ids {
		d, err := s.Delivery(ctx, id)
		must(t, err)
		equal(t, "status", d.Status, storage.StatusFailed)
		equal(t, "lastError", d.LastError, "channel deleted")
	}
	_, _, err := s.ResponsesAfter(ctx, "tg", time.Time{}, 10)
	errorIs(t, err, storage.ErrNotFound)
	again := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeWebhook, Metadata: json.RawMessage(`{}`)}
	errorIs(t, s.CreateChannel(ctx, &again, nil), storage.ErrConflict) // held until purged
	n, err := s.PurgeDeleted(ctx, 2)                                   // several batches
	must(t, err)
	equal(t, "purged", n, 5)
	_, err = s.Delivery(ctx, ids[0])
	errorIs(t, err, storage.ErrNotFound)
	must(t, s.CreateChannel(ctx, &again, nil))
	page, _, err := s.ResponsesAfter(ctx, "tg", time.Time{}, 10)
	must(t, err)
	equal(t, "fresh channel has no responses", len(page), 0)
}

func testSweep(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	users := []storage.User{newUser(t, s, nil), newUser(t, s, nil), newUser(t, s, nil)}
	for _, u := range users {
		appendN(t, s, u.ID, "c", 4)
	}
	newChannel(t, s, users[0].ID, "wh", storage.TypeWebhook)
	tg := storage.Channel{ID: "tg", UserID: users[0].ID, Type: storage.TypeTelegram, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &tg, nil))
	for range 3 {
		r := storage.Response{UserID: users[0].ID, ChannelID: "wh", Content: "x"}
		_, err := s.AppendResponse(ctx, &r, stored)
		must(t, err)
	}
	pending := storage.Response{UserID: users[0].ID, ChannelID: "tg", Content: "x"}
	_, err := s.AppendResponse(ctx, &pending, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending}, nil
	})
	must(t, err)

	clock.Add(time.Hour)
	recent := appendN(t, s, users[1].ID, "c", 2)
	res, err := s.Sweep(ctx, t0.Add(30*time.Minute), 0, 5) // batches smaller than the work
	must(t, err)
	equal(t, "messages swept", res.Messages, 12)
	equal(t, "responses swept", res.Responses, 3)
	msgs, _, err := s.MessagesAfter(ctx, users[1].ID, time.Time{}, 100)
	must(t, err)
	equal(t, "recent kept", len(msgs), 2)
	equal(t, "recent id", msgs[0].ID, recent[0].ID)
	page, _, err := s.ResponsesAfter(ctx, "tg", time.Time{}, 10)
	must(t, err)
	equal(t, "pending response kept", len(page), 1)
	// The backlog count follows the sweep.
	for range 3 {
		m := storage.Message{UserID: users[1].ID, ChannelID: "c"}
		must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{MaxBacklog: 5}))
	}
	m := storage.Message{UserID: users[1].ID, ChannelID: "c"}
	errorIs(t, s.AppendMessage(ctx, &m, storage.AppendOptions{MaxBacklog: 5}), storage.ErrInboxFull)
}

func testPendingHeads(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	pending := func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending, Target: "42"}, nil
	}
	ids := map[string][]string{}
	for _, ch := range []string{"a", "b"} {
		c := storage.Channel{ID: ch, UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
		must(t, s.CreateChannel(ctx, &c, nil))
		for i := range 3 {
			r := storage.Response{UserID: u.ID, ChannelID: ch, From: "agent", Content: fmt.Sprintf("%s%d", ch, i)}
			_, err := s.AppendResponse(ctx, &r, pending)
			must(t, err)
			ids[ch] = append(ids[ch], r.ID)
		}
	}
	heads, err := s.PendingHeads(ctx)
	must(t, err)
	equal(t, "heads", len(heads), 2)
	equal(t, "head a", heads[0].Delivery.ResponseID, ids["a"][0])
	equal(t, "head a content", heads[0].Response.Content, "a0")
	equal(t, "head b", heads[1].Delivery.ResponseID, ids["b"][0])
	equal(t, "head b channel", heads[1].Response.ChannelID, "b")

	// A part sent keeps it pending; success moves the head on.
	d, err := s.UpdateDelivery(ctx, ids["a"][0], func(d *storage.Delivery) error { d.PartsSent, d.PartsTotal = 1, 2; return nil })
	must(t, err)
	equal(t, "parts", d.PartsSent, 1)
	heads, err = s.PendingHeads(ctx)
	must(t, err)
	equal(t, "still head", heads[0].Delivery.PartsSent, 1)
	_, err = s.UpdateDelivery(ctx, ids["a"][0], func(d *storage.Delivery) error { d.Status = storage.StatusSent; return nil })
	must(t, err)
	heads, err = s.PendingHeads(ctx)
	must(t, err)
	equal(t, "next head", heads[0].Delivery.ResponseID, ids["a"][1])

	// A failed delivery retried goes back in order, ahead of later ones.
	_, err = s.UpdateDelivery(ctx, ids["b"][0], func(d *storage.Delivery) error { d.Status = storage.StatusFailed; return nil })
	must(t, err)
	heads, err = s.PendingHeads(ctx)
	must(t, err)
	equal(t, "b moved on", heads[1].Delivery.ResponseID, ids["b"][1])
	_, err = s.UpdateDelivery(ctx, ids["b"][0], func(d *storage.Delivery) error { d.Status = storage.StatusPending; return nil })
	must(t, err)
	heads, err = s.PendingHeads(ctx)
	must(t, err)
	equal(t, "b retried is head again", heads[1].Delivery.ResponseID, ids["b"][0])

	// One channel's head, as PendingHeads gives it.
	head, err := s.PendingHead(ctx, "b")
	must(t, err)
	equal(t, "head of b", head.Delivery.ResponseID, ids["b"][0])
	equal(t, "head of b content", head.Response.Content, "b0")
	equal(t, "head of b channel", head.Channel.ID, "b")
	for _, id := range ids["b"] {
		_, err = s.UpdateDelivery(ctx, id, func(d *storage.Delivery) error { d.Status = storage.StatusSent; return nil })
		must(t, err)
	}
	_, err = s.PendingHead(ctx, "b")
	errorIs(t, err, storage.ErrNotFound)

	_, err = s.UpdateDelivery(ctx, "nope", func(*storage.Delivery) error { return nil })
	errorIs(t, err, storage.ErrNotFound)
}

// testRetention: messages stored with a retention of their own go when it
// ends, the others with the relay's retention; a channel's responses go with
// its own retention; each user's horizon is the newest timestamp deleted.
func testRetention(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	quiet := newUser(t, s, nil)
	long := storage.Channel{ID: "long", UserID: u.ID, Type: storage.TypeWebhook, Enabled: true,
		Metadata: json.RawMessage(`{}`), Retention: 5 * time.Hour}
	must(t, s.CreateChannel(ctx, &long, nil))
	newChannel(t, s, u.ID, "short", storage.TypeWebhook)
	newChannel(t, s, u.ID, "plain", storage.TypeWebhook)
	appendWith := func(channelID string, retention time.Duration) storage.Message {
		m := storage.Message{UserID: u.ID, ChannelType: storage.TypeWebhook, ChannelID: channelID, Content: channelID}
		must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{Retention: retention}))
		return m
	}
	plain, short, kept := appendWith("plain", 0), appendWith("short", time.Minute), appendWith("long", 5*time.Hour)
	contents := func() string {
		msgs, _, err := s.MessagesAfter(ctx, u.ID, time.Time{}, 10)
		must(t, err)
		var out []string
		for _, m := range msgs {
			out = append(out, m.Content)
		}
		return strings.Join(out, ",")
	}
	horizon := func(userID string) time.Time {
		h, err := s.Horizon(ctx, userID)
		must(t, err)
		return h
	}
	equal(t, "no horizon yet", horizon(u.ID).IsZero(), true)

	res, err := s.Sweep(ctx, t0.Add(2*time.Minute), time.Hour, 1000)
	must(t, err)
	equal(t, "expired", res.Messages, 1)
	equal(t, "after the short retention", contents(), "plain,long")
	equal(t, "horizon", horizon(u.ID).Equal(short.Timestamp), true)

	res, err = s.Sweep(ctx, t0.Add(2*time.Hour), time.Hour, 1000)
	must(t, err)
	equal(t, "past the relay's retention", res.Messages, 1)
	equal(t, "after the relay's retention", contents(), "long")
	equal(t, "horizon: the newest deleted", horizon(u.ID).Equal(short.Timestamp), true)
	equal(t, "deleted before", plain.Timestamp.Before(short.Timestamp), true)

	_, err = s.Sweep(ctx, t0.Add(6*time.Hour), time.Hour, 1000)
	must(t, err)
	equal(t, "after the long retention", contents(), "")
	equal(t, "horizon moved", horizon(u.ID).Equal(kept.Timestamp), true)
	equal(t, "another user's horizon", horizon(quiet.ID).IsZero(), true)
	// New messages keep increasing after every sweep.
	next := appendWith("plain", 0)
	equal(t, "after the sweeps", next.Timestamp.After(kept.Timestamp), true)

	// Responses go with their channel's retention.
	clock.Set(t0.Add(7 * time.Hour))
	for _, ch := range []string{"long", "plain"} {
		r := storage.Response{UserID: u.ID, ChannelID: ch, From: "agent", Content: ch}
		_, err := s.AppendResponse(ctx, &r, stored)
		must(t, err)
	}
	res, err = s.Sweep(ctx, t0.Add(9*time.Hour), time.Hour, 1000)
	must(t, err)
	equal(t, "responses past the relay's retention", res.Responses, 1)
	kept2, _, err := s.ResponsesAfter(ctx, "long", time.Time{}, 10)
	must(t, err)
	equal(t, "the long channel's response", len(kept2), 1)
}

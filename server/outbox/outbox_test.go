package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
	"github.com/prometheus/client_golang/prometheus"
)

// countingStore is the real store with a count of the outbox's reads.
type countingStore struct {
	storage.Store
	heads, head atomic.Int64
}

func (c *countingStore) PendingHeads(ctx context.Context) ([]storage.PendingReply, error) {
	c.heads.Add(1)
	return c.Store.PendingHeads(ctx)
}

func (c *countingStore) PendingHead(ctx context.Context, channelID string) (storage.PendingReply, error) {
	c.head.Add(1)
	return c.Store.PendingHead(ctx, channelID)
}

// sender is a platform that accepts every part, or fails with err.
type sender struct {
	mu   sync.Mutex
	err  error
	sent map[string][]string // channel → texts in order
	n    chan struct{}       // one per accepted part
}

func newSender() *sender { return &sender{sent: map[string][]string{}, n: make(chan struct{}, 10_000)} }

func (s *sender) MaxPartUnits() int { return 0 }

func (s *sender) Send(_ context.Context, p channels.Part, _ channels.Credentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.sent[p.ChannelID] = append(s.sent[p.ChannelID], p.Text)
	s.n <- struct{}{}
	return nil
}

func openStore(t *testing.T) storage.Store {
	t.Helper()
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a user with telegram channels.
func fixture(t *testing.T, st storage.Store, channelIDs ...string) storage.User {
	t.Helper()
	ctx := context.Background()
	u := storage.User{ID: storage.NewID(), CreatedAt: time.Now()}
	if _, _, err := st.RegisterUser(ctx, u, []byte("hash-"+u.ID)); err != nil {
		t.Fatal(err)
	}
	for _, id := range channelIDs {
		ch := storage.Channel{ID: id, UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
		if err := st.CreateChannel(ctx, &ch, nil); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// reply commits a pending reply the way the server does.
func reply(t *testing.T, st storage.Store, userID, channelID, text string) storage.Delivery {
	t.Helper()
	r := storage.Response{UserID: userID, ChannelID: channelID, Content: text}
	d, err := st.AppendResponse(context.Background(), &r, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending, Target: "42"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run starts o until the test ends.
func run(t *testing.T, o *Outbox) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestOneWorkerPerWakeAndNoRescans: replies accepted while the outbox runs
// are delivered in per-channel order, each accepted reply costs one read of
// its channel's head, and no worker reads every pending head again: only the
// start does (before, every release woke every worker and each rescanned).
func TestOneWorkerPerWakeAndNoRescans(t *testing.T) {
	st := &countingStore{Store: openStore(t)}
	chans := []string{"a", "b", "c", "d", "e"}
	u := fixture(t, st, chans...)
	snd := newSender()
	o := New(Config{Workers: 4, MaxAttempts: 3, MaxAge: time.Hour, MaxBackoff: time.Millisecond}, st,
		map[string]channels.Sender{storage.TypeTelegram: snd}, Options{Log: discard})
	run(t, o)
	const perChannel = 20
	for i := range perChannel {
		for _, ch := range chans {
			d := reply(t, st, u.ID, ch, fmt.Sprintf("%s%02d", ch, i))
			o.Accepted(d)
		}
	}
	for range perChannel * len(chans) {
		select {
		case <-snd.n:
		case <-time.After(10 * time.Second):
			t.Fatal("replies not delivered")
		}
	}
	snd.mu.Lock()
	defer snd.mu.Unlock()
	for _, ch := range chans {
		for i, text := range snd.sent[ch] {
			if want := fmt.Sprintf("%s%02d", ch, i); text != want {
				t.Fatalf("channel %s reply %d = %q, want %q (order)", ch, i, text, want)
			}
		}
	}
	if n := st.heads.Load(); n != 1 {
		t.Errorf("PendingHeads read %d times, want once (the start)", n)
	}
	// A head is read after each accepted reply and after each attempt, at most.
	if n, most := st.head.Load(), int64(2*perChannel*len(chans)); n > most {
		t.Errorf("PendingHead read %d times for %d replies, want at most %d", n, perChannel*len(chans), most)
	}
}

// TestOutageCostsNoScans: while a platform fails every attempt with a long
// retry hint, queued replies wait in the index; nothing is read again until
// one falls due.
func TestOutageCostsNoScans(t *testing.T) {
	st := &countingStore{Store: openStore(t)}
	var chans []string
	for i := range 50 {
		chans = append(chans, fmt.Sprintf("ch%02d", i))
	}
	u := fixture(t, st, chans...)
	for _, ch := range chans {
		for i := range 3 {
			reply(t, st, u.ID, ch, fmt.Sprint(i))
		}
	}
	snd := newSender()
	snd.err = &channels.RetryAfterError{After: time.Hour, Err: errors.New("platform down")}
	o := New(Config{Workers: 4, MaxAttempts: 100, MaxAge: 48 * time.Hour, MaxBackoff: time.Millisecond}, st,
		map[string]channels.Sender{storage.TypeTelegram: snd}, Options{Log: discard})
	run(t, o)
	// Each channel's head is attempted once and rescheduled an hour ahead.
	waitFor(t, func() bool {
		heads, err := st.Store.PendingHeads(context.Background())
		if err != nil {
			return false
		}
		for _, h := range heads {
			if h.Delivery.Attempts != 1 {
				return false
			}
		}
		return len(heads) == len(chans)
	})
	// Every worker is idle until the first head falls due in an hour.
	waitFor(t, o.queue.idle)
	if n := st.heads.Load(); n != 1 {
		t.Errorf("PendingHeads read %d times during the outage, want once (the start)", n)
	}
	job, wait, _ := o.queue.claim(time.Now(), 2*time.Hour)
	if job != nil || wait < 50*time.Minute {
		t.Errorf("next claim = %v after %v, want nothing due for about an hour", job, wait)
	}
}

// TestClaimReadsTheCommittedRecord: a worker claims from a head read before
// another worker attempted the same reply. It must go by the record as
// committed, or it sends an accepted part again.
func TestClaimReadsTheCommittedRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	u := fixture(t, st, "tg")
	d := reply(t, st, u.ID, "tg", "aaaa bbbb cccc")
	snd := newSender()
	o := New(DefaultConfig(), st, map[string]channels.Sender{storage.TypeTelegram: snd}, Options{Log: discard})
	stale, err := st.PendingHeads(ctx)
	if err != nil || len(stale) != 1 {
		t.Fatalf("heads %v, %v", stale, err)
	}
	// Another worker's attempt: the first part is accepted, the second fails
	// and is scheduled for later.
	_, err = st.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.PartsSent, rec.PartsTotal, rec.Attempts = 1, 3, 1
		rec.NextAttemptAt = time.Now().Add(time.Hour).UTC()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	job := stale[0]
	o.attemptClaimed(ctx, &job)
	if len(snd.sent["tg"]) != 0 {
		t.Fatalf("attempted a reply that is not due, from a stale head: sent %q", snd.sent["tg"])
	}
	// Due again: the attempt starts from the committed progress.
	_, err = st.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.NextAttemptAt = time.Time{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o.attemptClaimed(ctx, &job)
	got, err := st.Delivery(ctx, d.ResponseID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.StatusSent || got.Attempts != 2 {
		t.Fatalf("delivery = %+v, want sent on the second attempt", got)
	}
}

// TestRetryOnlyFailed: Retry makes a failed delivery pending and refuses
// any other with a conflict.
func TestRetryOnlyFailed(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	u := fixture(t, st, "tg")
	d := reply(t, st, u.ID, "tg", "x")
	o := New(DefaultConfig(), st, nil, Options{Log: discard})
	if _, err := o.Retry(ctx, d.ResponseID); !errors.Is(err, ErrNotRetryable) || !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("retry of a pending delivery: %v, want ErrNotRetryable (a conflict)", err)
	}
	if _, err := st.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.Status, rec.Attempts = storage.StatusFailed, 7
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := o.Retry(ctx, d.ResponseID)
	if err != nil || got.Status != storage.StatusPending || got.Attempts != 0 {
		t.Fatalf("retry = %+v, %v; want pending with a fresh budget", got, err)
	}
	if _, err := o.Retry(ctx, "unknown"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("retry of an unknown delivery: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle reports that no channel is claimed or waits to be read again.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.claimed) == 0 && len(q.dirty) == 0
}

// TestPendingGaugeLogsAFailedRead: when the store cannot count the pending
// deliveries, the gauge is missing from the scrape and a line says why
// (before, it vanished silently).
func TestPendingGaugeLogsAFailedRead(t *testing.T) {
	st := openStore(t)
	var logged bytes.Buffer
	reg := prometheus.NewRegistry()
	New(DefaultConfig(), st, map[string]channels.Sender{storage.TypeTelegram: newSender()},
		Options{Log: slog.New(slog.NewTextHandler(&logged, nil)), Registry: reg})
	if n := gaugeSeries(t, reg); n != 1 {
		t.Fatalf("%d pending series with a readable store, want 1 (telegram)", n)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := gaugeSeries(t, reg); n != 0 {
		t.Fatalf("%d pending series with a closed store", n)
	}
	if !strings.Contains(logged.String(), "count pending deliveries") || !strings.Contains(logged.String(), "closed") {
		t.Fatalf("log %q, want the failed read and its cause", logged.String())
	}
}

func gaugeSeries(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "relay_deliveries_pending" {
			return len(f.GetMetric())
		}
	}
	return 0
}

package outbox

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/storage"
)

// TestAttemptsAreRecorded: every attempt leaves an entry in the delivery's
// history (a retry with its next attempt, the final failure, then after a
// retry by the admin the attempt that got through), and every outcome is
// reported to Options.Outcome as relay_deliveries_total counts it.
func TestAttemptsAreRecorded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	u := fixture(t, st, "tg")
	d := reply(t, st, u.ID, "tg", "hello")
	snd := newSender()
	snd.err = errors.New("telegram: 502 Bad Gateway")
	var mu sync.Mutex
	var outcomes []string
	o := New(Config{Workers: 1, MaxAttempts: 2, MaxAge: time.Hour, MaxBackoff: time.Millisecond}, st,
		map[string]channels.Sender{storage.TypeTelegram: snd}, Options{Log: discard, Outcome: func(typ, result string) {
			mu.Lock()
			defer mu.Unlock()
			outcomes = append(outcomes, typ+":"+result)
		}})
	run(t, o)
	o.Accepted(d)
	waitFor(t, func() bool {
		got, err := st.Delivery(ctx, d.ResponseID)
		return err == nil && got.Status == storage.StatusFailed
	})
	snd.mu.Lock()
	snd.err = nil
	snd.mu.Unlock()
	if _, err := o.Retry(ctx, d.ResponseID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		got, err := st.Delivery(ctx, d.ResponseID)
		return err == nil && got.Status == storage.StatusSent
	})
	got, err := st.Delivery(ctx, d.ResponseID)
	if err != nil {
		t.Fatal(err)
	}
	h := got.History
	if len(h) != 3 {
		t.Fatalf("history %+v, want 3 attempts", h)
	}
	for i, want := range []storage.Attempt{
		{Number: 1, Result: storage.AttemptRetry, Error: "telegram: 502 Bad Gateway"},
		{Number: 2, Result: storage.AttemptFailed, Error: "telegram: 502 Bad Gateway"},
		{Number: 1, Result: storage.AttemptSent},
	} {
		if h[i].Number != want.Number || h[i].Result != want.Result || h[i].Error != want.Error || h[i].At.IsZero() {
			t.Errorf("attempt %d = %+v, want %+v", i, h[i], want)
		}
		if next := !h[i].NextAttemptAt.IsZero(); next != (want.Result == storage.AttemptRetry) {
			t.Errorf("attempt %d: next attempt %v", i, h[i].NextAttemptAt)
		}
	}
	// An outcome is counted after its record commits.
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"telegram:retry", "telegram:failed", "telegram:sent"}; len(outcomes) != 3 ||
		outcomes[0] != want[0] || outcomes[1] != want[1] || outcomes[2] != want[2] {
		t.Fatalf("outcomes %v, want %v", outcomes, want)
	}
}

// TestRetryChannel: every failed delivery of one channel becomes pending,
// across pages of the scan; other channels' failures and the channel's
// deliveries in other states are left alone; a deleted channel's stay failed.
func TestRetryChannel(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	u := fixture(t, st, "a", "b")
	fail := func(d storage.Delivery) {
		t.Helper()
		if _, err := st.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
			rec.Status, rec.Attempts, rec.LastError = storage.StatusFailed, 3, "boom"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var failedA []string
	for i := range retryScanPage + 5 { // more than a page of failed records
		ch := "b"
		if i%2 == 0 {
			ch = "a"
		}
		d := reply(t, st, u.ID, ch, "x")
		fail(d)
		if ch == "a" {
			failedA = append(failedA, d.ResponseID)
		}
	}
	pendingA := reply(t, st, u.ID, "a", "still pending")
	o := New(DefaultConfig(), st, nil, Options{Log: discard})
	n, err := o.RetryChannel(ctx, "a")
	if err != nil || n != len(failedA) {
		t.Fatalf("RetryChannel = %d, %v; want %d", n, err, len(failedA))
	}
	for _, id := range append(failedA, pendingA.ResponseID) {
		if d, err := st.Delivery(ctx, id); err != nil || d.Status != storage.StatusPending || d.Attempts != 0 && id != pendingA.ResponseID {
			t.Fatalf("delivery %s = %+v, %v; want pending with a fresh budget", id, d, err)
		}
	}
	failed, err := st.Deliveries(ctx, storage.StatusFailed, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range failed {
		if d.ChannelID != "b" {
			t.Fatalf("failed delivery of channel %s left", d.ChannelID)
		}
	}
	if n, err := o.RetryChannel(ctx, "a"); err != nil || n != 0 {
		t.Fatalf("again: %d, %v; want nothing to retry", n, err)
	}
	if err := st.DeleteChannel(ctx, u.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if n, err := o.RetryChannel(ctx, "b"); !errors.Is(err, storage.ErrNotFound) || n != 0 {
		t.Fatalf("deleted channel: %d, %v; want ErrNotFound", n, err)
	}
}

package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
)

// TestOutboxClaimReadsTheCommittedRecord: a worker claims from heads it read
// before another worker attempted the same reply and released its channel.
// It must go by the record as committed, or it sends an accepted part again.
func TestOutboxClaimReadsTheCommittedRecord(t *testing.T) {
	ctx := context.Background()
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	s, err := New(ctx, cfg, Deps{Store: store, Limits: ratelimit.New(cfg.RateLimits, nil),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	u := storage.User{ID: storage.NewID(), CreatedAt: time.Now()}
	if _, _, err := store.RegisterUser(ctx, u, []byte("hash")); err != nil {
		t.Fatal(err)
	}
	ch := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	if err := store.CreateChannel(ctx, &ch, nil); err != nil {
		t.Fatal(err)
	}
	r := storage.Response{UserID: u.ID, ChannelID: ch.ID, Content: "aaaa bbbb cccc"}
	d, err := store.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending, Target: "42"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := store.PendingHeads(ctx)
	if err != nil || len(stale) != 1 {
		t.Fatalf("heads %v, %v", stale, err)
	}

	// Another worker's attempt: the first part is accepted, the second fails
	// and is scheduled for later; then it releases the channel.
	_, err = store.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.PartsSent, rec.PartsTotal, rec.Attempts = 1, 3, 1
		rec.NextAttemptAt = time.Now().Add(time.Hour).UTC()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o := s.outbox
	if job, _ := o.claimFrom(ctx, stale); job != nil {
		t.Fatalf("claimed a reply that is not due, from a stale head: %+v", job.Delivery)
	}
	if o.inflight[ch.ID] {
		t.Fatal("the channel stays claimed")
	}

	// Due again: the claim carries the committed progress.
	_, err = store.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.NextAttemptAt = time.Time{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := o.claimFrom(ctx, stale)
	if job == nil || job.Delivery.PartsSent != 1 || job.Delivery.Attempts != 1 {
		t.Fatalf("claim from a stale head: %+v", job)
	}
}

package jetstream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// TestContract runs the contract suite, every case on its own stream of one
// shared server.
func TestContract(t *testing.T) {
	srv := natstest.Start(t)
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		return open(t, jetstream.Options{URLs: srv.URL(), Now: now})
	})
}

// TestLargeChanges: changes too large for one write are split: a sweep in
// small batches, the deletion of a channel with more pending deliveries
// than one atomic batch holds, and its purge.
func TestLargeChanges(t *testing.T) {
	srv := natstest.Start(t)
	clock := storagetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	s := open(t, jetstream.Options{URLs: srv.URL(), Now: clock.Now})
	u := storage.User{ID: storage.NewID(), CreatedAt: clock.Now()}
	_, _, err := s.RegisterUser(ctx, u, []byte("hash"))
	must(t, err)
	const stored, pending = 11, 260 // more pending than half of maxWriteMsgs
	for _, c := range []struct {
		id, typ, status string
		n               int
	}{
		{"wh", storage.TypeWebhook, storage.StatusStored, stored}, {"tg", storage.TypeTelegram, storage.StatusPending, pending},
	} {
		ch := storage.Channel{ID: c.id, UserID: u.ID, Type: c.typ, Metadata: json.RawMessage(`{}`)}
		must(t, s.CreateChannel(ctx, &ch, nil))
		for range c.n {
			r := storage.Response{UserID: u.ID, ChannelID: c.id, Content: "x"}
			_, err := s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
				return storage.Delivery{Status: c.status}, nil
			})
			must(t, err)
		}
	}
	clock.Add(time.Hour)
	res, err := s.Sweep(ctx, clock.Now(), 0, 5) // two responses per write
	must(t, err)
	equal(t, "responses swept", res.Responses, stored)
	counts, err := s.DeliveryCounts(ctx)
	must(t, err)
	equal(t, "stored deliveries left", counts[storage.StatusStored], 0)
	equal(t, "pending deliveries kept", counts[storage.StatusPending], pending)

	must(t, s.DeleteChannel(ctx, u.ID, "tg"))
	counts, err = s.DeliveryCounts(ctx)
	must(t, err)
	equal(t, "failed by the deletion", counts[storage.StatusFailed], pending)
	purged, err := s.PurgeDeleted(ctx, 100)
	must(t, err)
	equal(t, "purged", purged, pending)
	counts, err = s.DeliveryCounts(ctx)
	must(t, err)
	equal(t, "deliveries left", counts[storage.StatusFailed], 0)
}

// TestCommitMetrics: with a registry, the store counts its writes as
// storage/bolt counts its commits (without the pages, which JetStream does
// not tell).
func TestCommitMetrics(t *testing.T) {
	srv := natstest.Start(t)
	reg := prometheus.NewRegistry()
	s := open(t, jetstream.Options{URLs: srv.URL(), Registry: reg})
	for range 3 {
		m := storage.Message{UserID: "u", ChannelType: storage.TypeWebhook, ChannelID: "c", Content: "x"}
		must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{}))
	}
	families, err := reg.Gather()
	must(t, err)
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			got[f.GetName()] = m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			got[f.GetName()+"_count"] = float64(m.GetHistogram().GetSampleCount())
		}
	}
	// The appends, and the root key's check value that Open wrote.
	if got["relay_store_commit_writes_count"] != 4 || got["relay_store_commit_duration_seconds_count"] != 4 ||
		got["relay_store_commit_errors_total"] != 0 || len(got) != 3 {
		t.Fatalf("metrics %v", got)
	}
}

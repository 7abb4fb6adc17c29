package bolt_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
	"github.com/chaos-relay/relay/storage/storagetest"
)

func openTemp(t testing.TB, dir string, key *seal.RootKey, now func() time.Time) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(dir, bolt.Options{RootKey: key, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testKey(t testing.TB) *seal.RootKey {
	t.Helper()
	k, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		return openTemp(t, t.TempDir(), testKey(t), now)
	})
}

// TestOnCommit: every commit is reported with its writes and the pages it
// wrote to the file.
func TestOnCommit(t *testing.T) {
	commits := make(chan storage.Commit, 16)
	s, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: testKey(t), OnCommit: func(c storage.Commit) { commits <- c }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := storage.Message{UserID: "u", ChannelType: storage.TypeWebhook, ChannelID: "c", Content: "x"}
	if err := s.AppendMessage(context.Background(), &m, storage.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	c := <-commits // the append's commit is reported before the append returns
	if c.Writes != 1 || c.Pages < 2 || c.Err != nil || c.Duration <= 0 {
		t.Fatalf("commit = %+v, want 1 write, ≥ 2 pages (a leaf and the meta page), no error", c)
	}
}

// TestPanickingWriteFailsAlone: a write whose callback panics fails with an
// error, its group's other writes commit, and the store goes on writing.
func TestPanickingWriteFailsAlone(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir(), testKey(t), nil)
	if _, _, err := s.RegisterUser(ctx, storage.User{ID: "u"}, []byte("h")); err != nil {
		t.Fatal(err)
	}
	c := storage.Channel{ID: "c", UserID: "u", Type: storage.TypeWebhook, Enabled: true, Metadata: json.RawMessage(`{}`)}
	if err := s.CreateChannel(ctx, &c, nil); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateChannel(ctx, "c", func(*storage.Channel) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("a panicking update: %v, want its panic as an error", err)
	}
	m := storage.Message{UserID: "u", ChannelType: storage.TypeWebhook, ChannelID: "c", Content: "after"}
	done := make(chan error, 1)
	go func() { done <- s.AppendMessage(ctx, &m, storage.AppendOptions{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write after a panic never returned: the writer is gone")
	}
}

// TestChannelCopies: a caller that changes a channel it read does not change
// what the next caller reads (the store caches channels).
func TestChannelCopies(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir(), testKey(t), nil)
	c := storage.Channel{ID: "c", UserID: "u", Type: storage.TypeDiscord, Metadata: json.RawMessage(`{"a":1}`),
		Platform: map[string]string{"botUserId": "1"}}
	if err := s.CreateChannel(ctx, &c, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a miss fills the cache, a hit reads it
		got, err := s.Channel(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Metadata) != `{"a":1}` || got.Platform["botUserId"] != "1" {
			t.Fatalf("read %s %v: the cache was changed by a caller", got.Metadata, got.Platform)
		}
		got.Metadata[1] = 'X'
		got.Platform["botUserId"] = "changed"
	}
}

// TestCommitMetrics: with a registry, the store counts its commits, their
// writes and the pages they wrote.
func TestCommitMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: testKey(t), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for range 3 {
		m := storage.Message{UserID: "u", ChannelType: storage.TypeWebhook, ChannelID: "c", Content: "x"}
		if err := s.AppendMessage(context.Background(), &m, storage.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			got[f.GetName()] = m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			got[f.GetName()+"_count"] = float64(m.GetHistogram().GetSampleCount())
			got[f.GetName()] = m.GetHistogram().GetSampleSum()
		}
	}
	if got["relay_store_commit_writes"] != 3 || got["relay_store_commit_duration_seconds_count"] < 1 ||
		got["relay_store_pages_written_total"] < 2 || got["relay_store_commit_errors_total"] != 0 {
		t.Fatalf("metrics %v", got)
	}
}

// TestExportImport: a store moves into another by export and import with
// every record, its secrets still sealed; a non-empty store or another root
// key is refused.
func TestExportImport(t *testing.T) {
	key := testKey(t)
	clock := storagetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	from := openTemp(t, t.TempDir(), key, clock.Now)
	signed := storagetest.Fill(t, from, clock)
	storagetest.RoundTrip(t, signed, from, openTemp(t, t.TempDir(), key, clock.Now), openTemp(t, t.TempDir(), key, clock.Now))

	other := openTemp(t, t.TempDir(), testKey(t), clock.Now)
	err := other.Import(context.Background(), storagetest.Records(storagetest.Exported(t, from)))
	if err == nil || !strings.Contains(err.Error(), "another root key") {
		t.Fatalf("import under another root key: %v", err)
	}
}

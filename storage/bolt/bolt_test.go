package bolt_test

import (
	"context"
	"testing"
	"time"

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

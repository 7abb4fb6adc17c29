package bolt

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

var bg = context.Background()

func openStore(t *testing.T, dir string, key *seal.RootKey, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(dir, Options{RootKey: key, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rootKey(t *testing.T) *seal.RootKey {
	t.Helper()
	k, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func appendTo(t *testing.T, s *Store, userID string, contents ...string) []storage.Message {
	t.Helper()
	var out []storage.Message
	for _, c := range contents {
		m := storage.Message{UserID: userID, ChannelType: storage.TypeWebhook, ChannelID: "c", From: "webhook", Content: c}
		if err := s.AppendMessage(bg, &m, storage.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// contents returns the contents of userID's messages after the zero time.
func contents(t *testing.T, s *Store, userID string, limit int) (string, bool) {
	t.Helper()
	msgs, more, err := s.MessagesAfter(bg, userID, time.Time{}, limit)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, m := range msgs {
		out += m.Content
	}
	return out, more
}

// TestIndexRebuiltAtOpen: the index is rebuilt from the log's keys, so what a
// user reads, the sweep and the backlog count are the same after a restart.
func TestIndexRebuiltAtOpen(t *testing.T) {
	dir, key := t.TempDir(), rootKey(t)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }
	s := openStore(t, dir, key, now)
	appendTo(t, s, "u1", "a", "b")
	appendTo(t, s, "u2", "x")
	clock = t0.Add(time.Hour)
	appendTo(t, s, "u1", "c")
	if _, err := s.Sweep(bg, t0.Add(time.Minute), 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	clock = t0 // the clock stepped back: timestamps still increase per user
	s = openStore(t, dir, key, now)
	if got, _ := contents(t, s, "u1", 10); got != "c" {
		t.Fatalf("u1 after reopen = %q, want c", got)
	}
	if got, _ := contents(t, s, "u2", 10); got != "" {
		t.Fatalf("u2 after reopen = %q, want nothing", got)
	}
	m := appendTo(t, s, "u1", "d")[0]
	if want := t0.Add(time.Hour + time.Millisecond); !m.Timestamp.Equal(want) {
		t.Fatalf("timestamp after a step back = %v, want %v", m.Timestamp, want)
	}
	// u2's only message was swept: its next one is still later.
	if m := appendTo(t, s, "u2", "y")[0]; !m.Timestamp.After(t0) {
		t.Fatalf("u2's timestamp after a step back = %v, want after %v", m.Timestamp, t0)
	}
	if n, err := s.CountMessagesSince(bg, time.Time{}); err != nil || n != 3 {
		t.Fatalf("count = %d, %v; want 3", n, err)
	}
	full := storage.Message{UserID: "u1", ChannelID: "c"}
	if err := s.AppendMessage(bg, &full, storage.AppendOptions{MaxBacklog: 2}); err != storage.ErrInboxFull {
		t.Fatalf("append over the cap = %v, want ErrInboxFull", err)
	}
}

// TestMessagesAfterSkipsSweptStamps: a reader may hold timestamps whose
// messages the sweep deleted before its read transaction began. It skips them
// and still fills the page and reports hasMore correctly.
func TestMessagesAfterSkipsSweptStamps(t *testing.T) {
	s := openStore(t, t.TempDir(), rootKey(t), nil)
	msgs := appendTo(t, s, "u", "1", "2", "3", "4", "5")
	// Delete the first two from the log only, as a sweep commit that lands
	// between a reader's index read and its transaction would look.
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, m := range msgs[:2] {
			if err := tx.Bucket(bMessageLog).Delete(timeKey(toMillis(m.Timestamp), "u")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		want  string
		more  bool
	}{{1, "3", true}, {2, "34", true}, {3, "345", false}, {10, "345", false}} {
		got, more := contents(t, s, "u", tc.limit)
		if got != tc.want || more != tc.more {
			t.Errorf("limit %d: %q, more %v; want %q, more %v", tc.limit, got, more, tc.want, tc.more)
		}
	}
}

// TestDeleteUserInTheCommitOfItsAppend: a message appended in the same group
// commit as its user's deletion is not in the index yet; it is deleted too.
func TestDeleteUserInTheCommitOfItsAppend(t *testing.T) {
	s := openStore(t, t.TempDir(), rootKey(t), nil)
	if _, _, err := s.RegisterUser(bg, storage.User{ID: "u", CreatedAt: time.Now()}, []byte("hash")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, s, "u", "indexed")

	// Hold the writer, queue an append and the deletion, then let both run in
	// one group.
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = s.update(bg, func(*bbolt.Tx) error { close(started); <-release; return nil })
	})
	<-started
	wg.Go(func() { appendTo(t, s, "u", "same commit") })
	waitQueued(s, 1)
	wg.Go(func() {
		if _, err := s.DeleteUser(bg, "u"); err != nil {
			t.Error(err)
		}
	})
	waitQueued(s, 2)
	close(release)
	wg.Wait()

	if got, _ := contents(t, s, "u", 10); got != "" {
		t.Fatalf("messages of a deleted user = %q", got)
	}
	buckets, err := s.Buckets(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		if b.Name == string(bMessageLog) && b.Count != 0 {
			t.Fatalf("message log holds %d messages of a deleted user", b.Count)
		}
	}
}

// waitQueued waits until n writes wait for the writer.
func waitQueued(s *Store, n int) {
	for len(s.writes) < n {
		runtime.Gosched()
	}
}

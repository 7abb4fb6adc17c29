package jetstream

import (
	"context"
	"log/slog"
	"testing"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

// TestLanded: a write whose answer was lost is recognised as stored by its
// nonce right after the sequence it expected, and a write that was not
// stored is not taken for one that was.
func TestLanded(t *testing.T) {
	srv := natstest.Start(t)
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{URLs: srv.URL(), Prefix: "landed", RootKey: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subject := s.subj.msgLog("u")
	stored := s.newWrite()
	expectSeq(stored.add(subject, []byte("x"), hdrTs, "1"), 0)
	if err := s.commit(ctx, stored); err != nil {
		t.Fatal(err)
	}
	// A later write by another instance does not hide it.
	later := s.newWrite()
	expectSeq(later.add(subject, []byte("y"), hdrTs, "2"), stored.first)
	if err := s.commit(ctx, later); err != nil {
		t.Fatal(err)
	}
	if first, ok := s.landed(ctx, stored); !ok || first != stored.first {
		t.Fatalf("landed = %d, %v; want %d, true", first, ok, stored.first)
	}
	lost := s.newWrite() // same expectation as stored, never published
	expectSeq(lost.add(subject, []byte("z"), hdrTs, "1"), 0)
	lost.msgs[0].Header.Set(hdrTx, lost.nonce)
	if _, ok := s.landed(ctx, lost); ok {
		t.Fatal("a write that was not stored was taken for stored")
	}
	// Retried as a whole, the stored write conflicts and is recognised.
	if err := s.publish(ctx, stored); !isConflict(err) {
		t.Fatalf("retry of a stored write = %v, want a conflict", err)
	}
}

package jetstream

import (
	"context"
	"errors"
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

// TestParseAck reads the acknowledgements JetStream sends.
func TestParseAck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		seq  uint64
		dup  bool
		fail bool
	}{
		{in: `{"stream":"relay","seq":42}`, seq: 42},
		{in: `{"stream":"relay","domain":"d","seq":7,"val":"x"}`, seq: 7},
		{in: `{"stream":"relay","seq":9,"duplicate": true}`, dup: true, seq: 9},
		{in: `{"stream":"relay","seq":9,"duplicate":false}`, seq: 9},
		{in: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"relay","seq":0}`, fail: true},
		{in: `{"seq":1}`, fail: true},
		{in: `garbage`, fail: true},
	} {
		seq, err := parseAck([]byte(tc.in))
		var dup *dupAck
		switch {
		case tc.dup:
			if !errors.As(err, &dup) || dup.seq != tc.seq {
				t.Errorf("%s: %v, want a duplicate of %d", tc.in, err, tc.seq)
			}
		case tc.fail:
			if err == nil {
				t.Errorf("%s: no error", tc.in)
			}
		case err != nil || seq != tc.seq:
			t.Errorf("%s: %d, %v; want %d", tc.in, seq, err, tc.seq)
		}
	}
	_, err := parseAck([]byte(`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}`))
	if kind, last := classify(err); kind != outcomeConflict || last != 3 {
		t.Errorf("conflict classified as %v, %d", kind, last)
	}
}

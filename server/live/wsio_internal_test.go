package live

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingConn is one end of a net.Pipe that records each Write it is given.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// newBatchConn returns a batchConn over a pipe whose other end is drained
// into the returned buffer (complete once the peer sees EOF).
func newBatchConn(t *testing.T) (*batchConn, *recordingConn, func() string) {
	t.Helper()
	a, b := net.Pipe()
	rec := &recordingConn{Conn: a}
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&got, b)
	}()
	t.Cleanup(func() { _ = b.Close() })
	return &batchConn{Conn: rec}, rec, func() string { <-done; return got.String() }
}

func TestBatchConnPassesWritesThroughWhenNotHolding(t *testing.T) {
	bc, rec, received := newBatchConn(t)
	for _, s := range []string{"one", "two"} {
		if n, err := bc.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write %q: %d, %v", s, n, err)
		}
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := received(); got != "onetwo" || len(rec.writes) != 2 {
		t.Fatalf("received %q in %d writes, want \"onetwo\" in 2", got, len(rec.writes))
	}
}

func TestBatchConnSendsAHeldBatchInOneWrite(t *testing.T) {
	bc, rec, received := newBatchConn(t)
	bc.hold()
	for _, s := range []string{"a", "b", "c"} {
		if _, err := bc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.writes) != 0 {
		t.Fatalf("%d writes before flush", len(rec.writes))
	}
	if err := bc.flush(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Write([]byte("d")); err != nil { // after the batch: straight through
		t.Fatal(err)
	}
	_ = bc.Close()
	if got := received(); got != "abcd" || strings.Join(rec.writes, "|") != "abc|d" {
		t.Fatalf("received %q as %q, want \"abcd\" as \"abc|d\"", got, rec.writes)
	}
}

func TestBatchConnWritesOutBeforeExceedingItsBound(t *testing.T) {
	bc, rec, received := newBatchConn(t)
	big := strings.Repeat("x", batchMax-1)
	bc.hold()
	for _, s := range []string{big, "yy", "z"} {
		if _, err := bc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.flush(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = bc.Close()
	if got := received(); got != big+"yyz" || len(rec.writes) != 2 || rec.writes[0] != big {
		t.Fatalf("received %d bytes in %d writes, want %d in 2 (the first before the bound)", len(got), len(rec.writes), len(big)+3)
	}
}

func TestBatchConnCloseSendsTheHeldBatch(t *testing.T) {
	bc, _, received := newBatchConn(t)
	bc.hold()
	_, _ = bc.Write([]byte("data"))
	_, _ = bc.Write([]byte("close-frame"))
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := received(); got != "dataclose-frame" {
		t.Fatalf("received %q", got)
	}
}

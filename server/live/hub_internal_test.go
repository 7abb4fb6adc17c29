package live

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// TestHubEvictsByAge: the cap evicts the connections whose upgrade began
// first, even when the oldest registers last, and the count follows.
func TestHubEvictsByAge(t *testing.T) {
	h := testHub(2)
	conn := func(seq uint64) *Conn { return &Conn{user: storage.User{ID: "u"}, seq: seq} }
	c1, c2, c3, c4 := conn(1), conn(2), conn(3), conn(4)
	for _, step := range []struct {
		add     *Conn
		evicted []*Conn
		left    []*Conn
	}{
		{c2, nil, []*Conn{c2}},
		{c3, nil, []*Conn{c2, c3}},
		{c1, []*Conn{c1}, []*Conn{c2, c3}}, // late, and the oldest
		{c4, []*Conn{c2}, []*Conn{c3, c4}},
	} {
		evicted, ok := h.add(step.add)
		if !ok || !slices.Equal(evicted, step.evicted) {
			t.Fatalf("add %d: evicted %v, %v", step.add.seq, evicted, ok)
		}
		if !slices.Equal(h.users["u"], step.left) || h.count.Load() != int64(len(step.left)) {
			t.Fatalf("add %d: registered %v, count %d", step.add.seq, h.users["u"], h.count.Load())
		}
	}
}

// TestHubSharesAReadWithTheUsersOtherSockets: a socket may reuse another
// socket's read only for the same cursor and when the read covers every
// commit counted before the socket looked; the page is dropped once every
// other socket used it, and never kept for a user without other sockets.
func TestHubSharesAReadWithTheUsersOtherSockets(t *testing.T) {
	h := testHub(5)
	for seq := range uint64(3) {
		if _, ok := h.add(&Conn{user: storage.User{ID: "u"}, seq: seq}); !ok {
			t.Fatal("add refused")
		}
	}
	cursor := time.UnixMilli(1000)
	page := []storage.Message{{ID: "m1", Timestamp: time.UnixMilli(1001)}}
	h.Notify("v") // counts a commit (of a user without sockets: nothing to wake here)
	gen := h.commits.Load()
	h.share("u", cursor, gen, page)

	if _, ok := h.sharedRead("u", time.UnixMilli(999), gen); ok {
		t.Fatal("a read after another cursor was shared")
	}
	if _, ok := h.sharedRead("u", cursor, gen+1); ok {
		t.Fatal("a read older than the socket's count of commits was shared")
	}
	for i := range 2 { // the two other sockets
		got, ok := h.sharedRead("u", cursor, gen)
		if !ok || len(got) != 1 || got[0].ID != "m1" {
			t.Fatalf("other socket %d: got %v, %v", i, got, ok)
		}
	}
	if _, ok := h.sharedRead("u", cursor, gen); ok {
		t.Fatal("the page outlived the sockets it was for")
	}

	h.share("u", cursor, gen, make([]storage.Message, sharedPageMax+1))
	if _, ok := h.sharedRead("u", cursor, gen); ok {
		t.Fatal("a page longer than sharedPageMax was shared")
	}
	h.share("lonely", cursor, gen, page)
	if len(h.pages) != 0 {
		t.Fatalf("pages kept: %v", h.pages)
	}
}

// TestHubDropsTheSharedPageWithTheLastSocket: no read outlives the user's
// sockets.
func TestHubDropsTheSharedPageWithTheLastSocket(t *testing.T) {
	h := testHub(5)
	c1, c2 := &Conn{user: storage.User{ID: "u"}, seq: 1}, &Conn{user: storage.User{ID: "u"}, seq: 2}
	for _, c := range []*Conn{c1, c2} {
		if _, ok := h.add(c); !ok {
			t.Fatal("add refused")
		}
	}
	h.share("u", time.Time{}, h.commits.Load(), nil)
	if h.pages["u"] == nil {
		t.Fatal("no page shared between two sockets")
	}
	h.remove(c1)
	h.remove(c2)
	if len(h.pages) != 0 {
		t.Fatalf("pages kept after the last socket: %v", h.pages)
	}
}

// testHub is a hub without a store, for its bookkeeping alone.
func testHub(maxConnPerUser int) *Hub {
	cfg := DefaultConfig()
	cfg.MaxConnPerUser = maxConnPerUser
	return New(cfg, nil, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

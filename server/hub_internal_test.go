package server

import (
	"slices"
	"testing"

	"github.com/chaos-relay/relay/storage"
)

// TestHubEvictsByAge: the cap evicts the connections whose upgrade began
// first, even when the oldest registers last, and the count follows.
func TestHubEvictsByAge(t *testing.T) {
	h := newHub()
	conn := func(seq uint64) *wsConn { return &wsConn{user: storage.User{ID: "u"}, seq: seq} }
	c1, c2, c3, c4 := conn(1), conn(2), conn(3), conn(4)
	for _, step := range []struct {
		add     *wsConn
		evicted []*wsConn
		left    []*wsConn
	}{
		{c2, nil, []*wsConn{c2}},
		{c3, nil, []*wsConn{c2, c3}},
		{c1, []*wsConn{c1}, []*wsConn{c2, c3}}, // late, and the oldest
		{c4, []*wsConn{c2}, []*wsConn{c3, c4}},
	} {
		evicted, ok := h.add(step.add, 2)
		if !ok || !slices.Equal(evicted, step.evicted) {
			t.Fatalf("add %d: evicted %v, %v", step.add.seq, evicted, ok)
		}
		if !slices.Equal(h.users["u"], step.left) || h.count.Load() != int64(len(step.left)) {
			t.Fatalf("add %d: registered %v, count %d", step.add.seq, h.users["u"], h.count.Load())
		}
	}
}

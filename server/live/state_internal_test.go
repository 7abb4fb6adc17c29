package live

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
)

// testConn is a registered socket of user as Serve makes one, without the
// socket.
func testConn(h *Hub, user string, seq uint64) *Conn {
	c := &Conn{h: h, user: storage.User{ID: user}, seq: seq,
		id: &identity{seq: seq, userID: user, client: ClientInfo{RemoteAddr: "192.0.2.1", UserAgent: "ext/1"}, connectedAt: h.now()}}
	if _, ok := h.add(c); !ok {
		panic("add refused")
	}
	return c
}

// TestConnectionsKeepClosedSocketsForAnHour: an open socket shows its
// client, cursor and lag; a closed one keeps how it closed for an hour, and
// a user's storm of reconnects keeps only its newest closedPerUser records.
func TestConnectionsKeepClosedSocketsForAnHour(t *testing.T) {
	h := testHub(5)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	open := testConn(h, "u", 1)
	open.shown.Store(now.Add(-time.Second).UnixMilli())
	open.caught.Store(true)
	open.unread.Store(3)
	gone := testConn(h, "u", 2)
	gone.mu.Lock()
	gone.closed(1001, "Server shutting down", "relay")
	gone.mu.Unlock()
	h.remove(gone)
	h.remove(gone) // idempotent
	testConn(h, "v", 3)

	got := h.Connections("u")
	if len(got) != 2 || got[0].ID != 2 || got[1].ID != 1 {
		t.Fatalf("connections %+v, want the closed socket 2, then the open 1", got)
	}
	if c := got[1]; c.Closed || c.RemoteAddr != "192.0.2.1" || c.UserAgent != "ext/1" || c.Lag != 3 || c.Replaying ||
		!c.Cursor.Equal(now.Add(-time.Second)) || !c.ConnectedAt.Equal(now) {
		t.Fatalf("open socket %+v", c)
	}
	if c := got[0]; !c.Closed || c.CloseCode != 1001 || c.CloseReason != "Server shutting down" || c.ClosedBy != "relay" || !c.ClosedAt.Equal(now) {
		t.Fatalf("closed socket %+v", c)
	}
	if all := h.Connections(""); len(all) != 3 {
		t.Fatalf("every user: %d sockets, want 3", len(all))
	}

	// A socket that went without a close frame reads 1006.
	dropped := testConn(h, "w", 4)
	h.remove(dropped)
	if c := h.Connections("w"); len(c) != 1 || c[0].CloseCode != 1006 || c[0].ClosedBy != "" {
		t.Fatalf("dropped socket %+v", c)
	}

	for seq := uint64(10); seq < 10+3*closedPerUser; seq++ {
		h.remove(testConn(h, "storm", seq))
	}
	if c := h.Connections("storm"); len(c) != closedPerUser || c[0].ID != 10+3*closedPerUser-1 {
		t.Fatalf("storm: %d records, newest %d", len(c), c[0].ID)
	}

	now = now.Add(closedKeep + time.Second)
	if c := h.Connections("u"); len(c) != 1 || c[0].ID != 1 {
		t.Fatalf("after an hour: %+v, want only the open socket", c)
	}
}

// TestClosedRecordsAreBoundedByUser: past closedUsers users with closed
// sockets, the users whose newest record is the oldest are forgotten.
func TestClosedRecordsAreBoundedByUser(t *testing.T) {
	h := testHub(5)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	h.now = func() time.Time { now = now.Add(time.Millisecond); return now }
	for i := range closedUsers + 10 {
		h.remove(testConn(h, fmt.Sprint("user", i), uint64(i+1)))
	}
	if n := len(h.closedConns.byUser); n != closedUsers {
		t.Fatalf("%d users kept, want %d", n, closedUsers)
	}
	if len(h.Connections("user0")) != 0 || len(h.Connections(fmt.Sprint("user", closedUsers+9))) != 1 {
		t.Fatal("the oldest users were not the ones forgotten")
	}
}

// TestWritesFindTheSocketsOfAMessage: a page write covers the messages
// after the cursor it started from up to the one it ended on.
func TestWritesFindTheSocketsOfAMessage(t *testing.T) {
	h := testHub(5)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c1, c2, other := testConn(h, "u", 1), testConn(h, "u", 2), testConn(h, "v", 3)
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	h.writes.add(c1.id, ms(0), ms(3), at.Add(time.Second))   // a replay page: 1..3
	h.writes.add(c2.id, ms(2), ms(3), at.Add(2*time.Second)) // 3 only
	h.writes.add(other.id, ms(0), ms(9), at)                 // another user's
	for _, tt := range []struct {
		ts   int
		want []uint64
	}{{1, []uint64{1}}, {3, []uint64{1, 2}}, {0, nil}, {4, nil}} {
		got := h.Writes("u", ms(tt.ts))
		var ids []uint64
		for _, w := range got {
			ids = append(ids, w.Conn.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("message at %d ms: written to %v, want %v", tt.ts, ids, tt.want)
		}
	}
	if w := h.Writes("u", ms(3)); w[0].Conn.RemoteAddr != "192.0.2.1" || !w[0].At.Equal(at.Add(time.Second)) {
		t.Fatalf("write %+v", w[0])
	}
	// The log is a ring: the oldest records go first.
	for range writeLogSize {
		h.writes.add(other.id, ms(0), ms(1), at)
	}
	if w := h.Writes("u", ms(3)); len(w) != 0 {
		t.Fatalf("%d writes survived a full turn of the ring", len(w))
	}
}

// TestLagIsSampledPastReplay: the lag histogram observes sockets whose
// replay is complete, each once per round.
func TestLagIsSampledPastReplay(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(DefaultConfig(), nil, Options{Log: testHub(1).log, Registry: reg})
	replaying, live := testConn(h, "u", 1), testConn(h, "u", 2)
	live.caught.Store(true)
	live.unread.Store(5)
	replaying.unread.Store(100)
	h.observeLag(h.all())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "relay_websocket_lag_messages" {
			if h := f.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 5 {
				t.Fatalf("lag histogram %v, want one sample of 5", h)
			}
			return
		}
	}
	t.Fatal("relay_websocket_lag_messages not registered")
}

// BenchmarkWriteLogAdd is the cost a page write pays for the timeline's
// record, on the delivery path: with -cpu 2, writers on both cores.
func BenchmarkWriteLogAdd(b *testing.B) {
	l := &writeLog{}
	id := &identity{userID: "u"}
	at := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.add(id, at, at, time.Now())
		}
	})
}

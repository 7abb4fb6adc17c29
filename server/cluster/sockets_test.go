package cluster

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// excesses records the last OnExcess call per user of one node.
type excesses struct {
	mu   sync.Mutex
	last map[string]string // user → connIDs, comma-separated
}

func watchExcess(c *Cluster, limit int) *excesses {
	e := &excesses{last: map[string]string{}}
	c.OnExcess(limit, func(userID string, connIDs []string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.last[userID] = strings.Join(connIDs, ",")
	})
	return e
}

func (e *excesses) get(user string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last[user]
}

func (e *excesses) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.last)
}

func TestSocketCapAcrossNodes(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	prefix := newPrefix()
	a := join(t, options(t, connect(t, srv.URL()), prefix))
	b := join(t, options(t, connect(t, srv.URL()), prefix))
	c := join(t, options(t, connect(t, srv.URL()), prefix))
	ea, eb, ec := watchExcess(a, 3), watchExcess(b, 3), watchExcess(c, 3)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const user = "user@example.com"

	a.SocketOpened(user, "s1", at(1))
	b.SocketOpened(user, "s2", at(2))
	c.SocketOpened(user, "s3", at(3))
	nodes := []string{a.ID(), b.ID(), c.ID()}
	slices.Sort(nodes)
	for _, n := range []*Cluster{a, b, c} {
		eventually(t, 5*time.Second, "socket nodes on "+n.ID(), func() bool {
			return slices.Equal(n.SocketNodes(user), nodes)
		})
	}
	equal(t, "no excess yet", ea.get(user)+eb.get(user)+ec.get(user), "")

	// A fourth socket, anywhere: the oldest, on a, is over the cap.
	c.SocketOpened(user, "s4", at(4))
	eventually(t, 5*time.Second, "a told to close s1", func() bool { return ea.get(user) == "s1" })
	// A fifth: the two oldest, each closed by its node.
	b.SocketOpened(user, "s5", at(5))
	eventually(t, 5*time.Second, "b told to close s2", func() bool { return eb.get(user) == "s2" })
	equal(t, "c told", ec.get(user), "")

	// Closed, the excess is gone; SocketNodes follows.
	a.SocketClosed(user, "s1")
	b.SocketClosed(user, "s2")
	eventually(t, 5*time.Second, "a has no socket", func() bool {
		return !slices.Contains(b.SocketNodes(user), a.ID()) && len(b.SocketNodes(user)) == 2
	})
	equal(t, "socket nodes of nobody", len(a.SocketNodes("nobody")), 0)

	// A dead node's sockets do not count, and the janitor removes them.
	ea.reset()
	a.SocketOpened("u2", "x1", at(1))
	a.SocketOpened("u2", "x2", at(2))
	c.SocketOpened("u2", "y1", at(3))
	eventually(t, 5*time.Second, "c's socket seen", func() bool { return len(a.SocketNodes("u2")) == 2 })
	c.nc.Close()
	eventually(t, testDeadAfter+3*time.Second, "c dead", func() bool { return len(a.Nodes()) == 2 })
	equal(t, "socket nodes without c", strings.Join(a.SocketNodes("u2"), ","), a.ID())
	ea.reset()
	// Four sockets on alive nodes: x1 is over the cap of 3. Were c's y1
	// counted, x2 would be too.
	a.SocketOpened("u2", "x3", at(4))
	a.SocketOpened("u2", "x4", at(5))
	eventually(t, 5*time.Second, "a told to close x1 only", func() bool { return ea.get("u2") == "x1" })
	eventually(t, 2*testDeadAfter+3*time.Second, "c's sockets swept", func() bool {
		_, err := a.kv.sockets.Get(t.Context(), socketKey("u2", c.ID(), "y1"))
		return err != nil
	})
	equal(t, "a's sockets", a.sockets.ownCount(), 4) // s1 closed; x1…x4
}

func TestSocketsRepaired(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	a.SocketOpened("u1", "c1", time.Now())
	eventually(t, 5*time.Second, "b sees a's socket", func() bool { return len(b.SocketNodes("u1")) == 1 })
	// The entry vanishes behind a's back (a janitor that thought it dead):
	// a puts it back at its next reconciliation.
	must(t, b.kv.sockets.Purge(t.Context(), socketKey("u1", a.ID(), "c1")))
	eventually(t, 5*time.Second, "b sees the purge", func() bool { return len(b.SocketNodes("u1")) == 0 })
	eventually(t, 2*testDeadAfter+time.Second, "a repairs it", func() bool { return len(b.SocketNodes("u1")) == 1 })
	// A leftover entry of a (a purge that failed) is removed the same way.
	_, err := b.kv.sockets.Put(t.Context(), socketKey("u1", a.ID(), "gone"), []byte(time.Now().Format(time.RFC3339Nano)))
	must(t, err)
	eventually(t, 2*testDeadAfter+time.Second, "a removes its leftover", func() bool {
		_, err := b.kv.sockets.Get(t.Context(), socketKey("u1", a.ID(), "gone"))
		return err != nil
	})
	// Graceful close removes a's sockets.
	must(t, a.Close(t.Context()))
	eventually(t, time.Second, "a's sockets gone", func() bool { return len(b.SocketNodes("u1")) == 0 })
	_, err = b.kv.sockets.Get(t.Context(), socketKey("u1", a.ID(), "c1"))
	if err == nil {
		t.Fatal("a's socket still in the bucket after Close")
	}
}

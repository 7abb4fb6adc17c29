package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

func TestMembership(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	cs := joinAll(t, newPrefix(), 3, nats3.Servers[0].URL(), nats3.Servers[1].URL(), nats3.Servers[2].URL())
	a, b, c := cs[0], cs[1], cs[2]
	for _, n := range cs {
		eventually(t, 5*time.Second, n.ID()+" sees 3 nodes", func() bool { return len(n.Nodes()) == 3 })
		equal(t, "others", n.Others(), 2)
	}
	nodes := a.Nodes()
	if !strings.HasPrefix(ids(nodes), "") || nodes[0].ID > nodes[1].ID || nodes[1].ID > nodes[2].ID {
		t.Fatalf("nodes not sorted: %s", ids(nodes))
	}
	for _, n := range nodes {
		equal(t, n.ID+" is self", n.Self, n.ID == a.ID())
		equal(t, n.ID+" version", n.Version, "test")
		if n.Addr == "" || n.Started.IsZero() || n.Beat.IsZero() {
			t.Fatalf("node %+v: missing fields", n)
		}
	}

	// Stats travel with the heartbeats.
	a.SetStats(func() Stats { return Stats{Sockets: 7} })
	eventually(t, 5*time.Second, "b sees a's sockets", func() bool {
		for _, n := range b.Nodes() {
			if n.ID == a.ID() {
				return n.Sockets == 7
			}
		}
		return false
	})

	// A node that stops beating (its connection is gone) is dead DeadAfter
	// after its last heartbeat, not before.
	c.nc.Close()
	start := time.Now()
	eventually(t, testDeadAfter+3*time.Second, "c dead", func() bool {
		return len(a.Nodes()) == 2 && len(b.Nodes()) == 2
	})
	if d := time.Since(start); d < testDeadAfter-2*testHeartbeat {
		t.Fatalf("c dead after %s, before DeadAfter %s", d, testDeadAfter)
	}

	// A node that leaves is gone at once.
	must(t, b.Close(t.Context()))
	start = time.Now()
	eventually(t, testDeadAfter/2, "b gone", func() bool { return len(a.Nodes()) == 1 })
	t.Logf("c dead after DeadAfter; b gone after %s", time.Since(start))
	equal(t, "others", a.Others(), 0)
	equal(t, "self", a.Nodes()[0].Self, true)
}

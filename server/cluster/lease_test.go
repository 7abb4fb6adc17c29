package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// holding records who runs a lease's function, and whether two ever did
// at once.
type holding struct {
	mu      sync.Mutex
	inside  map[string]bool
	overlap string
	starts  chan string // the node id, at each start
	ends    chan error  // the cause of the context, at each end
}

func newHolding() *holding {
	return &holding{inside: map[string]bool{}, starts: make(chan string, 100), ends: make(chan error, 100)}
}

// campaign runs a campaign of c for the lease until the returned stop is
// called (or the test ends).
func (h *holding) campaign(t *testing.T, c *Cluster, name string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Lease(name).Run(ctx, func(ctx context.Context) {
			h.mu.Lock()
			for id := range h.inside {
				h.overlap = fmt.Sprintf("%s started while %s held the lease", c.ID(), id)
			}
			h.inside[c.ID()] = true
			h.mu.Unlock()
			h.starts <- c.ID()
			<-ctx.Done()
			h.mu.Lock()
			delete(h.inside, c.ID())
			h.mu.Unlock()
			h.ends <- context.Cause(ctx)
		})
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func (h *holding) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlap != "" {
		t.Fatal(h.overlap)
	}
}

func byID(cs []*Cluster) map[string]*Cluster {
	m := map[string]*Cluster{}
	for _, c := range cs {
		m[c.ID()] = c
	}
	return m
}

func TestLeaseOneHolder(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	cs := joinAll(t, newPrefix(), 3, nats3.Servers[0].URL(), nats3.Servers[1].URL(), nats3.Servers[2].URL())

	// Racing for a free lease: exactly one wins.
	const name = "outbox.chan/1 é" // not a valid key: hashed
	results := make(chan bool, len(cs))
	for _, c := range cs {
		go func() {
			ok, err := c.Lease(name).TryAcquire(t.Context())
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	var winner *Cluster
	for range cs {
		if <-results {
			if winner != nil {
				t.Fatal("two nodes acquired the lease")
			}
			winner = cs[0] // found below
		}
	}
	if winner == nil {
		t.Fatal("no node acquired the lease")
	}
	for _, c := range cs {
		if c.Lease(name).Held() {
			winner = c
		}
	}
	for _, c := range cs {
		eventually(t, 5*time.Second, c.ID()+" sees the holder", func() bool { return c.Holders()[name] == winner.ID() })
		if c != winner {
			ok, err := c.Lease(name).TryAcquire(t.Context())
			must(t, err)
			equal(t, "acquired a held lease", ok, false)
		}
	}
	// Renewals keep it held well past the TTL.
	for deadline := time.Now().Add(2 * testLeaseTTL); time.Now().Before(deadline); {
		if !winner.Lease(name).Held() {
			t.Fatal("lease lost while renewed")
		}
		_ = sleep(t.Context(), 20*time.Millisecond)
	}
	// Released, another node can take it at once.
	must(t, winner.Lease(name).Release(t.Context()))
	equal(t, "held after release", winner.Lease(name).Held(), false)
	other := cs[0]
	if other == winner {
		other = cs[1]
	}
	eventually(t, 5*time.Second, other.ID()+" sees the release", func() bool { _, held := other.Holders()[name]; return !held })
	ok, err := other.Lease(name).TryAcquire(t.Context())
	must(t, err)
	equal(t, "acquired after release", ok, true)
}

func TestLeaseTakeover(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	cs := joinAll(t, newPrefix(), 3, nats3.Servers[0].URL(), nats3.Servers[1].URL(), nats3.Servers[2].URL())
	nodes := byID(cs)
	h := newHolding()
	stops := map[string]func(){}
	for _, c := range cs {
		stops[c.ID()] = h.campaign(t, c, "discord.42")
	}

	// A graceful release (the campaign ends) hands over well under the TTL.
	first := receive(t, h.starts, 10*time.Second, "first holder")
	start := time.Now()
	stops[first]()
	second := receive(t, h.starts, testLeaseTTL/2, "holder after release")
	t.Logf("release: %s → %s in %s", first, second, time.Since(start))
	h.check(t)
	if cause := receive(t, h.ends, time.Second, "end of the first holder"); !errors.Is(cause, context.Canceled) {
		t.Fatalf("first holder's cause = %v, want context.Canceled", cause)
	}

	// The holder's connection dies: it stops (its context ends as lost)
	// before the lease expires, and the third node takes over within the
	// TTL and a retry.
	start = time.Now()
	nodes[second].nc.Close()
	cause := receive(t, h.ends, 2*testLeaseTTL, "end of the dead holder")
	if !errors.Is(cause, ErrLeaseLost) {
		t.Fatalf("cause = %v, want ErrLeaseLost", cause)
	}
	third := receive(t, h.starts, testLeaseTTL+testLeaseTTL/3+time.Second, "holder after the death")
	t.Logf("death: %s → %s in %s", second, third, time.Since(start))
	h.check(t)
	if third == first || third == second {
		t.Fatalf("third holder %s held before", third)
	}
}

func TestLeaseLostWhenDeleted(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	h := newHolding()
	h.campaign(t, a, "sweep")
	equal(t, "holder", receive(t, h.starts, 5*time.Second, "a holds"), a.ID())
	eventually(t, 5*time.Second, "b sees a hold", func() bool { return b.Holders()["sweep"] == a.ID() })

	// Someone deletes the key (an operator, a bug): a learns at once, from
	// its watcher, not when it next renews.
	start := time.Now()
	must(t, b.kv.leases.Delete(t.Context(), "sweep"))
	cause := receive(t, h.ends, testLeaseTTL/3, "a's function cancelled")
	if !errors.Is(cause, ErrLeaseLost) {
		t.Fatalf("cause = %v, want ErrLeaseLost", cause)
	}
	t.Logf("lost after %s", time.Since(start))
	// ...and campaigns again.
	equal(t, "holder again", receive(t, h.starts, 5*time.Second, "a holds again"), a.ID())
	h.check(t)
}

func TestLeaseSurvivesServerLoss(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	all := nats3.URLs()
	cs := joinAll(t, newPrefix(), 3, all, all)
	a, b := cs[0], cs[1]
	ok, err := a.Lease("sweep").TryAcquire(t.Context())
	must(t, err)
	equal(t, "acquired", ok, true)

	// Stop the server a is connected to, the worst case for a.
	nats3.Server(a.nc.ConnectedServerName()).Stop()
	// a reconnects to another server and keeps renewing; JetStream may
	// need a few seconds to elect new leaders, within the TTL or not: what
	// must hold is that the lease works again on the two servers left.
	eventually(t, 20*time.Second, "a holds the lease again", func() bool {
		ok, err := a.Lease("sweep").TryAcquire(t.Context())
		return err == nil && ok
	})
	ok, err = b.Lease("sweep").TryAcquire(t.Context())
	must(t, err)
	equal(t, "b acquires a held lease", ok, false)
	must(t, a.Lease("sweep").Release(t.Context()))
	// Right after an election a new leader may answer a read from behind
	// for a moment: b may need a second try.
	eventually(t, 5*time.Second, "b acquires after a's release", func() bool {
		ok, err := b.Lease("sweep").TryAcquire(t.Context())
		return err == nil && ok
	})
	equal(t, "a sees b", a.Lease("sweep").Held(), false)
}

func TestLeaseRunReturnsEarly(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	// a's function finishes at once: a releases, and lets b have a turn
	// before it campaigns again.
	ran := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Lease("job").Run(ctx, func(context.Context) { ran <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	receive(t, ran, 5*time.Second, "a ran")
	h := newHolding()
	h.campaign(t, b, "job")
	equal(t, "next holder", receive(t, h.starts, testLeaseTTL, "b holds"), b.ID())
	equal(t, "a holds", a.Lease("job").Held(), false)
}

// OnLeaseFreed tells every node of a lease given up or expired, by name,
// for the leases of its prefix only.
func TestLeaseFreed(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	freed := make(chan string, 10)
	b.OnLeaseFreed("outbox.", func(name string) { freed <- name })
	for _, name := range []string{"outbox.x", "outbox.y", "other"} {
		ok, err := a.Lease(name).TryAcquire(t.Context())
		must(t, err)
		equal(t, "acquired "+name, ok, true)
	}
	eventually(t, 5*time.Second, "b sees a hold them", func() bool {
		h := b.Holders() // the cluster's own janitor lease is there too
		return h["outbox.x"] == a.ID() && h["outbox.y"] == a.ID() && h["other"] == a.ID()
	})

	must(t, a.Lease("other").Release(t.Context()))
	must(t, a.Lease("outbox.x").Release(t.Context()))
	equal(t, "released", receive(t, freed, 5*time.Second, "the release"), "outbox.x")
	// A holder that stops renewing, as a dead node does: its key expires.
	a.Lease("outbox.y").abandon()
	start := time.Now()
	equal(t, "expired", receive(t, freed, 5*testLeaseTTL, "the expiry"), "outbox.y")
	t.Logf("told of the expiry %s after the holder stopped renewing", time.Since(start))
	select {
	case name := <-freed:
		t.Fatalf("told of %s too", name)
	default:
	}
}

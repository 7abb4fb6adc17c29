package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/nats-io/nats.go"
)

// Short durations, so that deaths, expiries and takeovers happen within
// the test's patience.
const (
	testHeartbeat = 100 * time.Millisecond
	testDeadAfter = time.Second
	testLeaseTTL  = time.Second
)

// prefixes makes every test's buckets its own, so that tests may share servers.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

// connect connects to url (a comma-separated list), reconnecting quickly
// and forever, and closes the connection at the end of the test.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0), nats.DontRandomize())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// options returns test options for a node on nc with prefix.
func options(t testing.TB, nc *nats.Conn, prefix string) Options {
	return Options{Conn: nc, Prefix: prefix, Logger: natstest.Logger(t), Heartbeat: testHeartbeat,
		DeadAfter: testDeadAfter, LeaseTTL: testLeaseTTL, Node: Info{Version: "test", Addr: nc.ConnectedUrl()}}
}

// join joins a node and closes it at the end of the test.
func join(t testing.TB, o Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Join(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close %s: %v", c.ID(), err)
		}
	})
	return c
}

// joinAll joins one node per URL, concurrently (as nodes that start
// together do), sharing prefix and replicas.
// twoNodes joins two nodes on a new server, with a prefix of their own, and
// waits until each sees the other.
func twoNodes(t testing.TB) (*natstest.Server, *Cluster, *Cluster) {
	t.Helper()
	srv := natstest.Start(t)
	prefix := newPrefix()
	a := join(t, options(t, connect(t, srv.URL()), prefix))
	b := join(t, options(t, connect(t, srv.URL()), prefix))
	eventually(t, 5*time.Second, "a sees b", func() bool { return a.Others() == 1 && b.Others() == 1 })
	return srv, a, b
}

func joinAll(t testing.TB, prefix string, replicas int, urls ...string) []*Cluster {
	t.Helper()
	cs := make([]*Cluster, len(urls))
	errs := make(chan error, len(urls))
	for i, url := range urls {
		o := options(t, connect(t, url), prefix)
		o.Replicas = replicas
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := Join(ctx, o)
			cs[i] = c
			errs <- err
		}()
	}
	for range urls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cs {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Errorf("close %s: %v", c.ID(), err)
			}
		})
	}
	return cs
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(timeout); !cond(); <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
	}
}

// receive waits for a value on ch, failing the test after timeout.
func receive[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("%s: nothing after %s", what, timeout)
		var zero T
		return zero
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// ids returns the ids of nodes.
func ids(nodes []Node) string {
	s := make([]string, len(nodes))
	for i, n := range nodes {
		s[i] = n.ID
	}
	return strings.Join(s, ",")
}

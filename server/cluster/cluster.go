package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is this node's membership of the cluster. Its methods are safe
// for concurrent use.
type Cluster struct {
	o   Options // defaults applied
	id  string
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
	kv  buckets

	nodes     *nodeSet
	leases    *leaseSet
	sockets   *socketSet
	rpc       *rpc
	cutoffs   *cutoffs
	mcp       *mcpCopy
	followers []*follower

	statsFn  atomic.Pointer[func() Stats]
	beatNow  chan struct{} // cap 1: write a heartbeat at once
	beatMu   sync.Mutex
	selfNode Node // as last written

	beatLog, renewLog, socketLog, mcpLog throttle

	// ctx ends, with cause ErrClosed, when Close begins: it stops the
	// loops, Run's campaigns and the handlers of requests.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// runs are Run calls, which release their leases as they return;
	// keepers renew held leases until released; workers are the rest.
	// Close waits for them in that order.
	runs, keepers, workers group
	closed                 atomic.Bool
}

// Join makes this process a node of the cluster: it creates the buckets
// or brings their configuration up to date (nodes that start at once
// agree), follows them, writes the first heartbeat, and serves requests.
// On return, Nodes lists every node alive at the time.
func Join(ctx context.Context, o Options) (*Cluster, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{o: o, id: o.Node.ID, nc: o.Conn, js: js, beatNow: make(chan struct{}, 1),
		log: o.Logger.With("component", "cluster", "node", o.Node.ID)}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.sockets = newSocketSet(c)
	c.nodes = newNodeSet(c.id, c.sockets.nodesChanged)
	c.leases = newLeaseSet(c)
	c.rpc = &rpc{c: c, handlers: map[string]Handler{}, inflight: map[string]context.CancelCauseFunc{}}
	c.cutoffs = &cutoffs{c: c, poke: make(chan struct{}, 1)}
	c.mcp = newMCPCopy(c)
	c.selfNode = Node{ID: c.id, Version: o.Node.Version, Addr: o.Node.Addr, Started: o.Node.Started, Self: true}
	if err := c.start(ctx); err != nil {
		c.cancel(ErrClosed)
		for _, g := range []*group{&c.runs, &c.keepers, &c.workers} {
			g.close()
			_ = g.wait(context.Background())
		}
		for _, sub := range []*nats.Subscription{c.rpc.sub, c.mcp.sub} {
			if sub != nil {
				_ = sub.Unsubscribe()
			}
		}
		return nil, err
	}
	return c, nil
}

// start does the work of Join.
func (c *Cluster) start(ctx context.Context) error {
	if err := c.createBuckets(ctx); err != nil {
		return err
	}
	c.followers = []*follower{
		newFollower(c.kv.nodes, c.log, c.nodes.apply, c.nodes.reset),
		newFollower(c.kv.leases, c.log, c.leases.apply, c.leases.reset),
		newFollower(c.kv.sockets, c.log, c.sockets.apply, c.sockets.reset),
		newFollower(c.kv.mcp, c.log, c.mcp.apply, c.mcp.reset),
	}
	for _, f := range c.followers {
		c.workers.goFunc(func() { f.run(c.ctx) })
	}
	for _, f := range c.followers {
		select {
		case <-f.synced:
		case <-ctx.Done():
			return fmt.Errorf("cluster: reading bucket %s: %w", f.kv.Bucket(), ctx.Err())
		}
	}
	if err := c.rpc.start(); err != nil {
		return err
	}
	if err := c.mcp.subscribe(); err != nil {
		return err
	}
	if err := c.firstBeat(ctx); err != nil {
		return fmt.Errorf("cluster: first heartbeat: %w", err)
	}
	c.workers.goFunc(func() { c.heartbeats(c.ctx) })
	c.workers.goFunc(func() { c.cutoffs.run(c.ctx) })
	c.workers.goFunc(func() { c.sockets.writes(c.ctx) })
	c.workers.goFunc(func() { c.sockets.reconciles(c.ctx) })
	c.workers.goFunc(func() { c.janitor(c.ctx) })
	c.log.Info("cluster: joined", "nodes", len(c.Nodes()))
	return nil
}

// firstBeat writes the first heartbeat, retrying for a while: a bucket
// just created on a cluster of NATS servers has no leader for a moment.
func (c *Cluster) firstBeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	for {
		err := c.beat(ctx, setupTimeout)
		if err == nil {
			return nil
		}
		if sleep(ctx, watchRetry) != nil {
			return err
		}
	}
}

// ID is this node's id.
func (c *Cluster) ID() string { return c.id }

// closing reports whether Close has begun.
func (c *Cluster) closing() bool { return c.closed.Load() }

// Close leaves the cluster gracefully: it ends Run's campaigns and
// releases every lease this node holds (other nodes, watching, take them
// over at once), removes this node's heartbeat and sockets from the
// buckets (other nodes see it gone at once rather than after DeadAfter),
// and stops its goroutines. ctx bounds the wait for Run's functions to
// return and for the writes; what is not done by then expires. The
// connection stays open. Close is idempotent.
func (c *Cluster) Close(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.cancel(ErrClosed)
	var errs []error
	wait := func(g *group, what string) {
		g.close()
		if err := g.wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster: close: waiting for %s: %w", what, err))
		}
	}
	wait(&c.runs, "Run")
	connected := c.nc.IsConnected()
	if connected {
		for _, l := range c.leases.all() {
			if err := l.Release(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, sub := range []*nats.Subscription{c.rpc.sub, c.mcp.sub} {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("cluster: close: %w", err))
		}
	}
	wait(&c.workers, "goroutines") // no socket write in flight after this
	if connected {
		if err := c.sockets.purgeOwn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster: close: sockets: %w", err))
		}
		if err := c.kv.nodes.Delete(ctx, c.id); err != nil {
			errs = append(errs, fmt.Errorf("cluster: close: heartbeat: %w", err))
		}
	}
	// Leases still held were acquired while closing, or not released in
	// time: their keepers stop here and their keys expire.
	c.keepers.close()
	for _, l := range c.leases.all() {
		l.abandon()
	}
	wait(&c.keepers, "lease keepers")
	return errors.Join(errs...)
}

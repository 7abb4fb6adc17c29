package cluster

import (
	"context"
	"encoding/json"
	"time"
)

// SetStats sets the function whose figures each heartbeat publishes. Until
// it is called, heartbeats count the sockets registered with SocketOpened.
func (c *Cluster) SetStats(f func() Stats) {
	c.statsFn.Store(&f)
}

// Nodes returns the alive nodes, this one included, sorted by ID.
func (c *Cluster) Nodes() []Node {
	c.beatMu.Lock()
	self := c.selfNode
	c.beatMu.Unlock()
	return c.nodes.list(self)
}

// Others is the number of alive nodes other than this one, per the last
// known state of the nodes bucket (while NATS is unreachable: before it
// became unreachable).
func (c *Cluster) Others() int {
	return c.nodes.others()
}

// heartbeats writes a heartbeat every Heartbeat, and at once when asked
// (beatNow, after a reconnect), until ctx ends.
func (c *Cluster) heartbeats(ctx context.Context) {
	t := time.NewTicker(c.o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.beatNow:
		}
		if !c.nc.IsConnected() {
			continue // the write would wait in the reconnect buffer; the rejoin beats
		}
		if err := c.beat(ctx, c.o.DeadAfter/2); err != nil && ctx.Err() == nil {
			c.beatLog.warn(c.log, "cluster: heartbeat", "err", err)
		}
	}
}

// beat writes this node's heartbeat, giving up after timeout (a late
// heartbeat still counts, until the node would be dead) or when ctx ends.
func (c *Cluster) beat(ctx context.Context, timeout time.Duration) error {
	stats := Stats{Sockets: c.sockets.ownCount()}
	if f := c.statsFn.Load(); f != nil {
		stats = (*f)()
	}
	i := c.o.Node
	b := beat{ID: c.id, Version: i.Version, Addr: i.Addr, Started: i.Started, Beat: c.o.Now(), Stats: stats}
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.kv.nodes.Put(ctx, c.id, data); err != nil {
		return err
	}
	c.beatMu.Lock()
	c.selfNode = Node{ID: c.id, Version: i.Version, Addr: i.Addr, Started: i.Started, Beat: b.Beat, Sockets: stats.Sockets, Self: true}
	c.beatMu.Unlock()
	return nil
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// markerTTL is how long the marker of a key removed by expiry or purge
	// stays in a bucket: long enough for every watcher to see it, short
	// enough that removed keys cost nothing for long.
	markerTTL = time.Minute
	// nonceTTL is how long a nonce stays used.
	nonceTTL = 10 * time.Minute
	// createAttempts bounds the attempts at a bucket's creation: six take
	// up to a minute when unanswered, 3 s when refused at once.
	createAttempts = 6
	// setupTimeout bounds the first heartbeat, within Join's context.
	setupTimeout = 10 * time.Second
	// createTimeout is the first attempt's timeout, doubled at each retry.
	// A creation takes milliseconds, but a request may go unanswered while
	// JetStream elects a leader.
	createTimeout = time.Second
)

// buckets are the Cluster's KV buckets.
type buckets struct {
	nodes, leases, nonces, rates, sockets, mcp jetstream.KeyValue
}

// bucketSpec is a bucket's configuration and where its handle goes.
type bucketSpec struct {
	cfg jetstream.KeyValueConfig
	kv  *jetstream.KeyValue
}

// bucketSpecs lists every bucket.
func (c *Cluster) bucketSpecs() []bucketSpec {
	p, r := c.o.Prefix, c.o.Replicas
	return []bucketSpec{
		// A heartbeat expires DeadAfter after it was written; the marker
		// tells every node at once.
		{jetstream.KeyValueConfig{Bucket: p + "_nodes", Description: "relay cluster: node heartbeats",
			TTL: c.o.DeadAfter, LimitMarkerTTL: markerTTL, Replicas: r}, &c.kv.nodes},
		// A lease not renewed expires; the marker wakes the campaigns.
		{jetstream.KeyValueConfig{Bucket: p + "_leases", Description: "relay cluster: leases",
			TTL: c.o.LeaseTTL, LimitMarkerTTL: markerTTL, Replicas: r}, &c.kv.leases},
		{jetstream.KeyValueConfig{Bucket: p + "_nonces", Description: "relay cluster: used nonces",
			TTL: nonceTTL, Replicas: r}, &c.kv.nonces},
		// Each write carries its own TTL (rates.go), which needs markers.
		{jetstream.KeyValueConfig{Bucket: p + "_rates", Description: "relay cluster: rate limits",
			LimitMarkerTTL: markerTTL, Replicas: r}, &c.kv.rates},
		// Sockets live until closed; purges leave markers that expire.
		{jetstream.KeyValueConfig{Bucket: p + "_sockets", Description: "relay cluster: open sockets",
			LimitMarkerTTL: markerTTL, Replicas: r}, &c.kv.sockets},
		// Each write carries the session TTL of the node that wrote it
		// (mcpsessions.go), so that RELAY_MCP_SESSION_TTL is no bucket
		// setting; the markers tell every node of an expiry.
		{jetstream.KeyValueConfig{Bucket: p + "_mcp", Description: "relay cluster: MCP sessions",
			LimitMarkerTTL: markerTTL, Replicas: r}, &c.kv.mcp},
	}
}

// createBuckets creates the buckets or brings their configuration up to
// date. It is idempotent, and safe for nodes that start at once: it
// creates first, which succeeds for every node when they agree, and updates
// only a bucket whose configuration differs. (nats.go's CreateOrUpdate
// updates first, and on a cluster of NATS servers concurrent updates of a
// bucket being created go unanswered.)
func (c *Cluster) createBuckets(ctx context.Context) error {
	for _, b := range c.bucketSpecs() {
		var err error
		timeout := createTimeout
		for attempt := range createAttempts {
			actx, cancel := context.WithTimeout(ctx, timeout)
			*b.kv, err = c.js.CreateKeyValue(actx, b.cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				*b.kv, err = c.js.UpdateKeyValue(actx, b.cfg)
			}
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			c.log.Debug("cluster: create bucket", "bucket", b.cfg.Bucket, "err", err)
			timeout *= 2
			// Quick failures ("no suitable peers": a server's heartbeat is
			// late) wait longer each time.
			if err := sleep(ctx, 100*time.Millisecond<<attempt); err != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("cluster: bucket %s: %w", b.cfg.Bucket, err)
		}
	}
	return nil
}

// updateTTL writes value to key of kv if its revision is still rev, with
// a TTL of its own (ttl rounded up to whole seconds): kv.Update cannot set
// one, so it publishes to the key's subject as Update does.
func (c *Cluster) updateTTL(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	m := &nats.Msg{Subject: "$KV." + kv.Bucket() + "." + key, Data: value}
	ack, err := c.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(wholeSeconds(ttl)))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// wholeSeconds rounds d up to whole seconds, at least one: the resolution
// of a message's TTL.
func wholeSeconds(d time.Duration) time.Duration {
	s := d.Truncate(time.Second)
	if s < d || s == 0 {
		s += time.Second
	}
	return s
}

// sleep waits for d or until ctx ends, and then returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

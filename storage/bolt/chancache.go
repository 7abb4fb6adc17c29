package bolt

import (
	"bytes"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/chaos-relay/relay/storage"
)

// chanCacheMax bounds the channel cache; past it the cache starts over.
const chanCacheMax = 100_000

// chanCache keeps decoded channel records: every inbound request looks its
// channel up, and decoding the record was a sixth of the ingest path's CPU.
//
// A write that changes channels invalidates their entries after its commit
// and bumps gen. A reader notes gen before its read transaction and fills the
// cache only if gen has not moved since, so a read that began before a commit
// can never put the old record back.
type chanCache struct {
	gen atomic.Uint64
	mu  sync.RWMutex
	m   map[string]storage.Channel
}

func newChanCache() *chanCache { return &chanCache{m: map[string]storage.Channel{}} }

// get returns a copy of the cached channel: a caller that changes its
// metadata or platform ids must not change the cache.
func (c *chanCache) get(id string) (storage.Channel, bool) {
	c.mu.RLock()
	ch, ok := c.m[id]
	c.mu.RUnlock()
	return cloneChannel(ch), ok
}

func cloneChannel(ch storage.Channel) storage.Channel {
	ch.Metadata = bytes.Clone(ch.Metadata)
	ch.Platform = maps.Clone(ch.Platform)
	return ch
}

// fill stores ch if no channel changed since gen was read.
func (c *chanCache) fill(gen uint64, ch storage.Channel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.m) >= chanCacheMax {
		clear(c.m)
	}
	c.m[ch.ID] = cloneChannel(ch) // the caller keeps its own
}

// invalidate forgets channels after a commit that changed them; with no ids
// it forgets every channel.
func (c *chanCache) invalidate(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if len(ids) == 0 {
		clear(c.m)
	}
	for _, id := range ids {
		delete(c.m, id)
	}
}

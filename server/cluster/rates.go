package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/ratelimit"
)

const (
	// rateTimeout bounds the KV round trips of one Allow; past it, the call
	// falls back to the local limiter.
	rateTimeout = time.Second
	// chunkLife is how long tokens a node took but did not use stay usable
	// here. Dropping them only ever admits less.
	chunkLife = time.Second
	// rateAttempts bounds the compare-and-set retries of one Allow on a key
	// contended by other nodes; past it the request is refused for one
	// interval, which never admits more than the rate.
	rateAttempts = 5
	// emailInboundKey is ratelimit's one key of the global email limit.
	emailInboundKey = "email-inbound"
)

// Limiters are ratelimit's limits, shared by every node of the cluster:
// a client gets no more than the configured rate plus one burst in all,
// however many nodes it spreads its requests over. It is safe for
// concurrent use.
type Limiters struct {
	c        *Cluster
	disabled bool
	limits   map[ratelimit.Name]gcra
	local    *ratelimit.Limiters // when the bucket is unreachable

	mu      sync.Mutex
	entries map[rateKey]*rateEntry

	fallbacks atomic.Uint64
	fallLog   throttle
}

type rateKey struct {
	name ratelimit.Name
	key  string
}

// rateEntry is what this node knows of one key's bucket.
type rateEntry struct {
	mu           sync.Mutex // held across the key's KV round trips: this node's requests for a key take turns
	rev          uint64     // the KV entry's revision as last seen; 0 for none
	tat          time.Time  // its TAT as last seen: a lower bound of the truth, which only grows
	tokens       int        // taken from the bucket, not used yet
	tokensUntil  time.Time
	refusedUntil time.Time // no token before then, whatever other nodes do
}

// Limiters returns the cluster-wide limiters of cfg. Like ratelimit.New it
// panics if cfg is not valid: call cfg.Validate first.
func (c *Cluster) Limiters(cfg ratelimit.Config) *Limiters {
	l := &Limiters{c: c, disabled: cfg.Disabled, local: ratelimit.New(cfg, c.o.Now), entries: map[rateKey]*rateEntry{}}
	if cfg.Disabled {
		return l
	}
	l.limits = map[ratelimit.Name]gcra{
		ratelimit.Register:     newGCRA(cfg.Register),
		ratelimit.Messages:     newGCRA(cfg.Messages),
		ratelimit.Reply:        newGCRA(cfg.Reply),
		ratelimit.Webhook:      newGCRA(cfg.Webhook),
		ratelimit.EmailInbound: newGCRA(cfg.EmailInbound),
		ratelimit.Channels:     newGCRA(cfg.Channels),
		ratelimit.AdminLogin:   newGCRA(cfg.AdminLogin),
		ratelimit.MCP:          newGCRA(cfg.MCP),
	}
	return l
}

// Allow is ratelimit.Limiters.Allow, counted across the cluster: it takes
// a token from limit name's bucket for key, or returns ok=false and the
// time until one will be available. A nil or disabled Limiters admits
// everything; an unknown name panics.
//
// Cost: a request served from tokens this node took earlier, or refused
// because the key is known to be empty, costs no round trip; otherwise one
// KV compare-and-set takes a chunk of tokens (one, or 100 ms worth of the
// rate for fast limits), plus one read and one more write per conflict
// with another node. When the bucket is unreachable the call is answered
// by this node's own limiter, and counted (Fallbacks).
func (l *Limiters) Allow(name ratelimit.Name, key string) (wait time.Duration, ok bool) {
	if l == nil || l.disabled {
		return 0, true
	}
	g, known := l.limits[name]
	if !known {
		panic(fmt.Sprintf("cluster: unknown limit %q", name))
	}
	if name == ratelimit.EmailInbound {
		key = emailInboundKey
	}
	e := l.entry(rateKey{name, key})
	e.mu.Lock()
	defer e.mu.Unlock()
	now := l.c.o.Now()
	if e.tokens > 0 && now.Before(e.tokensUntil) {
		e.tokens--
		return 0, true
	}
	if now.Before(e.refusedUntil) {
		return e.refusedUntil.Sub(now), false
	}
	if !l.c.nc.IsConnected() {
		return l.fallback(name, key, nats.ErrDisconnected)
	}
	wait, ok, err := l.take(e, g, string(name)+"."+hashToken(key)[1:], now)
	if err != nil {
		return l.fallback(name, key, err)
	}
	return wait, ok
}

// take takes a chunk of tokens for e from the KV bucket (key k), retrying
// on conflicts with other nodes. Lock e.mu must be held.
func (l *Limiters) take(e *rateEntry, g gcra, k string, now time.Time) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(l.c.ctx, rateTimeout)
	defer cancel()
	for range rateAttempts {
		n, tat, wait := g.take(e.tat, now, g.chunk)
		if n == 0 {
			// Refused on what this node knows, which is at most what
			// the bucket holds: refused on the truth as well.
			e.refusedUntil = now.Add(wait)
			return wait, false, nil
		}
		rev, err := l.write(ctx, k, e.rev, tat, now)
		if err == nil {
			e.rev, e.tat = rev, tat
			e.tokens, e.tokensUntil = n-1, now.Add(chunkLife)
			return 0, true, nil
		}
		if !isConflict(err) {
			return 0, false, err
		}
		if err := l.read(ctx, e, k); err != nil {
			return 0, false, err
		}
	}
	return g.interval, false, nil
}

// write stores tat for key k, expecting revision rev (0: no key). The
// entry expires a second after its TAT, when it would be a full bucket
// anyway, so idle keys cost nothing.
func (l *Limiters) write(ctx context.Context, k string, rev uint64, tat, now time.Time) (uint64, error) {
	ttl := tat.Sub(now).Truncate(time.Second) + 2*time.Second // whole seconds, rounded up, plus one
	v := []byte(strconv.FormatInt(tat.UnixNano(), 10))
	kv := l.c.kv.rates
	if rev == 0 {
		// Create also takes over a key whose last revision is a marker.
		return kv.Create(ctx, k, v, jetstream.KeyTTL(ttl))
	}
	return l.c.updateTTL(ctx, kv, k, v, rev, ttl)
}

// read brings e up to date with the bucket after a conflict.
func (l *Limiters) read(ctx context.Context, e *rateEntry, k string) error {
	kve, err := l.c.kv.rates.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		e.rev, e.tat = 0, time.Time{}
		return nil
	}
	if err != nil {
		return err
	}
	ns, err := strconv.ParseInt(string(kve.Value()), 10, 64)
	if err != nil {
		return fmt.Errorf("cluster: rate %s: bad value: %w", k, err)
	}
	e.rev, e.tat = kve.Revision(), time.Unix(0, ns)
	return nil
}

// fallback answers from this node's own limiter, and counts it.
func (l *Limiters) fallback(name ratelimit.Name, key string, err error) (time.Duration, bool) {
	l.fallbacks.Add(1)
	l.fallLog.warn(l.c.log, "cluster: rate limit answered locally", "err", err)
	return l.local.Allow(name, key)
}

// Fallbacks is how many calls of Allow were answered by the local limiter
// because the bucket was unreachable.
func (l *Limiters) Fallbacks() uint64 {
	if l == nil {
		return 0
	}
	return l.fallbacks.Load()
}

// Disabled reports whether l admits everything.
func (l *Limiters) Disabled() bool { return l == nil || l.disabled }

// entry returns key's entry, creating it on first use.
func (l *Limiters) entry(k rateKey) *rateEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[k]
	if e == nil {
		e = &rateEntry{}
		l.entries[k] = e
	}
	return e
}

// Prune forgets keys this node knows nothing useful about any more (no
// tokens, no refusal, a full bucket), and prunes the local fallback.
// Returns how many it forgot. Call it periodically, as ratelimit's.
func (l *Limiters) Prune() int {
	if l.Disabled() {
		return 0
	}
	now := l.c.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, e := range l.entries {
		if !e.mu.TryLock() {
			continue // in use
		}
		if !now.Before(e.tat) && !now.Before(e.refusedUntil) && (e.tokens == 0 || !now.Before(e.tokensUntil)) {
			delete(l.entries, k)
			n++
		}
		e.mu.Unlock()
	}
	return n + l.local.Prune()
}

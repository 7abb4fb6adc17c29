package ratelimit

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key, created on first use.
// It is safe for concurrent use.
//
// Lock order: Keyed.mu before entry.mu. Reserve never holds both; Prune does.
type Keyed struct {
	rate  Rate
	limit rate.Limit
	now   func() time.Time

	mu sync.RWMutex
	m  map[string]*entry
}

// entry is one key's bucket.
//
// Its mutex makes "reserve, then cancel if refused" atomic. x/time/rate
// restores a cancelled reservation's token only as far as later
// reservations allow, so two refused requests on one key that cancel in the
// order they reserved would lose a token for good: a refused request would
// consume quota, which PROTOCOL §8 forbids. The mutex also lets Reserve read
// the clock under it, so one bucket never sees time go backwards.
type entry struct {
	mu     sync.Mutex
	lim    *rate.Limiter
	pruned bool // removed from the map; Reserve must look the key up again
}

// NewKeyed returns buckets of rate r; now == nil means time.Now. It panics
// if r is not valid (a count below 1 or a duration that is not positive):
// rates come from ParseRate or a validated Config.
func NewKeyed(r Rate, now func() time.Time) *Keyed {
	if err := r.validate(); err != nil {
		panic(fmt.Sprintf("ratelimit: NewKeyed(%s): %v", r, err))
	}
	if now == nil {
		now = time.Now
	}
	return &Keyed{rate: r, limit: r.limit(), now: now, m: make(map[string]*entry)}
}

// Reserve takes one token for key. When the bucket is empty it takes
// nothing and returns ok=false and the time until a token will be available
// (> 0). A request that waits that long and tries again is admitted, unless
// another request for the same key took the token first.
func (k *Keyed) Reserve(key string) (retryAfter time.Duration, ok bool) {
	for {
		e := k.entry(key)
		e.mu.Lock()
		if e.pruned {
			// Prune removed e after we looked it up. Taking a token from e
			// would be lost, and the key's new bucket would start full.
			e.mu.Unlock()
			continue
		}
		now := k.now()
		r := e.lim.ReserveN(now, 1)
		d := r.DelayFrom(now)
		if d > 0 {
			r.CancelAt(now)
		}
		e.mu.Unlock()
		if d > 0 {
			return d, false
		}
		return 0, true
	}
}

// entry returns key's bucket, creating a full one on first use. Looking up
// an existing key takes only the read lock and allocates nothing.
func (k *Keyed) entry(key string) *entry {
	k.mu.RLock()
	e := k.m[key]
	k.mu.RUnlock()
	if e != nil {
		return e
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.m[key]; e != nil {
		return e
	}
	e = &entry{lim: rate.NewLimiter(k.limit, k.rate.N)}
	// The key may be a slice of a large request buffer; keep only its bytes.
	k.m[strings.Clone(key)] = e
	return e
}

// Prune forgets keys whose bucket has refilled completely (they behave
// exactly like a new key). Returns how many were removed.
//
// It holds the write lock for one pass over all keys, so it is meant for a
// periodic janitor, not for request paths.
func (k *Keyed) Prune() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	burst := float64(k.rate.N)
	n := 0
	for key, e := range k.m {
		e.mu.Lock()
		if e.lim.TokensAt(now) >= burst {
			e.pruned = true
			delete(k.m, key)
			n++
		}
		e.mu.Unlock()
	}
	return n
}

// Len returns the number of keys with a bucket.
func (k *Keyed) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.m)
}

package server

import (
	"crypto/sha256"
	"sync"
	"time"
)

type nonceResult int

const (
	nonceRecorded nonceResult = iota
	nonceReplayed
	nonceFull
)

// nonceKey is what a nonce is remembered by: 16 bytes of its SHA-256, so
// that a nonce of up to 256 bytes costs the same as a short one. Two nonces
// sharing it would make the second look replayed, which is harmless (the
// client signs again with a new nonce) and, at 128 bits, never happens.
type nonceKey [16]byte

// hashNonce is the key a nonce is remembered by, here and by a cluster.
func hashNonce(nonce string) nonceKey {
	sum := sha256.Sum256([]byte(nonce))
	return nonceKey(sum[:16])
}

// nonceStore remembers the nonces of verified requests per user for ttl.
// Memory is bounded per user: past max live nonces, requests are refused
// until some expire. Nonces live in memory only; PROTOCOL §2.5 explains why
// that is enough.
type nonceStore struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	users map[string]map[nonceKey]int64 // user → nonce → expiry (unix ms)
}

func newNonceStore(ttl time.Duration, max int) *nonceStore {
	return &nonceStore{ttl: ttl, max: max, users: map[string]map[nonceKey]int64{}}
}

// add checks and records nonce for user atomically.
func (n *nonceStore) add(user, nonce string, now time.Time) nonceResult {
	key, ms := hashNonce(nonce), now.UnixMilli()
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.users[user]
	if set == nil {
		set = map[nonceKey]int64{}
		n.users[user] = set
	}
	if exp, ok := set[key]; ok && ms < exp {
		return nonceReplayed
	}
	if len(set) >= n.max {
		expire(set, ms)
		if len(set) >= n.max {
			return nonceFull
		}
	}
	set[key] = now.Add(n.ttl).UnixMilli()
	return nonceRecorded
}

// forget drops a user's nonces (the session was deleted).
func (n *nonceStore) forget(user string) {
	n.mu.Lock()
	delete(n.users, user)
	n.mu.Unlock()
}

// prune drops expired nonces and empty users.
func (n *nonceStore) prune(now time.Time) {
	ms := now.UnixMilli()
	n.mu.Lock()
	defer n.mu.Unlock()
	for user, set := range n.users {
		if expire(set, ms); len(set) == 0 {
			delete(n.users, user)
		}
	}
}

func expire(set map[nonceKey]int64, ms int64) {
	for k, exp := range set {
		if ms >= exp {
			delete(set, k)
		}
	}
}

package server

import (
	"sync"
	"time"
)

type nonceResult int

const (
	nonceRecorded nonceResult = iota
	nonceReplayed
	nonceFull
)

// nonceStore remembers the nonces of verified requests per user for ttl.
// Memory is bounded per user: past max live nonces, requests are refused
// until some expire. Nonces live in memory only; PROTOCOL §2.5 explains why
// that is enough.
type nonceStore struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	users map[string]map[string]time.Time // user → nonce → expiry
}

func newNonceStore(ttl time.Duration, max int) *nonceStore {
	return &nonceStore{ttl: ttl, max: max, users: map[string]map[string]time.Time{}}
}

// add checks and records nonce for user atomically.
func (n *nonceStore) add(user, nonce string, now time.Time) nonceResult {
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.users[user]
	if set == nil {
		set = map[string]time.Time{}
		n.users[user] = set
	}
	if exp, ok := set[nonce]; ok && now.Before(exp) {
		return nonceReplayed
	}
	if len(set) >= n.max {
		expire(set, now)
		if len(set) >= n.max {
			return nonceFull
		}
	}
	set[nonce] = now.Add(n.ttl)
	return nonceRecorded
}

// prune drops expired nonces and empty users.
func (n *nonceStore) prune(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for user, set := range n.users {
		if expire(set, now); len(set) == 0 {
			delete(n.users, user)
		}
	}
}

func expire(set map[string]time.Time, now time.Time) {
	for k, exp := range set {
		if !now.Before(exp) {
			delete(set, k)
		}
	}
}

package jetstream

import (
	"slices"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
)

// msgIndex is this instance's index of every user's message log (m.*),
// built from the headers of the log's messages: 16 bytes per retained
// message. The consumer of the message logs keeps it current, and this
// instance's appends update it as soon as they are acknowledged (itemLog
// says when they may).
type msgIndex struct {
	mu    sync.RWMutex
	users map[string]*itemLog
}

func newMsgIndex() *msgIndex { return &msgIndex{users: make(map[string]*itemLog)} }

// apply applies the message at seq of user's log, published expecting prev
// (anyPrev from the consumer). It reports whether the log took it, and
// whether a new message became readable.
func (x *msgIndex) apply(user string, seq, prev uint64, hdr nats.Header) (applied, added bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	l := x.users[user]
	if l == nil {
		l = &itemLog{}
		x.users[user] = l
	}
	if !l.canApply(seq, prev) {
		return seq <= l.last, false
	}
	switch hdr.Get(hdrOp) {
	case "":
		ts, err := strconv.ParseUint(hdr.Get(hdrTs), 10, 64)
		if err != nil {
			l.last = seq // not a message of ours: step over it
			return true, false
		}
		l.add(ts, seq)
		return true, true
	case opTrim:
		l.trim(headerMillis(hdr, hdrThrough))
	case opDrop:
		l.clear()
		l.newest = max(l.newest, headerMillis(hdr, hdrThrough))
	}
	l.last = seq
	return true, false
}

// headerMillis reads a header holding unix ms, or 0.
func headerMillis(hdr nats.Header, key string) uint64 {
	v, _ := strconv.ParseUint(hdr.Get(key), 10, 64)
	return v
}

// tail returns user's log bounds and retained count.
func (x *msgIndex) tail(user string) (lastSeq, newest uint64, count int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l := x.users[user]
	lastSeq, newest = l.tail()
	return lastSeq, newest, l.count()
}

// after returns up to n of user's messages with a timestamp ≥ from.
func (x *msgIndex) after(user string, from uint64, n int) []entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.users[user].after(from, n)
}

// before returns up to n of user's newest messages older than end.
func (x *msgIndex) before(user string, end uint64, n int) []entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.users[user].before(end, n)
}

// countSince counts everyone's messages with a timestamp ≥ from.
func (x *msgIndex) countSince(from uint64) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, l := range x.users {
		n += l.countSince(from)
	}
	return n
}

// total counts everyone's retained messages.
func (x *msgIndex) total() int { return x.countSince(0) }

// expired returns the users with messages older than before.
func (x *msgIndex) expired(before uint64) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	for user, l := range x.users {
		if len(l.ts) > 0 && l.ts[0] < before {
			out = append(out, user)
		}
	}
	return out
}

// expiredOf says what sweeping user's messages older than before removes.
func (x *msgIndex) expiredOf(user string, before uint64) (expiry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l := x.users[user]
	if l == nil {
		return expiry{}, false
	}
	n := len(l.ts) - l.countSince(before)
	if n == 0 {
		return expiry{}, false
	}
	e := expiry{through: l.ts[n-1], count: n, last: l.last}
	if n < len(l.ts) {
		e.keepFrom = l.seq[n]
	}
	return e, true
}

// expiry is what a sweep removes from one log.
type expiry struct {
	through  uint64 // the newest removed timestamp
	count    int
	keepFrom uint64 // the first kept item's sequence, 0 when none is kept
	last     uint64 // the log's last sequence when the sweep looked
}

// newest returns up to n of the newest messages over all users, newest first.
func (x *msgIndex) newest(n int) []userEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []userEntry
	newestFirst := func(a, b userEntry) int { return cmpUint(b.ts, a.ts) }
	for user, l := range x.users {
		for _, e := range l.before(^uint64(0), n) {
			out = append(out, userEntry{user: user, entry: e})
		}
		if len(out) > 4*n { // keep the candidates few
			slices.SortFunc(out, newestFirst)
			out = out[:n]
		}
	}
	slices.SortFunc(out, newestFirst)
	return out[:min(n, len(out))]
}

// userEntry is a message of a user.
type userEntry struct {
	user string
	entry
}

package bolt

import (
	"encoding/binary"
	"slices"
	"sync"

	bbolt "go.etcd.io/bbolt"
)

// userIndex is the in-memory index of the message log: each user's retained
// message timestamps, ascending. The log is keyed by time so that the messages
// of one group commit share their pages (one append point instead of one per
// user); this index is what finds one user's messages in it. It costs 8 bytes
// per retained message and is rebuilt from the log's keys at start-up.
//
// It only ever holds committed messages: the writer applies each
// transaction's changes after the commit and before acknowledging it, in
// commit order. A reader that takes timestamps from the index and then opens a
// read transaction therefore finds every one of them, unless the sweep
// removed it in between, and a cursor that follows the index never skips a
// message.
type userIndex struct {
	mu    sync.RWMutex
	users map[string][]uint64
	// floor is at least the newest timestamp the sweep has deleted (kept in
	// the meta bucket). With a user's newest retained timestamp it bounds
	// every timestamp the user ever had, so new ones keep increasing.
	floor uint64
	// horizons are each user's newest deleted timestamp (the horizons
	// bucket): the gap signal.
	horizons map[string]uint64
}

// loadIndex builds the index from the keys of the message log.
func loadIndex(tx *bbolt.Tx) *userIndex {
	// Lists by pointer while loading: a lookup with string(user) does not
	// allocate, an assignment would, so only a new user costs a string.
	lists := make(map[string]*[]uint64)
	c := tx.Bucket(bMessageLog).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		ms, user := splitTimeKey(k)
		if list, ok := lists[string(user)]; ok {
			*list = append(*list, ms)
		} else {
			lists[string(user)] = &[]uint64{ms}
		}
	}
	x := &userIndex{users: make(map[string][]uint64, len(lists)), floor: getUint64(tx.Bucket(bMeta), keySweptThrough),
		horizons: map[string]uint64{}}
	for user, list := range lists {
		x.users[user] = *list
	}
	_ = tx.Bucket(bHorizons).ForEach(func(k, v []byte) error {
		if len(v) == 8 {
			x.horizons[string(k)] = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return x
}

// horizon is the newest timestamp of the user's deleted messages (0: none).
func (x *userIndex) horizon(user string) uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.horizons[user]
}

// userTail is what appending to a user's messages needs to know.
type userTail struct {
	last  uint64 // no message of the user ever had a later timestamp
	count int    // retained messages, for the backlog cap
}

func (x *userIndex) tail(user string) userTail {
	x.mu.RLock()
	defer x.mu.RUnlock()
	list := x.users[user]
	t := userTail{last: x.floor, count: len(list)}
	if len(list) > 0 {
		t.last = max(t.last, list[len(list)-1])
	}
	return t
}

// after returns up to n of user's timestamps that are ≥ from, ascending.
func (x *userIndex) after(user string, from uint64, n int) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	list := x.users[user]
	i, _ := slices.BinarySearch(list, from)
	list = list[i:]
	return slices.Clone(list[:min(len(list), n)])
}

// before returns up to n of user's timestamps that are < end, ascending: the
// newest n before end.
func (x *userIndex) before(user string, end uint64, n int) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	list := x.users[user]
	i, _ := slices.BinarySearch(list, end)
	return slices.Clone(list[max(0, i-n):i])
}

// countSince returns how many retained messages of all users are ≥ from.
func (x *userIndex) countSince(from uint64) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, list := range x.users {
		i, _ := slices.BinarySearch(list, from)
		n += len(list) - i
	}
	return n
}

// apply makes a committed transaction's changes visible.
func (x *userIndex) apply(ch *indexChanges) {
	if len(ch.ops) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, op := range ch.ops {
		switch op.kind {
		case opAppend:
			x.users[op.user] = append(x.users[op.user], op.ms)
		case opRemove:
			list := x.users[op.user]
			if i, found := slices.BinarySearch(list, op.ms); found {
				if i == 0 {
					list = list[1:] // the sweep's common case: the oldest goes
				} else {
					list = slices.Delete(list, i, i+1)
				}
			}
			switch {
			case len(list) == 0:
				delete(x.users, op.user)
			case len(list) < cap(list)/4: // let go of the trimmed head
				x.users[op.user] = slices.Clone(list)
			default:
				x.users[op.user] = list
			}
			x.floor = max(x.floor, op.ms)
			x.horizons[op.user] = max(x.horizons[op.user], op.ms)
		case opDrop:
			delete(x.users, op.user)
			delete(x.horizons, op.user)
		}
	}
}

// indexChanges are the index changes of the transaction in progress. Only the
// writer goroutine touches them: write functions record what they did, and
// the writer applies the record once the transaction has committed, or
// discards it when the transaction is rolled back.
type indexChanges struct {
	index *userIndex
	ops   []indexOp
	tails map[string]userTail // the users this transaction changed, as it leaves them
}

type indexOp struct {
	kind indexOpKind
	user string
	ms   uint64
}

type indexOpKind uint8

const (
	opAppend indexOpKind = iota // a message at ms
	opRemove                    // the message at ms is gone (the sweep)
	opDrop                      // every message of the user is gone
)

func (ch *indexChanges) reset() {
	clear(ch.ops)
	ch.ops = ch.ops[:0]
	clear(ch.tails)
}

// tail is user's tail as the transaction in progress sees it.
func (ch *indexChanges) tail(user string) userTail {
	if t, ok := ch.tails[user]; ok {
		return t
	}
	return ch.index.tail(user)
}

func (ch *indexChanges) appended(user string, ms uint64) {
	t := ch.tail(user)
	t.last, t.count = ms, t.count+1
	ch.record(indexOp{kind: opAppend, user: user, ms: ms}, t)
}

// removed records that the sweep deleted user's message at ms.
func (ch *indexChanges) removed(user string, ms uint64) {
	t := ch.tail(user)
	t.count = max(0, t.count-1)
	ch.record(indexOp{kind: opRemove, user: user, ms: ms}, t)
}

func (ch *indexChanges) dropped(user string) {
	ch.record(indexOp{kind: opDrop, user: user}, userTail{last: ch.tail(user).last})
}

func (ch *indexChanges) record(op indexOp, t userTail) {
	if ch.tails == nil {
		ch.tails = make(map[string]userTail)
	}
	ch.tails[op.user] = t
	ch.ops = append(ch.ops, op)
}

// appendedTo returns the timestamps of user's messages appended so far in
// this transaction, which the index does not hold yet.
func (ch *indexChanges) appendedTo(user string) []uint64 {
	var out []uint64
	for _, op := range ch.ops {
		switch {
		case op.user != user:
		case op.kind == opAppend:
			out = append(out, op.ms)
		case op.kind == opDrop:
			out = out[:0]
		}
	}
	return out
}

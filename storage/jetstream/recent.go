package jetstream

import "sync"

// recentSlots and recentBytes bound the recent-messages cache: 16,384
// messages or 8 MiB, whichever comes first (at 10,000 typical messages a
// second, the last second and a half). A live reader woken by an append
// reads within milliseconds; the margin is for sockets that fall behind in
// a burst to one user.
const (
	recentSlots = 16 << 10
	recentBytes = 8 << 20
)

// recent keeps the records of the messages appended last, by stream
// sequence, so that a live reader woken by an append (the relay's WebSocket
// hub, OnAppend) reads it without a round trip to JetStream. The message
// consumer puts every message it brings, before the index lists it, and an
// append puts its own once acknowledged, in case its answer comes first. It
// is a ring: a new message takes the place of the oldest, and the oldest go
// while the records are over recentBytes.
type recent struct {
	mu    sync.Mutex
	slots []recentSlot // ring; slots[head] is the oldest when full
	head  int
	n     int
	bytes int
	bySeq map[uint64]int // sequence → slot
}

type recentSlot struct {
	seq  uint64
	data []byte
}

func newRecent() *recent {
	return &recent{slots: make([]recentSlot, recentSlots), bySeq: make(map[uint64]int)}
}

// put keeps the record of the message at seq.
func (r *recent) put(seq uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.bySeq[seq]; ok {
		return // the consumer or the append was first
	}
	for r.n > 0 && (r.n == len(r.slots) || r.bytes+len(data) > recentBytes) {
		r.dropOldest()
	}
	i := (r.head + r.n) % len(r.slots)
	r.slots[i] = recentSlot{seq: seq, data: data}
	r.bySeq[seq] = i
	r.n++
	r.bytes += len(data)
}

// dropOldest forgets the oldest record. Lock must be held.
func (r *recent) dropOldest() {
	old := r.slots[r.head]
	delete(r.bySeq, old.seq)
	r.bytes -= len(old.data)
	r.slots[r.head] = recentSlot{}
	r.head = (r.head + 1) % len(r.slots)
	r.n--
}

// get returns the record of the message at seq, if it is kept.
func (r *recent) get(seq uint64) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.bySeq[seq]
	if !ok {
		return nil, false
	}
	return r.slots[i].data, true
}

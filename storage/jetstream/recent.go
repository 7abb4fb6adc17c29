package jetstream

import "sync"

// recentSlots and recentMaxBytes bound the recent-messages cache: about a
// tenth of a second of ingest at 10,000 messages a second, which is ample
// for a live reader woken by the append, and at most 16 MiB.
const (
	recentSlots    = 1024
	recentMaxBytes = 16 << 10
)

// recent keeps the records of the messages this instance appended last, by
// stream sequence, so that a live reader woken by an append (the relay's
// WebSocket hub, OnAppend) reads it without a round trip to JetStream. It
// is a ring: a new message takes the place of the oldest.
type recent struct {
	mu    sync.Mutex
	slots [recentSlots]recentSlot
	next  int
	bySeq map[uint64]int // sequence → slot
}

type recentSlot struct {
	seq  uint64
	data []byte
}

func newRecent() *recent { return &recent{bySeq: make(map[uint64]int, recentSlots)} }

// put keeps the record of the message at seq (not one larger than
// recentMaxBytes).
func (r *recent) put(seq uint64, data []byte) {
	if len(data) > recentMaxBytes {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.slots[r.next]
	if old.data != nil {
		delete(r.bySeq, old.seq)
	}
	r.slots[r.next] = recentSlot{seq: seq, data: data}
	r.bySeq[seq] = r.next
	r.next = (r.next + 1) % recentSlots
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

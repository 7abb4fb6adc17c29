package outbox

import (
	"container/heap"
	"sync"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// queue is the outbox's index of pending heads: for every channel with
// pending replies, the oldest one (the only one that may be attempted),
// ordered by when it falls due. The store stays the truth: an entry may be
// stale, so a claim reads the delivery again before attempting it, and a
// channel whose replies change is marked dirty and its head read again.
//
// A platform outage with many queued replies thus costs a heap operation per
// attempt, not a scan of every pending reply.
type queue struct {
	mu      sync.Mutex
	heads   map[string]*entry // unclaimed channels → their head
	byDue   dueHeap
	claimed map[string]bool // channels a worker is attempting
	dirty   map[string]bool // channels whose head must be read again
}

type entry struct {
	reply storage.PendingReply
	index int // in byDue
}

func newQueue() *queue {
	return &queue{heads: map[string]*entry{}, claimed: map[string]bool{}, dirty: map[string]bool{}}
}

// load replaces the heads of unclaimed channels with a full read of the
// store's pending heads. Dirty marks stay: a change committed after the read
// began is read again.
func (q *queue) load(heads []storage.PendingReply) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.heads, q.byDue = make(map[string]*entry, len(heads)), q.byDue[:0]
	for _, h := range heads {
		if !q.claimed[h.Delivery.ChannelID] {
			q.put(h)
		}
	}
}

// markDirty asks for the channel's head to be read again.
func (q *queue) markDirty(channelID string) {
	q.mu.Lock()
	q.dirty[channelID] = true
	q.mu.Unlock()
}

// takeDirty returns the unclaimed dirty channels and forgets their marks; a
// claimed channel is read again when its worker releases it.
func (q *queue) takeDirty() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for id := range q.dirty {
		if !q.claimed[id] {
			out = append(out, id)
		}
		delete(q.dirty, id)
	}
	return out
}

// set records a channel's head as just read (nil: it has none). A channel
// claimed meanwhile is left to its worker.
func (q *queue) set(channelID string, head *storage.PendingReply) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.claimed[channelID] {
		return
	}
	q.remove(channelID)
	if head != nil {
		q.put(*head)
	}
}

// claim takes the head that fell due first, if it is due at now, and marks
// its channel claimed. Otherwise it returns how long until the next one is
// due (max when there is none). more tells whether another head is due too.
func (q *queue) claim(now time.Time, max time.Duration) (job *storage.PendingReply, wait time.Duration, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.byDue) == 0 {
		return nil, max, false
	}
	first := q.byDue[0]
	if d := first.reply.Delivery.NextAttemptAt.Sub(now); d > 0 {
		return nil, min(d, max), false
	}
	reply := first.reply
	q.remove(reply.Delivery.ChannelID)
	q.claimed[reply.Delivery.ChannelID] = true
	more = len(q.byDue) > 0 && !q.byDue[0].reply.Delivery.NextAttemptAt.After(now)
	return &reply, 0, more
}

// release ends a claim; the channel's head is read again.
func (q *queue) release(channelID string) {
	q.mu.Lock()
	delete(q.claimed, channelID)
	q.dirty[channelID] = true
	q.mu.Unlock()
}

// postpone ends a claim without reading the channel's head again: head is
// kept, due at until (another node holds the channel meanwhile).
func (q *queue) postpone(head storage.PendingReply, until time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.claimed, head.Delivery.ChannelID)
	q.remove(head.Delivery.ChannelID)
	head.Delivery.NextAttemptAt = until
	q.put(head)
}

// put adds a head; the lock is held and the channel has none.
func (q *queue) put(h storage.PendingReply) {
	e := &entry{reply: h}
	q.heads[h.Delivery.ChannelID] = e
	heap.Push(&q.byDue, e)
}

// remove drops a channel's head, if any; the lock is held.
func (q *queue) remove(channelID string) {
	if e := q.heads[channelID]; e != nil {
		heap.Remove(&q.byDue, e.index)
		delete(q.heads, channelID)
	}
}

// dueHeap orders entries by due time (container/heap).
type dueHeap []*entry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	return h[i].reply.Delivery.NextAttemptAt.Before(h[j].reply.Delivery.NextAttemptAt)
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

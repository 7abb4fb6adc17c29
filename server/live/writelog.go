package live

import (
	"slices"
	"sync/atomic"
	"time"
)

// writeLogSize is how many page writes the hub remembers for the admin's
// message timeline: with a user's two sockets in live delivery (a page per
// message), the writes of the last 16,000 messages or so. A slot is a cache
// line (64 bytes): 2 MiB in all.
const writeLogSize = 1 << 15

// writeLog remembers which socket wrote which range of a user's messages
// when: a page write moves a socket's cursor from one timestamp to another,
// and every message in between was written with it, so one record per page
// (not per message) is enough.
//
// It is written on the delivery path by every socket's writer, so it takes
// no lock and allocates nothing: a writer claims the next slot with one
// atomic add and fills it, marking it busy by an odd generation while it
// does (a seqlock per slot). Readers skip busy slots and slots that changed
// while they read them. A reader can still mix two records in the one case
// where writeLogSize writers fill the same slot at once; the admin view is
// best effort.
type writeLog struct {
	next  atomic.Uint64
	_     [56]byte // slots start on a cache line (the log is allocated page-aligned)
	slots [writeLogSize]writeSlot
}

type writeSlot struct {
	gen      atomic.Uint64 // 2n+1 while record n is written, 2n+2 once it is
	id       atomic.Pointer[identity]
	from, to atomic.Int64 // the socket's cursor before and after, Unix ms (exact: timestamps are ms)
	at       atomic.Int64 // when the page was written, Unix ns
	_        [24]byte     // a slot per cache line: writers on other cores fill the neighbours
}

// add records that the socket id wrote the messages after from up to and
// including to at time at.
func (l *writeLog) add(id *identity, from, to, at time.Time) {
	n := l.next.Add(1) - 1
	s := &l.slots[n%writeLogSize]
	s.gen.Store(2*n + 1)
	s.id.Store(id)
	s.from.Store(from.UnixMilli())
	s.to.Store(to.UnixMilli())
	s.at.Store(at.UnixNano())
	s.gen.Store(2*n + 2)
}

// Write is a socket's write of a message.
type Write struct {
	Conn ConnState // the socket, as it was opened (see Hub.Writes)
	At   time.Time
}

// Writes returns the writes of the user's message of timestamp ts that the
// hub still remembers, oldest first: every socket the message was written
// to, and when.
func (h *Hub) Writes(userID string, ts time.Time) []Write {
	t := ts.UnixMilli()
	var out []Write
	for i := range h.writes.slots {
		s := &h.writes.slots[i]
		gen := s.gen.Load()
		if gen == 0 || gen%2 == 1 {
			continue
		}
		id, from, to, at := s.id.Load(), s.from.Load(), s.to.Load(), s.at.Load()
		if s.gen.Load() != gen || id == nil || id.userID != userID || t <= from || t > to {
			continue
		}
		out = append(out, Write{At: time.Unix(0, at).UTC(), Conn: ConnState{ID: id.seq, UserID: id.userID, Node: id.node,
			RemoteAddr: id.client.RemoteAddr, UserAgent: id.client.UserAgent, ConnectedAt: id.connectedAt}})
	}
	slices.SortFunc(out, func(a, b Write) int { return a.At.Compare(b.At) })
	return out
}

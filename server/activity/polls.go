package activity

import (
	"slices"
	"sync"
	"time"
)

// Bounds of what Polls keeps: the last poll of pollersKept sessions, and the
// newest pollsKept polls that returned messages.
const (
	pollersKept = 10_000
	pollsKept   = 8192
)

// Poll is one GET /messages answer.
type Poll struct {
	UserID     string
	Node       string // the relay node that answered ("" on a single relay)
	RemoteAddr string
	UserAgent  string
	At         time.Time
	// After and Last bound the messages returned: those with a timestamp
	// after After up to and including Last (Count of them).
	After, Last time.Time
	Count       int
}

// Poller is a session that polls, as its last poll left it.
type Poller struct {
	UserID     string
	Node       string
	RemoteAddr string
	UserAgent  string
	LastPoll   time.Time
	// Cursor is the since the last poll answered: where the next one will
	// start.
	Cursor time.Time
	Polls  int // since the relay started
}

// Polls remembers pollers and the polls that fetched messages.
type Polls struct {
	mu      sync.Mutex
	pollers map[string]*Poller
	ring    []Poll // pollsKept, filled from next
	next    int
}

// NewPolls returns an empty record.
func NewPolls() *Polls {
	return &Polls{pollers: map[string]*Poller{}, ring: make([]Poll, pollsKept)}
}

// Add records a poll; cursor is the since it answered.
func (p *Polls) Add(poll Poll, cursor time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.pollers[poll.UserID]
	if pl == nil {
		if len(p.pollers) >= pollersKept {
			p.evict()
		}
		pl = &Poller{UserID: poll.UserID}
		p.pollers[poll.UserID] = pl
	}
	pl.Node, pl.RemoteAddr, pl.UserAgent, pl.LastPoll, pl.Cursor = poll.Node, poll.RemoteAddr, poll.UserAgent, poll.At, cursor
	pl.Polls++
	if poll.Count > 0 {
		p.ring[p.next] = poll
		p.next = (p.next + 1) % pollsKept
	}
}

// evict forgets the tenth of the pollers that polled least recently, so a
// full record costs one sort per pollersKept/10 new pollers. Lock must be
// held.
func (p *Polls) evict() {
	all := make([]*Poller, 0, len(p.pollers))
	for _, pl := range p.pollers {
		all = append(all, pl)
	}
	slices.SortFunc(all, func(a, b *Poller) int { return a.LastPoll.Compare(b.LastPoll) })
	for _, pl := range all[:max(1, len(all)/10)] {
		delete(p.pollers, pl.UserID)
	}
}

// Pollers returns the pollers of a user ("" for all), newest poll first.
func (p *Polls) Pollers(userID string) []Poller {
	p.mu.Lock()
	defer p.mu.Unlock()
	if userID != "" {
		if pl := p.pollers[userID]; pl != nil {
			return []Poller{*pl}
		}
		return nil
	}
	out := make([]Poller, 0, len(p.pollers))
	for _, pl := range p.pollers {
		out = append(out, *pl)
	}
	slices.SortFunc(out, func(a, b Poller) int { return b.LastPoll.Compare(a.LastPoll) })
	return out
}

// Fetches returns the remembered polls that returned the user's message of
// timestamp ts, oldest first.
func (p *Polls) Fetches(userID string, ts time.Time) []Poll {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Poll
	for _, poll := range p.ring {
		if poll.Count > 0 && poll.UserID == userID && ts.After(poll.After) && !ts.After(poll.Last) {
			out = append(out, poll)
		}
	}
	slices.SortFunc(out, func(a, b Poll) int { return a.At.Compare(b.At) })
	return out
}

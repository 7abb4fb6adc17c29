package activity

import (
	"sync"
	"time"
)

// ingestsKept is how many recent messages' ingest times are kept.
const ingestsKept = 10_000

// Ingest is when a message was received and when it was stored.
type Ingest struct {
	ID       string
	Received time.Time // the relay took the parsed message
	Stored   time.Time // its commit returned
}

// Ingests remembers the ingest times of the newest messages, in a ring.
type Ingests struct {
	mu   sync.Mutex
	ring [ingestsKept]Ingest
	next int
}

// Add records a message's ingest.
func (g *Ingests) Add(in Ingest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ring[g.next] = in
	g.next = (g.next + 1) % ingestsKept
}

// Find returns the ingest of message id, if it is still remembered.
func (g *Ingests) Find(id string) (Ingest, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.ring {
		if g.ring[i].ID == id {
			return g.ring[i], true
		}
	}
	return Ingest{}, false
}

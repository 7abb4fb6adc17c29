package cluster

import (
	"context"
	"sync"
)

// group counts goroutines (or calls) in progress so that Close can wait
// for them, and refuses new ones once closed.
type group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add counts one more, unless the group is closed.
func (g *group) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *group) done() { g.wg.Done() }

// goFunc runs f on a new goroutine, unless the group is closed.
func (g *group) goFunc(f func()) bool {
	if !g.add() {
		return false
	}
	go func() {
		defer g.done()
		f()
	}()
	return true
}

// close refuses new members.
func (g *group) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// wait waits until every member is done, or ctx ends. Call close first.
// If ctx ends first, a goroutine goes on waiting for the members, and ends
// with the last of them.
func (g *group) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

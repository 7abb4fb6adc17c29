package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// getter fetches the payloads of several messages by sequence with one
// direct get each, all sent at once and answered through one subscription
// of the store's: a page of n messages costs one round trip and no
// goroutine. The gets ask for no headers: the server rebuilds a stored
// message's headers for every answer, which costs more than the rest of it,
// and the index already knows each item's timestamp. (A direct batch get
// would be one request, but the server counts the subject's pending
// messages for each, which costs more still on a long log.)
type getter struct {
	nc     *nats.Conn
	stream string
	inbox  string // "<inbox>." + request id is the reply subject

	mu      sync.Mutex
	next    uint64
	waiting map[string]chan<- *nats.Msg
	sub     *nats.Subscription
}

func newGetter(nc *nats.Conn, stream string) (*getter, error) {
	g := &getter{nc: nc, stream: stream, inbox: nc.NewRespInbox(), waiting: map[string]chan<- *nats.Msg{}}
	sub, err := nc.Subscribe(g.inbox+".*", g.deliver)
	if err != nil {
		return nil, fmt.Errorf("jetstream: reply subscription: %w", err)
	}
	sub.SetPendingLimits(-1, -1) // answers are bounded by the requests in flight
	g.sub = sub
	return g, nil
}

// deliver hands an answer to its request.
func (g *getter) deliver(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	g.mu.Lock()
	ch := g.waiting[id]
	delete(g.waiting, id)
	g.mu.Unlock()
	if ch != nil {
		ch <- m // buffered for every request of its call
	}
}

// get fetches the payloads of the messages at seqs into out, by sequence
// (absent ones are left out).
func (g *getter) get(ctx context.Context, seqs []uint64, out map[uint64][]byte) error {
	ch := make(chan *nats.Msg, len(seqs))
	ids := make([]string, len(seqs))
	g.mu.Lock()
	for i := range seqs {
		g.next++
		ids[i] = strconv.FormatUint(g.next, 36)
		g.waiting[ids[i]] = ch
	}
	g.mu.Unlock()
	defer func() { // forget what did not come
		g.mu.Lock()
		for _, id := range ids {
			delete(g.waiting, id)
		}
		g.mu.Unlock()
	}()
	subject := "$JS.API.DIRECT.GET." + g.stream
	bySeq := make(map[string]uint64, len(seqs))
	for i, seq := range seqs {
		bySeq[ids[i]] = seq
		req := &nats.Msg{Subject: subject, Reply: g.inbox + "." + ids[i], Data: []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `,"no_hdr":true}`)}
		if err := g.nc.PublishMsg(req); err != nil {
			return err
		}
	}
	t := time.NewTimer(attemptTimeout)
	defer t.Stop()
	for range seqs {
		select {
		case m := <-ch:
			if len(m.Data) == 0 {
				if status := m.Header.Get("Status"); status != "" && status != "404" {
					return fmt.Errorf("jetstream: direct get: %s %s", status, m.Header.Get("Description"))
				}
				continue // not found (no item is empty)
			}
			out[bySeq[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]]] = m.Data
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nats.ErrTimeout
		}
	}
	return nil
}

func (g *getter) close() {
	if g != nil && g.sub != nil {
		_ = g.sub.Unsubscribe()
	}
}

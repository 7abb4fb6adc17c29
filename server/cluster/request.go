package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

const (
	// hdrCall carries a request's id, which a cancellation names.
	hdrCall = "Relay-Cluster-Call"
	// hdrError marks a reply whose body is an error's text.
	hdrError = "Relay-Cluster-Error"
	// kindCancel is the kind of the messages that cancel a request. Kinds
	// starting with "_" are reserved for the package.
	kindCancel = "_cancel"
)

// errCallerGone is the cause of a handler's context when the caller
// cancelled its request.
var errCallerGone = errors.New("cluster: caller cancelled the request")

// Handler answers requests of one kind from other nodes. Its context ends
// when the caller cancels (or gives up) and when the Cluster closes.
type Handler func(ctx context.Context, data []byte) ([]byte, error)

// rpc is this node's side of requests between nodes: one subscription to
// "<prefix>_cluster.node.<id>.*" whose messages are dispatched in order, so
// that a cancellation always finds the request it follows.
type rpc struct {
	c   *Cluster
	sub *nats.Subscription

	mu       sync.Mutex
	handlers map[string]Handler
	inflight map[string]context.CancelCauseFunc // by call id
}

// subjectRoot is the first token of the subjects the nodes talk on,
// "<prefix>_cluster". Not "<prefix>": the JetStream store's stream takes
// every subject under "<prefix>.>", so a request there would be stored,
// and the stream's acknowledgement would race the node's answer.
func (c *Cluster) subjectRoot() string { return c.o.Prefix + "_cluster" }

// subject is the subject of node's requests of kind.
func (c *Cluster) subject(node, kind string) string {
	return c.subjectRoot() + ".node." + node + "." + kind
}

// start subscribes.
func (r *rpc) start() error {
	sub, err := r.c.nc.Subscribe(r.c.subject(r.c.id, "*"), r.dispatch)
	if err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	r.sub = sub
	return nil
}

// Handle serves requests of kind (letters, digits, - and _, not starting
// with _) for this node. It panics if kind is not valid or already has a
// handler. Each request runs on its own goroutine.
func (c *Cluster) Handle(kind string, h Handler) {
	if !isToken(kind) || kind[0] == '_' {
		panic(fmt.Sprintf("cluster: Handle(%q): kind must be letters, digits, - and _, not starting with _", kind))
	}
	r := c.rpc
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers[kind] != nil {
		panic(fmt.Sprintf("cluster: Handle(%q): already handled", kind))
	}
	r.handlers[kind] = h
}

// dispatch is the subscription's handler.
func (r *rpc) dispatch(m *nats.Msg) {
	kind := m.Subject[len(r.c.subject(r.c.id, "")):]
	if kind == kindCancel {
		r.mu.Lock()
		cancel := r.inflight[string(m.Data)]
		r.mu.Unlock()
		if cancel != nil {
			cancel(errCallerGone)
		}
		return
	}
	id := m.Header.Get(hdrCall)
	r.mu.Lock()
	h := r.handlers[kind]
	r.mu.Unlock()
	if h == nil || id == "" {
		respond(m, nil, fmt.Errorf("no handler for %q", kind))
		return
	}
	ctx, cancel := context.WithCancelCause(r.c.ctx)
	r.mu.Lock()
	r.inflight[id] = cancel
	r.mu.Unlock()
	ok := r.c.workers.goFunc(func() {
		data, err := h(ctx, m.Data)
		r.mu.Lock()
		delete(r.inflight, id)
		r.mu.Unlock()
		cancel(nil)
		respond(m, data, err)
	})
	if !ok {
		cancel(nil)
		respond(m, nil, ErrClosed)
	}
}

// respond answers m with data, or with err's text.
func respond(m *nats.Msg, data []byte, err error) {
	reply := nats.NewMsg(m.Reply)
	if err != nil {
		reply.Header.Set(hdrError, "1")
		data = []byte(err.Error())
	}
	reply.Data = data
	_ = m.RespondMsg(reply) // the caller may be gone
}

// Request sends data to the handler of kind on node and returns its
// answer. It returns context.Cause(ctx) when ctx ends first, and tells the
// node, whose handler's context then ends; ErrNodeGone when the node is
// not alive or stops being alive before answering; *RemoteError when the
// handler failed.
func (c *Cluster) Request(ctx context.Context, node, kind string, data []byte) ([]byte, error) {
	if c.closing() {
		return nil, ErrClosed
	}
	if !isToken(node) || !isToken(kind) || !c.nodes.alive(node) {
		return nil, fmt.Errorf("cluster: request %s to %q: %w", kind, node, ErrNodeGone)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Give up when the node dies: its heartbeat expires from the bucket.
	gone := make(chan struct{})
	defer close(gone)
	go func() {
		for {
			alive, changed := c.nodes.watch(node)
			if !alive {
				cancel(ErrNodeGone)
				return
			}
			select {
			case <-changed:
			case <-gone:
				return
			}
		}
	}()
	id := newID(10)
	m := nats.NewMsg(c.subject(node, kind))
	m.Header.Set(hdrCall, id)
	m.Data = data
	reply, err := c.nc.RequestMsgWithContext(rctx, m)
	if err != nil {
		if rctx.Err() != nil {
			// Tell the node, which may be working on it (best effort).
			_ = c.nc.Publish(c.subject(node, kindCancel), []byte(id))
			return nil, context.Cause(rctx)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			err = ErrNodeGone
		}
		return nil, fmt.Errorf("cluster: request %s to %s: %w", kind, node, err)
	}
	if reply.Header.Get(hdrError) != "" {
		return nil, &RemoteError{Node: node, Kind: kind, Msg: string(reply.Data)}
	}
	return reply.Data, nil
}

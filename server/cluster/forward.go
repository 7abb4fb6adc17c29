package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/chaos-relay/relay/server/mcp"
)

// kindMCP is the kind of forwarded MCP calls.
const kindMCP = "mcp"

// Forwarder is an mcp.Forwarder for a relay of several nodes: a call goes
// to the user's sockets on this node if it has any, else to every other
// node that holds some, where that node's local forwarder sends it. The
// first answer wins and the other nodes are told to stop waiting.
type Forwarder struct {
	c          *Cluster
	local      mcp.Forwarder
	localCount func(userID string) int
}

var _ mcp.Forwarder = (*Forwarder)(nil)

// mcpReply is a forwarded call's answer on the wire: the answer, or the
// code of one of mcp's errors (or an error's text, for others).
type mcpReply struct {
	JSONRPC json.RawMessage `json:"jsonrpc,omitempty"`
	Err     string          `json:"err,omitempty"`
	Msg     string          `json:"msg,omitempty"`
}

// mcpErrors are the errors that cross the wire as themselves, by code.
func mcpErrors() map[string]error {
	return map[string]error{
		"offline":      mcp.ErrOffline,
		"timeout":      mcp.ErrTimeout,
		"disconnected": mcp.ErrDisconnected,
		"cancelled":    mcp.ErrCancelled,
		"shutdown":     mcp.ErrShutdown,
	}
}

// NewForwarder returns a Forwarder over local (this node's sockets, with
// localCount of them per user), and serves other nodes' calls with local.
// Call it once per Cluster.
func NewForwarder(c *Cluster, local mcp.Forwarder, localCount func(userID string) int) *Forwarder {
	f := &Forwarder{c: c, local: local, localCount: localCount}
	c.Handle(kindMCP, f.serve)
	return f
}

// Forward implements mcp.Forwarder. A call reaches a remote socket through
// one request to its node (core NATS, no JetStream). When the node holding
// the user's sockets dies before answering, the call fails with
// mcp.ErrDisconnected.
func (f *Forwarder) Forward(ctx context.Context, call mcp.Call) (json.RawMessage, error) {
	if f.localCount(call.UserID) > 0 {
		return f.local.Forward(ctx, call)
	}
	nodes := slices.DeleteFunc(f.c.SocketNodes(call.UserID), func(n string) bool { return n == f.c.id })
	if len(nodes) == 0 {
		return nil, mcp.ErrOffline
	}
	data, err := json.Marshal(call)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the other nodes' requests end, and they are told
	type result struct {
		jsonrpc json.RawMessage
		err     error
	}
	results := make(chan result, len(nodes))
	for _, n := range nodes {
		go func() {
			res, err := f.remote(ctx, n, data)
			results <- result{res, err}
		}()
	}
	var best error
	for range nodes {
		r := <-results
		if r.err == nil {
			return r.jsonrpc, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if best == nil || rank(r.err) > rank(best) {
			best = r.err
		}
	}
	return nil, best
}

// rank orders the errors of several nodes: the most telling one is
// returned. A node where the user has no socket any more says least.
func rank(err error) int {
	switch {
	case errors.Is(err, mcp.ErrOffline):
		return 0
	case errors.Is(err, mcp.ErrDisconnected):
		return 2
	case errors.Is(err, mcp.ErrTimeout):
		return 3
	default:
		return 1
	}
}

// remote forwards the call (data) to node.
func (f *Forwarder) remote(ctx context.Context, node string, data []byte) (json.RawMessage, error) {
	b, err := f.c.Request(ctx, node, kindMCP, data)
	if errors.Is(err, ErrNodeGone) {
		return nil, mcp.ErrDisconnected // the node, and the user's sockets on it, went away
	}
	if err != nil {
		return nil, err
	}
	var r mcpReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Err != "" {
		if e := mcpErrors()[r.Err]; e != nil {
			return nil, e
		}
		return nil, &RemoteError{Node: node, Kind: kindMCP, Msg: r.Msg}
	}
	return r.JSONRPC, nil
}

// serve is the handler of calls from other nodes: it forwards them to this
// node's sockets. Its context ends when the caller gives up.
func (f *Forwarder) serve(ctx context.Context, data []byte) ([]byte, error) {
	var call mcp.Call
	if err := json.Unmarshal(data, &call); err != nil {
		return nil, err
	}
	res, err := f.local.Forward(ctx, call)
	r := mcpReply{JSONRPC: res}
	if err != nil {
		r.Err, r.Msg = "other", err.Error()
		for code, e := range mcpErrors() {
			if errors.Is(err, e) {
				r.Err = code
			}
		}
		if errors.Is(err, ErrClosed) {
			r.Err = "disconnected" // this node is leaving, and its sockets with it
		}
	}
	return json.Marshal(r)
}

package cluster

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the package, for errors.Is.
var (
	// ErrClosed is returned by operations on a Cluster after Close, and is
	// the cause of the contexts it cancels when it closes.
	ErrClosed = errors.New("cluster: closed")
	// ErrLeaseLost is the cause of a Run function's context when the lease
	// was lost: not renewed in time, or taken by another node.
	ErrLeaseLost = errors.New("cluster: lease lost")
	// ErrNodeGone is returned by Request when the node is not alive (its
	// heartbeat expired, or it left) or stops being alive before answering.
	ErrNodeGone = errors.New("cluster: node gone")
)

// RemoteError is an error a handler of another node returned (or "no
// handler" for a kind that node does not serve). Only its text crosses the
// wire: a caller that needs sentinel values encodes them in its own replies,
// as Forwarder does.
type RemoteError struct {
	Node, Kind, Msg string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("cluster: node %s, %s: %s", e.Node, e.Kind, e.Msg)
}

// isConflict reports whether err is JetStream refusing a write because the
// key's revision was not the expected one (or the key exists, for a create).
// Replicated streams report a different code than single ones, and a create
// of a deleted key returns the bare API error, so nats.go's sentinels alone
// do not cover every case.
func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

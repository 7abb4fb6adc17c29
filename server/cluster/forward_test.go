package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/server/mcp"
)

// fakeLocal is a node's local forwarder: it answers with answer.
type fakeLocal struct {
	answer func(ctx context.Context, call mcp.Call) (json.RawMessage, error)

	mu    sync.Mutex
	calls []mcp.Call
}

func (f *fakeLocal) Forward(ctx context.Context, call mcp.Call) (json.RawMessage, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	return f.answer(ctx, call)
}

func (f *fakeLocal) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func TestForwarder(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)

	var mu sync.Mutex
	answerB := func(ctx context.Context, call mcp.Call) (json.RawMessage, error) {
		return json.RawMessage(`{"from":"b","id":` + string(call.Request) + `}`), nil
	}
	localB := &fakeLocal{answer: func(ctx context.Context, call mcp.Call) (json.RawMessage, error) {
		mu.Lock()
		f := answerB
		mu.Unlock()
		return f(ctx, call)
	}}
	localA := &fakeLocal{answer: func(context.Context, mcp.Call) (json.RawMessage, error) {
		return json.RawMessage(`"from a"`), nil
	}}
	countA := func(userID string) int {
		if userID == "here" {
			return 1
		}
		return 0
	}
	fa := NewForwarder(a, localA, countA)
	NewForwarder(b, localB, func(string) int { return 1 })
	b.SocketOpened("u1", "conn1", time.Now())
	eventually(t, 5*time.Second, "a sees u1's socket on b", func() bool { return len(a.SocketNodes("u1")) == 1 })
	call := mcp.Call{ID: "c1", UserID: "u1", AgentID: "agent", Method: "tools/call", Request: json.RawMessage(`7`)}

	// A call for a user whose sockets are on b reaches b's local forwarder.
	got, err := fa.Forward(t.Context(), call)
	must(t, err)
	equal(t, "answer", string(got), `{"from":"b","id":7}`)
	equal(t, "call on b", localB.calls[0].AgentID, "agent")
	// Sockets here: the local forwarder, not b.
	got, err = fa.Forward(t.Context(), mcp.Call{ID: "c2", UserID: "here"})
	must(t, err)
	equal(t, "local answer", string(got), `"from a"`)
	// No sockets anywhere: offline, and nobody is asked.
	n := localB.count()
	_, err = fa.Forward(t.Context(), mcp.Call{ID: "c3", UserID: "nobody"})
	if !errors.Is(err, mcp.ErrOffline) {
		t.Fatalf("err = %v, want ErrOffline", err)
	}
	equal(t, "b asked", localB.count(), n)

	// b's errors come back as the same values.
	for _, want := range []error{mcp.ErrTimeout, mcp.ErrDisconnected, mcp.ErrOffline, mcp.ErrCancelled} {
		mu.Lock()
		answerB = func(context.Context, mcp.Call) (json.RawMessage, error) { return nil, want }
		mu.Unlock()
		_, err := fa.Forward(t.Context(), call)
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
	}
	mu.Lock()
	answerB = func(context.Context, mcp.Call) (json.RawMessage, error) { return nil, errors.New("odd") }
	mu.Unlock()
	_, err = fa.Forward(t.Context(), call)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "odd" {
		t.Fatalf("err = %v, want a RemoteError", err)
	}

	// Cancelling the call on a stops b's forwarder waiting.
	started, stopped := make(chan struct{}, 1), make(chan struct{}, 1)
	mu.Lock()
	answerB = func(ctx context.Context, _ mcp.Call) (json.RawMessage, error) {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- struct{}{}
		return nil, context.Cause(ctx)
	}
	mu.Unlock()
	ctx, cancel := context.WithCancelCause(t.Context())
	go func() {
		<-started
		cancel(mcp.ErrCancelled)
	}()
	_, err = fa.Forward(ctx, call)
	if !errors.Is(err, mcp.ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	receive(t, stopped, 5*time.Second, "b's forwarder stopped")

	// b dies while its forwarder waits: the call fails as disconnected.
	go func() {
		<-started
		b.nc.Close()
	}()
	_, err = fa.Forward(t.Context(), call)
	if !errors.Is(err, mcp.ErrDisconnected) {
		t.Fatalf("err = %v, want ErrDisconnected", err)
	}
}

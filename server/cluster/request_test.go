package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRequest(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)

	b.Handle("echo", func(ctx context.Context, data []byte) ([]byte, error) {
		return append([]byte("b:"), data...), nil
	})
	b.Handle("fail", func(ctx context.Context, data []byte) ([]byte, error) {
		return nil, errors.New("no luck\nat all")
	})
	cancelled := make(chan error, 1)
	started := make(chan struct{}, 1)
	b.Handle("block", func(ctx context.Context, data []byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return nil, ctx.Err()
	})

	got, err := a.Request(t.Context(), b.ID(), "echo", []byte("hi"))
	must(t, err)
	equal(t, "answer", string(got), "b:hi")

	_, err = a.Request(t.Context(), b.ID(), "fail", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "no luck\nat all" || re.Node != b.ID() {
		t.Fatalf("err = %v, want the handler's as a RemoteError", err)
	}
	_, err = a.Request(t.Context(), b.ID(), "nothing", nil)
	if !errors.As(err, &re) {
		t.Fatalf("unknown kind: err = %v, want a RemoteError", err)
	}
	_, err = a.Request(t.Context(), "nosuchnode", "echo", nil)
	if !errors.Is(err, ErrNodeGone) {
		t.Fatalf("unknown node: err = %v, want ErrNodeGone", err)
	}

	// The caller's cancellation reaches the handler, and is what the
	// caller gets back.
	why := errors.New("the client went away")
	ctx, cancel := context.WithCancelCause(t.Context())
	go func() {
		<-started
		cancel(why)
	}()
	_, err = a.Request(ctx, b.ID(), "block", nil)
	if !errors.Is(err, why) {
		t.Fatalf("err = %v, want the cause of the cancellation", err)
	}
	if cause := receive(t, cancelled, 5*time.Second, "handler cancelled"); !errors.Is(cause, errCallerGone) {
		t.Fatalf("handler's cause = %v, want errCallerGone", cause)
	}

	// A node that dies while working on a request: the caller learns when
	// its heartbeat expires.
	go func() {
		<-started
		b.nc.Close()
	}()
	start := time.Now()
	_, err = a.Request(t.Context(), b.ID(), "block", nil)
	if !errors.Is(err, ErrNodeGone) {
		t.Fatalf("err = %v, want ErrNodeGone", err)
	}
	t.Logf("node gone noticed after %s", time.Since(start))
}

func TestHandlePanics(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	a := join(t, options(t, connect(t, srv.URL()), newPrefix()))
	h := func(context.Context, []byte) ([]byte, error) { return nil, nil }
	a.Handle("x", h)
	for _, kind := range []string{"x", "a.b", "", "_cancel"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", kind)
				}
			}()
			a.Handle(kind, h)
		}()
	}
}

// The nodes' messages stay out of a stream that takes "<prefix>.>", as
// the JetStream store's does: a request gets the handler's answer, never
// the stream's acknowledgement, and the stream stores nothing of them.
func TestRequestsStayOutOfTheStoreStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	prefix := newPrefix()
	nc := connect(t, srv.URL())
	js, err := jetstream.New(nc)
	must(t, err)
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: prefix, Subjects: []string{prefix + ".>"}})
	must(t, err)
	a := join(t, options(t, nc, prefix))
	b := join(t, options(t, connect(t, srv.URL()), prefix))
	b.Handle("echo", func(_ context.Context, data []byte) ([]byte, error) { return data, nil })
	eventually(t, 5*time.Second, "a sees b", func() bool { return len(a.Nodes()) == 2 })
	for i := range 20 {
		want := fmt.Sprint(i)
		got, err := a.Request(t.Context(), b.ID(), "echo", []byte(want))
		must(t, err)
		equal(t, "answer", string(got), want)
	}
	got := make(chan string, 1)
	s := b.MCPSessions(time.Minute, 1)
	s.Subscribe(func(sessionID string, _ json.RawMessage) { got <- sessionID })
	a.MCPSessions(time.Minute, 1).Publish("s", json.RawMessage(`1`))
	equal(t, "cancellation", receive(t, got, 5*time.Second, "the cancellation"), "s")
	info, err := stream.Info(t.Context())
	must(t, err)
	equal(t, "messages in the stream", info.State.Msgs, uint64(0))
}

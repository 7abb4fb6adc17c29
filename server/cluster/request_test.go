package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

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

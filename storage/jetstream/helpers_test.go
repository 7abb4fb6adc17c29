package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

var ctx = context.Background()

// prefixes makes every store of the package's tests its own stream, so
// that they can share a server.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

// open opens a store and closes it at the end of the test.
func open(t testing.TB, opts jetstream.Options) *jetstream.Store {
	t.Helper()
	s := openAsync(t, opts)
	// Open returns after its first attempt; under load (the whole suite at
	// once) creating a stream of three replicas can take longer than that.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Wait(wctx); err != nil {
		t.Fatalf("the store is not ready: %v", err)
	}
	return s
}

// openAsync opens a store that may not be ready yet (NATS down).
func openAsync(t testing.TB, opts jetstream.Options) *jetstream.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = newPrefix()
	}
	if opts.RootKey == nil {
		opts.RootKey = testKey(t)
	}
	if opts.Logger == nil {
		opts.Logger = natstest.Logger(t)
	}
	s, err := jetstream.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testKey(t testing.TB) *seal.RootKey {
	t.Helper()
	k, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func errorIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// directGetSpy sees the direct gets sent to a server: the reads of message
// and response bodies.
type directGetSpy struct {
	nc  *nats.Conn
	sub *nats.Subscription
}

const directGets = "$JS.API.DIRECT.GET."

func spyDirectGets(t testing.TB, srv *natstest.Server) *directGetSpy {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	must(t, err)
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(directGets + ">")
	must(t, err)
	must(t, nc.Flush())
	return &directGetSpy{nc: nc, sub: sub}
}

// none fails the test if a direct get was sent since the spy started. It
// sends one of its own, to no stream, which must be the first it sees: the
// server passes the spy what it was sent in order.
func (s *directGetSpy) none(t testing.TB, what string) {
	t.Helper()
	const marker = `{"seq":1,"spy":true}`
	must(t, s.nc.Publish(directGets+"spy", []byte(marker)))
	m, err := s.sub.NextMsg(5 * time.Second)
	must(t, err)
	if string(m.Data) != marker {
		t.Fatalf("%s was read from JetStream: direct get %s on %s", what, m.Data, m.Subject)
	}
}

// rawStream is the stream named prefix on the server at url, through a
// connection of the test's own: to read or change it behind the store.
func rawStream(t testing.TB, url, prefix string) njs.Stream {
	t.Helper()
	nc, err := nats.Connect(url)
	must(t, err)
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	must(t, err)
	stream, err := js.Stream(ctx, prefix)
	must(t, err)
	return stream
}

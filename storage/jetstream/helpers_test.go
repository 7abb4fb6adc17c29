package jetstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/chaos-relay/relay/storage/jetstream"
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
	if opts.Prefix == "" {
		opts.Prefix = newPrefix()
	}
	if opts.RootKey == nil {
		opts.RootKey = testKey(t)
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

package cluster

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

func TestNonceOncePerCluster(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	cs := joinAll(t, newPrefix(), 3, nats3.Servers[0].URL(), nats3.Servers[1].URL(), nats3.Servers[2].URL())
	a, b := cs[0], cs[1]
	use := func(c *Cluster, user string, key [16]byte) bool {
		t.Helper()
		fresh, err := c.UseNonce(t.Context(), user, key)
		must(t, err)
		return fresh
	}
	key := [16]byte{1, 2, 3}
	equal(t, "first use on a", use(a, "u1", key), true)
	equal(t, "use on b", use(b, "u1", key), false)
	equal(t, "use on a again", use(a, "u1", key), false)
	equal(t, "another user's", use(b, "user@example.com", key), true) // not a valid key token: hashed
	equal(t, "another key", use(b, "u1", [16]byte{1, 2, 4}), true)

	// Many goroutines on every node, one nonce: exactly one is fresh.
	key = [16]byte{9}
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for _, c := range cs {
		for range 10 {
			wg.Go(func() {
				ok, err := c.UseNonce(t.Context(), "u2", key)
				if err != nil {
					t.Error(err)
				}
				if ok {
					fresh.Add(1)
				}
			})
		}
	}
	wg.Wait()
	equal(t, "fresh uses", fresh.Load(), 1)
}

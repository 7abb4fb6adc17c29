package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage/seal"
)

// clusterEnv is the settings of a relay node on the NATS servers at urls
// (replicas 3), with a root key of its own for the test.
func clusterEnv(t *testing.T, urls string) []string {
	t.Helper()
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"RELAY_NATS_URL=" + urls, "RELAY_NATS_REPLICAS=3", "RELAY_ROOT_KEY=" + key.Encode()}
}

// sessionWithHook registers a signed session at baseURL and creates a
// webhook channel for it.
func sessionWithHook(t *testing.T, baseURL string) (*client.Client, string) {
	t.Helper()
	ctx := context.Background()
	ckey, err := client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Register(ctx, baseURL, ckey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, hook, err := c.CreateChannel(ctx, client.NewChannel{})
	if err != nil {
		t.Fatal(err)
	}
	return c, hook
}

// posters post webhooks in closed loops, one writer per hook, and record
// every message the relay acknowledged.
type posters struct {
	stop chan struct{}
	wg   sync.WaitGroup
	halt func()

	mu      sync.Mutex
	acked   map[string]string // content → message id
	slowest time.Duration
}

// startPosters starts a writer per hook. Writer w's message i has the
// content name(w, i). A failed POST fails the test unless expected says
// it may fail (its node was killed); either way its writer stops.
func startPosters(t *testing.T, hooks []string, name func(w, i int) string, expected func(hook string) bool) *posters {
	p := &posters{stop: make(chan struct{}), acked: map[string]string{}}
	p.halt = sync.OnceFunc(func() {
		close(p.stop)
		p.wg.Wait()
	})
	t.Cleanup(p.halt)
	for w, hook := range hooks {
		p.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-p.stop:
					return
				default:
				}
				content := name(w, i)
				start := time.Now()
				id, err := client.PostWebhook(context.Background(), nil, hook, "text/plain", []byte(content))
				if err != nil {
					if expected == nil || !expected(hook) {
						t.Errorf("POST %s: %v (after %s)", content, err, time.Since(start).Round(time.Millisecond))
					}
					return
				}
				p.mu.Lock()
				p.acked[content] = id
				p.slowest = max(p.slowest, time.Since(start))
				p.mu.Unlock()
			}
		})
	}
	return p
}

// storedOnce checks that every acknowledged message is among stored
// exactly once. With exact, nothing else may be (no POST was cut off
// between the store and its answer).
func storedOnce(t *testing.T, where string, stored []client.Message, acked map[string]string, exact bool) {
	t.Helper()
	times := map[string]int{}
	for _, m := range stored {
		times[m.Content]++
	}
	for content, id := range acked {
		if times[content] != 1 {
			t.Errorf("%s: acknowledged message %s (%s) stored %d times", where, content, id, times[content])
		}
	}
	if exact && len(times) != len(acked) {
		t.Errorf("%s: %d messages stored, %d acknowledged", where, len(times), len(acked))
	}
}

// plainName is the content "w<writer>-<i>".
func plainName(w, i int) string { return fmt.Sprintf("w%d-%d", w, i) }

// count is how many messages were acknowledged so far.
func (p *posters) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// done stops the writers and returns what was acknowledged, and the
// slowest acknowledgement.
func (p *posters) done() (map[string]string, time.Duration) {
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked, p.slowest
}

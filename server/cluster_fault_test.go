package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/server/live"
	jsstore "github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// onServers runs a node on the given NATS servers only.
func onServers(srvs ...*natstest.Server) func(*app.Config) {
	return func(c *app.Config) {
		urls := make([]string, len(srvs))
		for i, s := range srvs {
			urls[i] = s.URL()
		}
		c.Store.NATS.URL = strings.Join(urls, ",")
	}
}

// at is hookURL (a node's webhook URL) on node r.
func at(r *relay, hookURL string) string {
	path := hookURL[strings.Index(hookURL[len("http://"):], "/")+len("http://"):]
	return r.URL + path
}

// A node cut off from NATS while the rest of the relay goes on: it answers
// 503 on writes and /health, closes its sockets with 1001 so that their
// clients move to a node that serves (and resume there without a gap), and
// serves again once NATS is back.
func TestClusterNodeCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a node to be cut off and to rejoin")
	}
	// Node a knows only n1 (the servers do not tell it of the others), node
	// b only n2 and n3: stopping n1 cuts a off, and leaves b a quorum.
	rc := emptyRelayCluster(t, natstest.NoAdvertise())
	n1, n2, n3 := rc.nats.Servers[0], rc.nats.Servers[1], rc.nats.Servers[2]
	a := rc.add(t, noLimits, onServers(n1))
	b := rc.add(t, noLimits, onServers(n2, n3))
	rc.waitNodes(t, 2)
	c := a.register(t, false)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	conn := a.dialWS(t, c, "", nil)
	before := postN(t, hookURL, 2, "before ")
	got := readMessages(t, conn, 2)
	cursor := got[1].Timestamp

	stopped := time.Now()
	n1.Stop()
	waitHealth(t, a, http.StatusServiceUnavailable)
	expectError(t, hook(t, hookURL, "text/plain", []byte("to the cut-off node"), nil), http.StatusServiceUnavailable, "Storage unavailable. Please retry.")
	if _, err := on(c, a).Reply(bg, client.Reply{ChannelID: "none", Content: "x"}); apiError(t, err).Status != http.StatusServiceUnavailable {
		t.Fatalf("reply on the cut-off node: %v, want 503", err)
	}
	// Meanwhile b serves, through whatever election n1's loss began.
	during := postN(t, at(b, hookURL), 2, "during ")
	ce := closeCode(t, conn)
	if ce.Code != live.CloseGoingAway || ce.Text != live.ReasonCutOff {
		t.Fatalf("socket on the cut-off node closed with %d %q, want 1001 %q", ce.Code, ce.Text, live.ReasonCutOff)
	}
	t.Logf("sockets closed %s after n1 stopped", time.Since(stopped).Round(100*time.Millisecond))
	if code, _ := health(t, b); code != http.StatusOK {
		t.Fatalf("the other node's /health: %d", code)
	}
	// The client reconnects to b and resumes where it was.
	moved := b.dialWS(t, c, cursor, nil)
	for i, m := range readMessages(t, moved, 2) {
		if m.ID != during[i] {
			t.Fatalf("resumed on node b: message %d is %s %q, want %s", i, m.ID, m.Content, during[i])
		}
	}

	n1.Restart()
	waitHealth(t, a, http.StatusOK)
	rc.waitNodes(t, 2)
	after := postN(t, hookURL, 1, "after ")
	if m := readMessages(t, moved, 1)[0]; m.ID != after[0] {
		t.Fatalf("posted to node a after it rejoined, node b's socket got %s %q", m.ID, m.Content)
	}
	if n := len(messages(t, on(c, a))); n != len(before)+len(during)+len(after) {
		t.Fatalf("%d messages stored, want %d (none of the refused one)", n, len(before)+len(during)+len(after))
	}
}

// The NATS server leading the relay's stream is lost while webhooks flow
// through both nodes: every POST ends 200 (held through the election, not
// refused), and every acknowledged message is stored once.
func TestClusterStreamLeaderLost(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a JetStream leader election")
	}
	rc := newRelayCluster(t, 2, noLimits)
	c := rc.nodes[0].register(t, false)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	leader := natstest.StreamLeader(t, rc.nats.URLs(), jsstore.DefaultPrefix)
	victim := rc.nats.Server(leader)

	const writers = 4
	var (
		mu      sync.Mutex
		acked   = map[string]string{} // content → message id
		slowest time.Duration
		wg      sync.WaitGroup
	)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	stop := make(chan struct{})
	for w := range writers {
		target := at(rc.nodes[w%2], hookURL)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				content := fmt.Sprintf("w%d-%d", w, i)
				start := time.Now()
				id, err := client.PostWebhook(bg, nil, target, "text/plain", []byte(content))
				if err != nil {
					t.Errorf("POST %s: %v (after %s)", content, err, time.Since(start).Round(time.Millisecond))
					return
				}
				mu.Lock()
				acked[content] = id
				slowest = max(slowest, time.Since(start))
				mu.Unlock()
			}
		})
	}
	waitFor(t, "writes before the loss", func() bool { return count() >= 40 })
	victim.Stop()
	lost := count()
	waitWithin(t, 30*time.Second, "writes after the election", func() bool { return count() >= lost+40 })
	close(stop)
	wg.Wait()
	mu.Lock()
	t.Logf("stopped %s, the stream's leader; %d writes acknowledged, the slowest in %s", leader, len(acked), slowest.Round(time.Millisecond))
	mu.Unlock()
	if t.Failed() {
		return
	}

	// A node whose consumer lived on the lost server sees the other's
	// writes once it has made the consumer again elsewhere, seconds after
	// the election, and a read may answer 503 meanwhile. Wait for that,
	// then count.
	for _, r := range rc.nodes {
		var stored map[string]int
		waitWithin(t, 20*time.Second, "every acknowledged message readable on "+r.URL, func() bool {
			msgs, err := allMessages(on(c, r))
			stored = map[string]int{}
			for _, m := range msgs {
				stored[m.Content]++
			}
			return err == nil && len(stored) >= len(acked)
		})
		for content, id := range acked {
			if stored[content] != 1 {
				t.Errorf("node %s: acknowledged message %s (%s) stored %d times", r.URL, content, id, stored[content])
			}
		}
		if len(stored) != len(acked) {
			t.Errorf("node %s: %d messages stored, %d acknowledged", r.URL, len(stored), len(acked))
		}
	}
}

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/discord/discordtest"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// waitWithin polls cond until it holds or d passes.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failover is a load balancer in front of relay nodes: it sends each
// request to the first node of its list that accepts a connection, as a
// balancer does once its health check has found a node gone.
type failover struct {
	mu    sync.Mutex
	nodes []*url.URL
}

func (f *failover) add(t *testing.T, p *process) {
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.nodes = append(f.nodes, u)
	f.mu.Unlock()
}

func (f *failover) pick() *url.URL {
	f.mu.Lock()
	nodes := append([]*url.URL(nil), f.nodes...)
	f.mu.Unlock()
	for _, u := range nodes {
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			_ = c.Close()
			return u
		}
	}
	return &url.URL{Scheme: "http", Host: "127.0.0.1:1"} // none: the proxy answers 502
}

// serve starts the balancer; WebSocket upgrades pass through.
func (f *failover) serve(t *testing.T) string {
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(f.pick()) }})
	t.Cleanup(srv.Close)
	return srv.URL
}

// holdingProxy stands in front of the fake Discord's REST API, and holds
// one create-message call to a Discord channel (the nth) until its sender
// goes away, so that a test can kill a node in the middle of a delivery.
type holdingProxy struct {
	channel string
	nth     int
	held    chan struct{} // closed when the nth call arrives

	mu    sync.Mutex
	calls int
}

func (h *holdingProxy) serve(t *testing.T, fake *discordtest.Server) string {
	up, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: up.Scheme, Host: up.Host})
	ended := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/channels/"+h.channel+"/messages") {
			h.mu.Lock()
			h.calls++
			n := h.calls
			h.mu.Unlock()
			if n == h.nth {
				// Read the body, so that the server notices the sender
				// going away (it listens for that once the body is read).
				_, _ = io.Copy(io.Discard, r.Body)
				close(h.held)
				select {
				case <-r.Context().Done(): // its sender died: Discord never saw it
				case <-ended:
				}
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(ended) }) // before Close, which waits for the handler
	return srv.URL + discordtest.APIPath
}

// received is what a subscriber got, in order.
type received struct {
	mu   sync.Mutex
	msgs []client.Message
	at   []time.Time
}

func (r *received) add(m client.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs, r.at = append(r.msgs, m), append(r.at, time.Now())
	return nil
}

// firstAfter returns when the first message with content matching prefix
// arrived (zero if none has).
func (r *received) firstAfter(prefix string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.msgs {
		if strings.HasPrefix(m.Content, prefix) {
			return r.at[i]
		}
	}
	return time.Time{}
}

func (r *received) snapshot() []client.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Message(nil), r.msgs...)
}

// TestClusterNodeKilled runs two relay processes on three NATS servers
// (replicas 3) and kills one with SIGKILL while webhooks flow through both,
// a client's socket is on it, it holds a Discord bot's gateway session and
// it is halfway through a reply's parts. Nothing acknowledged is lost; the
// client resumes on the other node at once, without a gap or a repeat; the
// gateway session and the channel's deliveries move to the other node
// within 30 s, where the reply goes on from the part that was not
// acknowledged, and the next reply follows it.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and waits for their leases to expire")
	}
	nc := natstest.StartCluster(t, 3)
	fake := discordtest.New(t)
	bot := discordtest.Bot{UserID: "900000000000000001", Username: "relaybot", ApplicationID: "800000000000000001",
		VerifyKey: discordtest.VerifyKey(discordtest.TestSeed())}
	const token = "bot-token-kill"
	fake.AddBot(token, bot)
	hold := &holdingProxy{channel: "4242", nth: 2, held: make(chan struct{})}
	env := append(clusterEnv(t, nc.URLs()), "RELAY_DISCORD_API_URL="+hold.serve(t, fake))
	ctx := context.Background()

	// Node a alone gets the session, the bot and its gateway session; then
	// node b joins.
	a := startProcess(t, t.TempDir(), env...)
	lbs := &failover{}
	lbs.add(t, a)
	lb := lbs.serve(t)
	c, hookA := sessionWithHook(t, a.URL)
	req, err := c.NewRequest(ctx, http.MethodPost, "/channels/discord/register", []byte(`{"botToken":"`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var bot1 struct{ ChannelID string }
	if err := c.Do(req, &bot1); err != nil {
		t.Fatal(err)
	}
	fake.WaitConnected(t, token)
	b := startProcess(t, t.TempDir(), env...)
	lbs.add(t, b)
	hookB := b.URL + strings.TrimPrefix(hookA, a.URL)

	// A client subscribes through the balancer (to node a, while it lives).
	sub := *c
	sub.BaseURL = lb
	got := &received{}
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Subscribe(subCtx, got.add) }()
	defer func() {
		stopSub()
		<-subDone
	}()

	// Writers post through both nodes, and go on through node b.
	killed := make(chan struct{})
	isKilled := func() bool {
		select {
		case <-killed:
			return true
		default:
			return false
		}
	}
	hooks := []string{hookA, hookB, hookA, hookB}
	writers := startPosters(t, hooks, func(w, i int) string {
		if isKilled() {
			return "after " + plainName(w, i)
		}
		return plainName(w, i)
	}, func(hook string) bool { return hook == hookA && isKilled() }) // node a is gone
	count := writers.count
	waitWithin(t, 10*time.Second, "writes through both nodes", func() bool { return count() >= 100 })
	waitWithin(t, 10*time.Second, "the subscriber to follow", func() bool { return len(got.snapshot()) >= 50 })

	// Node a sends a reply in three parts and holds the next: it dies
	// after the first part, with the second on the wire.
	long := strings.Repeat("word ", 900)
	reply := func(content string) string {
		id, err := c.Reply(ctx, client.Reply{ChannelID: bot1.ChannelID, Content: content, Metadata: map[string]any{"discordChannelId": hold.channel}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	reply(long)
	reply("and then this")
	select {
	case <-hold.held:
	case <-time.After(10 * time.Second):
		t.Fatal("node a did not send the reply's second part")
	}

	close(killed)
	killedAt := time.Now()
	a.kill()

	waitWithin(t, 10*time.Second, "the subscriber to resume on node b", func() bool { return !got.firstAfter("after ").IsZero() })
	resumed := got.firstAfter("after ").Sub(killedAt)
	// The gateway session and the channel's deliveries move.
	var gateway, delivered time.Duration
	var sent []discordtest.SentMessage
	for deadline := killedAt.Add(30 * time.Second); gateway == 0 || delivered == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the SIGKILL: the gateway session moved after %s (0: not yet), %d replies' parts delivered", gateway, len(sent))
		}
		if gateway == 0 && fake.Identifies(token) == 2 && fake.Connections(token) == 1 {
			gateway = time.Since(killedAt)
		}
		sent = sent[:0]
		for _, m := range fake.Sent() {
			if m.ChannelID == hold.channel {
				sent = append(sent, m)
			}
		}
		if delivered == 0 && len(sent) >= 4 {
			delivered = time.Since(killedAt)
		}
	}
	if len(sent) != 4 || sent[0].Content+sent[1].Content+sent[2].Content != long || sent[3].Content != "and then this" {
		t.Fatalf("Discord received %d messages; want the reply's three parts, once each and in order, then the next reply", len(sent))
	}
	if most := fake.MostConnections(token); most != 1 {
		t.Fatalf("%d gateway sessions at once", most)
	}
	t.Logf("after the SIGKILL: the client resumed in %s, the gateway session moved in %s, the replies went on in %s",
		resumed.Round(10*time.Millisecond), gateway.Round(100*time.Millisecond), delivered.Round(100*time.Millisecond))
	if resumed > 5*time.Second {
		t.Errorf("the client took %s to resume on the other node", resumed)
	}

	// Everything acknowledged is stored once, and the subscriber saw all of
	// it, in order, once.
	acked, _ := writers.done()
	stored := allMessages(t, c, b.URL)
	storedOnce(t, "node b", stored, acked, false) // a POST cut off by the kill may be stored
	waitWithin(t, 10*time.Second, "the subscriber to catch up", func() bool { return len(got.snapshot()) >= len(stored) })
	seen := got.snapshot()
	if len(seen) != len(stored) {
		t.Fatalf("the subscriber got %d messages, %d are stored", len(seen), len(stored))
	}
	for i := range stored {
		if seen[i].ID != stored[i].ID {
			t.Fatalf("the subscriber's message %d is %s, the store's %s", i, seen[i].ID, stored[i].ID)
		}
	}
	t.Logf("%d messages acknowledged, %d stored", len(acked), len(stored))
	if err := b.stop(t); err != nil {
		t.Errorf("node b's clean stop: %v", err)
	}
}

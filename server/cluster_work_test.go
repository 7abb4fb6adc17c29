package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage"
)

// sendLog records the reply parts every node's sender accepted, and whether
// two nodes were ever sending to one channel at once.
type sendLog struct {
	mu       sync.Mutex
	sent     []sentPart
	inflight map[string]string // channel id → the node sending to it
	overlap  string
}

type sentPart struct {
	node string
	part channels.Part
}

// ofChannel returns the parts sent to a channel, in order.
func (l *sendLog) ofChannel(channelID string) []sentPart {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sentPart
	for _, s := range l.sent {
		if s.part.ChannelID == channelID {
			out = append(out, s)
		}
	}
	return out
}

// nodeSender is one node's sender of Telegram replies, into a shared log.
type nodeSender struct {
	node string
	log  *sendLog
}

func (s *nodeSender) MaxPartUnits() int { return 16 }

func (s *nodeSender) Send(ctx context.Context, p channels.Part, creds channels.Credentials) error {
	if tok, err := creds(ctx, "botToken"); err != nil || string(tok) != "secret-token" {
		return fmt.Errorf("credentials: %q %v", tok, err)
	}
	l := s.log
	l.mu.Lock()
	if other, busy := l.inflight[p.ChannelID]; busy && l.overlap == "" {
		l.overlap = fmt.Sprintf("node %s sent to channel %s while node %s was sending to it", s.node, p.ChannelID, other)
	}
	l.inflight[p.ChannelID] = s.node
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.inflight, p.ChannelID)
		l.sent = append(l.sent, sentPart{node: s.node, part: p})
		l.mu.Unlock()
	}()
	return nil
}

var _ channels.Sender = (*nodeSender)(nil)

// telegramChannel creates a credentialed Telegram channel of c's session
// through r's store.
func telegramChannel(t *testing.T, r *relay, c *client.Client, id string) string {
	t.Helper()
	ch := storage.Channel{ID: id, UserID: c.UserID, Type: storage.TypeTelegram, Direction: storage.DirectionBidirectional,
		Enabled: true, Metadata: json.RawMessage(`{}`), CreatedAt: time.Now()}
	if err := r.store.CreateChannel(bg, &ch, map[string][]byte{"botToken": []byte("secret-token")}); err != nil {
		t.Fatal(err)
	}
	return ch.ID
}

// Replies accepted by both nodes for the same channels are each delivered
// once, all of a reply's parts by one node, in the order the replies were
// accepted, and never by two nodes at once to one channel.
func TestClusterOutboxOnce(t *testing.T) {
	log := &sendLog{inflight: map[string]string{}}
	rc := emptyRelayCluster(t)
	rc.senders = func(i int) map[string]channels.Sender {
		return map[string]channels.Sender{storage.TypeTelegram: &nodeSender{node: strconv.Itoa(i), log: log}}
	}
	a := rc.add(t, fastRetries)
	rc.add(t, fastRetries)
	rc.waitNodes(t, 2)
	c := a.register(t, false)
	chans := make([]string, 3)
	for i := range chans {
		chans[i] = telegramChannel(t, a, c, fmt.Sprintf("tg%d-%s", i, c.UserID[:8]))
	}
	type reply struct{ id, content string }
	sent := map[string][]reply{} // channel → its replies, as accepted
	for i := range 24 {
		ch := chans[i%3]
		r := rc.nodes[(i/3)%2] // a channel's consecutive replies alternate between the nodes
		content := fmt.Sprintf("reply %02d to %s in a few parts", i, ch)
		sent[ch] = append(sent[ch], reply{replyTo(t, on(c, r), ch, content), content})
	}
	waitWithin(t, 30*time.Second, "every reply delivered", func() bool {
		for _, rs := range sent {
			for _, r := range rs {
				if d, err := a.store.Delivery(bg, r.id); err != nil || d.Status != storage.StatusSent {
					return false
				}
			}
		}
		return true
	})

	byNode := map[string]int{}
	for _, ch := range chans {
		parts := log.ofChannel(ch)
		for _, r := range sent[ch] {
			var text strings.Builder
			node := ""
			for i := 0; len(parts) > 0 && parts[0].part.ResponseID == r.id; i++ {
				p := parts[0]
				if i == 0 {
					node = p.node
				}
				if p.part.Index != i || p.node != node {
					t.Fatalf("channel %s: reply %s: part %d is part %d of %d, sent by node %s after node %s", ch, r.id, i, p.part.Index, p.part.Total, p.node, node)
				}
				text.WriteString(p.part.Text)
				parts = parts[1:]
			}
			byNode[node]++
			if text.String() != r.content {
				t.Fatalf("channel %s: reply %s arrived as %q, want %q (each once, in order)", ch, r.id, text.String(), r.content)
			}
		}
		if len(parts) != 0 {
			t.Fatalf("channel %s: %d parts sent beyond the replies, the first of %s", ch, len(parts), parts[0].part.ResponseID)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.overlap != "" {
		t.Fatal(log.overlap)
	}
	t.Logf("replies sent by node: %v", byNode)
}

// The periodic sweep runs on one node of the relay, the holder of the sweep
// lease; when that node stops, another takes the work over at once.
func TestClusterSweepOnce(t *testing.T) {
	var ahead atomic.Int64 // how far the nodes' clock runs ahead of the real one
	rc := emptyRelayCluster(t)
	rc.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	sweepOften := func(c *app.Config) { c.SweepInterval = 200 * time.Millisecond }
	rc.add(t, noLimits, sweepOften)
	rc.add(t, noLimits, sweepOften)
	rc.waitNodes(t, 2)
	c := rc.nodes[0].register(t, false)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	deleted := func(r *relay) int {
		n, _ := strconv.Atoi(r.metric(t, `relay_retention_deleted_total{kind="message"}`))
		return n
	}
	sweeper := func(r *relay) string { // the holder of the sweep lease, as r sees it
		for _, n := range r.app.Nodes() {
			for _, l := range n.Leases {
				if l == "sweep" {
					return n.ID
				}
			}
		}
		return ""
	}

	for _, r := range rc.nodes {
		postN(t, at(r, hookURL), 5, "old ")
	}
	ahead.Store(int64(48 * time.Hour)) // every message is now past the default retention of a day
	waitFor(t, "the sweep", func() bool { return deleted(rc.nodes[0])+deleted(rc.nodes[1]) >= 10 })
	a, b := rc.nodes[0], rc.nodes[1]
	if deleted(a) > 0 && deleted(b) > 0 || deleted(a)+deleted(b) != 10 {
		t.Fatalf("node a swept %d messages, node b %d; want 10 by one node", deleted(a), deleted(b))
	}
	holder, other := a, b
	if deleted(b) > 0 {
		holder, other = b, a
	}
	var id string
	for _, n := range holder.app.Nodes() {
		if n.Self {
			id = n.ID
		}
	}
	if sweeper(a) != id || sweeper(b) != id {
		t.Fatalf("the sweep lease is %q on node a's view and %q on b's, want the sweeping node %s", sweeper(a), sweeper(b), id)
	}

	holder.stop()
	postN(t, at(other, hookURL), 5, "older ")
	waitFor(t, "the other node's sweep", func() bool { return deleted(other) == 5 })
	if s := sweeper(other); s == "" || s == id {
		t.Fatalf("after the sweeping node stopped, the lease is held by %q", s)
	}
}

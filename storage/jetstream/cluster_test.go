package jetstream_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// TestClusterLeaderKilled: on three servers with three replicas, the
// server that leads the stream is stopped while writers append, and later
// the server the store is connected to. Writes are held through the
// election and the reconnect instead of failing, and every acknowledged
// message is there afterwards, once, in order.
func TestClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a JetStream leader election")
	}
	c := natstest.StartCluster(t, 3)
	prefix := newPrefix()
	// The store talks to n1; the stream's leader is moved elsewhere, and
	// stopped, so that the store stays connected while JetStream elects.
	s := open(t, jetstream.Options{URLs: c.Servers[0].URL(), Prefix: prefix, Replicas: 3, WriteTimeout: 20 * time.Second})
	nc, err := nats.Connect(c.Servers[0].URL())
	must(t, err)
	defer nc.Close()
	waitFor(t, 10*time.Second, "the stream's leader off n1", func() bool {
		l := natstest.StreamLeader(t, c.URLs(), prefix)
		if l == "n1" {
			_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+prefix, nil, time.Second)
		}
		return l != "n1"
	})
	victim := c.Server(natstest.StreamLeader(t, c.URLs(), prefix))

	users := []string{storage.NewID(), storage.NewID()}
	var (
		mu    sync.Mutex
		acked = map[string][]string{} // user → contents acknowledged, in order
		slow  time.Duration           // the longest write
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, u := range users {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := storage.Message{UserID: u, ChannelID: "c", Content: fmt.Sprint(w, "-", i)}
				start := time.Now()
				if err := s.AppendMessage(ctx, &m, storage.AppendOptions{}); err != nil {
					t.Errorf("append during the election: %v", err)
					return
				}
				mu.Lock()
				acked[u] = append(acked[u], m.Content)
				slow = max(slow, time.Since(start))
				mu.Unlock()
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked[users[0]]) + len(acked[users[1]])
	}
	longest := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slow
	}
	waitFor(t, 10*time.Second, "writes before the stop", func() bool { return count() >= 50 })
	victim.Stop()
	stoppedAt := count()
	waitFor(t, 30*time.Second, "writes after the election", func() bool { return count() >= stoppedAt+50 })
	t.Logf("stopped the leader %s; longest write %s; %d writes acknowledged", victim.Name(), longest(), count())

	victim.Restart()
	c.WaitMetaLeader(t)
	c.Servers[0].Stop() // the store's server: it moves to another
	stoppedAt = count()
	waitFor(t, 30*time.Second, "writes after the reconnect", func() bool { return count() >= stoppedAt+50 })
	close(stop)
	wg.Wait()
	t.Logf("stopped the store's server n1; longest write %s; %d writes acknowledged", longest(), count())

	for _, u := range users {
		msgs, more, err := s.MessagesAfter(ctx, u, time.Time{}, 10_000)
		must(t, err)
		equal(t, "more", more, false)
		equal(t, "messages of "+u, len(msgs), len(acked[u]))
		for i, m := range msgs {
			equal(t, "content", m.Content, acked[u][i])
			if i > 0 && !m.Timestamp.After(msgs[i-1].Timestamp) {
				t.Fatalf("timestamps not increasing at %d", i)
			}
		}
	}
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/internal/natsrun"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// startNATSCluster runs n nats-servers named n1…nN in one cluster, each in
// its own process (this test binary again: TestMain calls
// natsrun.ServeIfChild), and returns them with their client URLs once
// JetStream has a meta leader. A server in the test's process could only
// shut down, which hands its Raft leaderships over first: a crash's
// election needs a process to kill.
func startNATSCluster(t *testing.T, n int) ([]*natsrun.Process, string) {
	t.Helper()
	cfgs, err := natsrun.Options{Dir: t.TempDir(), Servers: n}.Configs()
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	procs := make([]*natsrun.Process, n)
	for i, cfg := range cfgs {
		urls = append(urls, cfg.URL())
		p, err := natsrun.Spawn(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		procs[i] = p
	}
	nc := connectNATS(t, strings.Join(urls, ","))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitWithin(t, 30*time.Second, "JetStream's meta leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return procs, strings.Join(urls, ",")
}

// connectNATS connects to urls, retrying while the servers start.
func connectNATS(t *testing.T, urls string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(urls, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// The NATS server leading the relay's stream is killed with SIGKILL while
// webhooks flow through two relay processes and a client follows on a
// socket: every POST ends 200 (held through the election rather than
// refused), every acknowledged message is stored once, and the client
// receives each once, in order.
func TestClusterNATSServerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and waits for a JetStream election")
	}
	servers, urls := startNATSCluster(t, 3)
	env := clusterEnv(t, urls)
	a := startProcess(t, t.TempDir(), env...)
	b := startProcess(t, t.TempDir(), env...)
	ctx := context.Background()
	c, hookA := sessionWithHook(t, a.URL)
	hookB := b.URL + strings.TrimPrefix(hookA, a.URL)

	sub := *c
	sub.BaseURL = b.URL
	got := &received{}
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Subscribe(subCtx, got.add) }()
	defer func() {
		stopSub()
		<-subDone
	}()

	writers := startPosters(t, []string{hookA, hookB, hookA, hookB}, plainName, nil)
	count := writers.count
	waitWithin(t, 10*time.Second, "writes through both nodes", func() bool { return count() >= 100 })

	leader := natstest.StreamLeader(t, urls, "relay")
	var victim *natsrun.Process
	for _, p := range servers {
		if p.Name == leader {
			victim = p
		}
	}
	if victim == nil {
		t.Fatalf("no server is called %q, the stream's leader", leader)
	}
	before := count()
	victim.Kill()
	killedAt := time.Now()
	waitWithin(t, 30*time.Second, "writes after the election", func() bool { return count() >= before+100 })
	acked, slowest := writers.done()
	t.Logf("killed %s, the stream's leader: %d writes acknowledged, the slowest in %s; 100 more within %s",
		leader, len(acked), slowest.Round(time.Millisecond), time.Since(killedAt).Round(100*time.Millisecond))
	if t.Failed() {
		return
	}

	// A node whose consumer of the stream lived on the killed server sees
	// the other node's last writes once it has made the consumer again on
	// another server, seconds after the election; meanwhile a read may
	// answer 503 (retry). Wait for that, then count.
	stopped := time.Now()
	for _, node := range []*process{a, b} {
		var stored []client.Message
		waitWithin(t, 20*time.Second, "every acknowledged message readable on "+node.URL, func() bool {
			var err error
			stored, err = readAll(c, node.URL)
			return err == nil && len(stored) >= len(acked)
		})
		storedOnce(t, "node "+node.URL, stored, acked, true)
	}
	t.Logf("both nodes had every message %s after the writes stopped", time.Since(stopped).Round(10*time.Millisecond))
	stored := allMessages(t, c, b.URL)
	waitWithin(t, 10*time.Second, "the subscriber to catch up", func() bool { return len(got.snapshot()) >= len(stored) })
	for i, m := range got.snapshot() {
		if i >= len(stored) || m.ID != stored[i].ID {
			t.Fatalf("the subscriber's message %d is %s %q, not the store's", i, m.ID, m.Content)
		}
	}
}

// allMessages pages through every message of c's session on the relay at
// baseURL.
func allMessages(t *testing.T, c *client.Client, baseURL string) []client.Message {
	t.Helper()
	out, err := readAll(c, baseURL)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readAll is allMessages, which may fail.
func readAll(c *client.Client, baseURL string) ([]client.Message, error) {
	at := *c
	at.BaseURL = baseURL
	var out []client.Message
	for since := ""; ; {
		page, err := at.Messages(context.Background(), since, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Messages...)
		since = page.Since
		if !page.HasMore {
			return out, nil
		}
	}
}

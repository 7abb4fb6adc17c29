package server_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/client"
)

// TestCursorIsLossless: writers ingest concurrently while a poller follows
// `since` with pages smaller than the backlog. The poller sees every
// acknowledged message exactly once, in timestamp order (PROTOCOL §5.2).
func TestCursorIsLossless(t *testing.T) {
	r := newRelay(t, func(c *app.Config) { c.RateLimits.Disabled = true })
	c := r.register(t, true)
	_, hook := webhookChannel(t, c, client.NewChannel{})

	const writers, each = 6, 60
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				content := fmt.Sprintf("%d-%03d", w, i)
				if _, err := client.PostWebhook(bg, nil, hook, "text/plain", []byte(content)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[content] = true
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var got []client.Message
	finished := false
	for {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := c.Poll(bg, 7)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Messages...)
		if finished && !page.HasMore {
			break // a poll that started after the last ack saw everything
		}
	}
	if len(got) != writers*each {
		t.Fatalf("poller saw %d messages, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	last := map[byte]string{}
	for i, m := range got {
		if seen[m.Content] {
			t.Fatalf("%s delivered twice", m.Content)
		}
		seen[m.Content] = true
		if !acked[m.Content] {
			t.Fatalf("%s was never acknowledged", m.Content)
		}
		if i > 0 && m.Timestamp <= got[i-1].Timestamp {
			t.Fatalf("out of order at %d: %s after %s", i, m.Timestamp, got[i-1].Timestamp)
		}
		if w := m.Content[0]; m.Content <= last[w] {
			t.Fatalf("writer %c out of order: %s after %s", w, m.Content, last[w])
		}
		last[m.Content[0]] = m.Content
	}
}

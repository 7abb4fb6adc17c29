package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/client"
)

// TestCrashLosesNothing kills the relay with SIGKILL while clients ingest
// concurrently, restarts it on the same file, and checks that every message
// that was acknowledged with a 200 is there exactly once.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	ctx := context.Background()
	c, err := client.Register(ctx, p.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, hook, err := c.CreateChannel(ctx, client.NewChannel{})
	if err != nil {
		t.Fatal(err)
	}

	const writers = 8
	var (
		mu    sync.Mutex
		acked = map[string]string{} // content → messageId
		total atomic.Int64
		wg    sync.WaitGroup
	)
	killAt := int64(400)
	killed := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				content := fmt.Sprintf("w%d-%d", w, i)
				id, err := client.PostWebhook(ctx, nil, hook, "text/plain", []byte(content))
				if err != nil {
					select {
					case <-killed:
						return // the relay is gone: expected
					default:
						t.Errorf("webhook before the kill: %v", err)
						return
					}
				}
				mu.Lock()
				acked[content] = id
				mu.Unlock()
				total.Add(1)
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for total.Load() < killAt {
		if time.Now().After(deadline) {
			t.Fatalf("only %d acknowledgements in 30s", total.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(killed)
	p.kill()
	wg.Wait()

	p = startProcess(t, dir)
	c.BaseURL = p.URL
	var got []client.Message
	since := ""
	for {
		page, err := c.Messages(ctx, since, 500)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Messages...)
		since = page.Since
		if !page.HasMore {
			break
		}
	}
	seen := map[string]int{}
	for _, m := range got {
		seen[m.Content]++
	}
	for content, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", content, n)
		}
	}
	for content, id := range acked {
		if seen[content] != 1 {
			t.Errorf("acknowledged message %s (%s) lost", content, id)
		}
	}
	t.Logf("%d acknowledged, %d stored after SIGKILL", len(acked), len(got))
	if err := p.stop(t); err != nil {
		t.Errorf("clean stop: %v", err)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/chaos-relay/relay/client"
)

// bench is what one scenario run works with.
type bench struct {
	cfg   config
	hc    *http.Client
	url   string
	relay *relayProc // nil when the relay was given with -url
	wsCap int        // the relay's per-user socket cap
	notes func(format string, a ...any)
}

// user is a registered session with, optionally, one webhook channel.
type user struct {
	c       *client.Client
	webhook string // the channel's webhookUrl (token included)
}

// setupConcurrency is how many registrations run at once.
const setupConcurrency = 16

// newUsers registers n sessions and, withChannel, creates a webhook channel
// for each.
func (b *bench) newUsers(ctx context.Context, n int, withChannel bool) ([]user, error) {
	users := make([]user, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(setupConcurrency)
	for i := range users {
		g.Go(func() error {
			var key *ecdsa.PrivateKey // nil: a legacy (unsigned) session
			if b.cfg.Signed {
				k, err := client.GenerateKey()
				if err != nil {
					return err
				}
				key = k
			}
			c, err := client.Register(ctx, b.url, key, b.hc)
			if err != nil {
				return fmt.Errorf("register: %w", err)
			}
			users[i].c = c
			if !withChannel {
				return nil
			}
			_, hook, err := c.CreateChannel(ctx, client.NewChannel{Type: "webhook", Name: "relaybench"})
			if err != nil {
				return fmt.Errorf("create channel: %w", err)
			}
			// A relay with RELAY_BASE_URL would hand out a public webhook URL:
			// refuse to send anything there.
			if err := checkLoopbackURL(hook); err != nil {
				return fmt.Errorf("webhook URL: %w", err)
			}
			users[i].webhook = hook
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return users, nil
}

// health reads GET /health.
func (b *bench) health(ctx context.Context) (websockets int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/health", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("health: status %d", resp.StatusCode)
	}
	var h struct {
		WebSockets int `json:"websockets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, fmt.Errorf("health: %w", err)
	}
	return h.WebSockets, nil
}

// rss returns the relay's resident memory: /proc for a relay relaybench
// started, else process_resident_memory_bytes from its /metrics.
func (b *bench) rss(ctx context.Context) (int64, error) {
	if b.relay != nil {
		return b.relay.rss()
	}
	v, err := b.metric(ctx, "process_resident_memory_bytes")
	return int64(v), err
}

// metric reads one unlabelled sample from the relay's /metrics.
func (b *bench) metric(ctx context.Context, name string) (float64, error) {
	v, err := b.metrics(ctx, name)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// metrics reads unlabelled samples, in the order of names, from one scrape
// of the relay's /metrics.
func (b *bench) metrics(ctx context.Context, names ...string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: status %d (is RELAY_METRICS_TOKEN set?)", resp.StatusCode)
	}
	return parseMetrics(resp.Body, names...)
}

// parseMetrics finds the unlabelled samples names in Prometheus text; every
// one must be there.
func parseMetrics(r io.Reader, names ...string) ([]float64, error) {
	out := make([]float64, len(names))
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && found < len(names) {
		name, v, ok := strings.Cut(sc.Text(), " ")
		i := slices.Index(names, name)
		if !ok || i < 0 {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %s: %w", name, err)
		}
		out[i] = f
		found++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if found < len(names) {
		return nil, fmt.Errorf("metrics: not all of %s", strings.Join(names, ", "))
	}
	return out, nil
}

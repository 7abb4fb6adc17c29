package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	url   string      // node 1's base URL
	nodes []string    // every node's base URL: one for a single relay
	dep   *deployment // nil when the relay was given with -url
	wsCap int         // the relay's per-user socket cap
	notes func(format string, a ...any)
}

// node is the base URL of node i, counted round the nodes.
func (b *bench) node(i int) string { return b.nodes[i%len(b.nodes)] }

// user is a registered session with, optionally, one webhook channel.
// A relay of several nodes serves it on any of them: at and hook address
// node i (counted round the nodes).
type user struct {
	c       *client.Client
	webhook string // the channel's webhookUrl (token included), on the node that created it

	clients []*client.Client // the session on each node
	hooks   []string         // the webhook URL on each node
}

// at is the session's client on node i.
func (u user) at(i int) *client.Client { return u.clients[i%len(u.clients)] }

// hook is the channel's webhook URL on node i.
func (u user) hook(i int) string { return u.hooks[i%len(u.hooks)] }

// onNodes fills u's clients and webhook URLs for every node.
func (u *user) onNodes(nodes []string) error {
	for _, n := range nodes {
		c := *u.c
		c.BaseURL = n
		u.clients = append(u.clients, &c)
		if u.webhook == "" {
			continue
		}
		hook, err := rebase(u.webhook, n)
		if err != nil {
			return err
		}
		u.hooks = append(u.hooks, hook)
	}
	return nil
}

// rebase is raw with the scheme and host of base: the same webhook on
// another node.
func rebase(raw, base string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("webhook URL: %w", err)
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("node URL: %w", err)
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String(), nil
}

// setupConcurrency is how many registrations run at once.
const setupConcurrency = 16

// newUsers registers n sessions and, withChannel, creates a webhook channel
// for each. Session i is registered, and its channel created, on node i.
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
			c, err := client.Register(ctx, b.node(i), key, b.hc)
			if err != nil {
				return fmt.Errorf("register: %w", err)
			}
			users[i].c = c
			if !withChannel {
				return users[i].onNodes(b.nodes)
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
			return users[i].onNodes(b.nodes)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return users, nil
}

// health reads GET /health of every node: the sockets they hold.
func (b *bench) health(ctx context.Context) (websockets int, err error) {
	for _, n := range b.nodes {
		k, err := b.nodeHealth(ctx, n)
		if err != nil {
			return 0, err
		}
		websockets += k
	}
	return websockets, nil
}

// nodeHealth reads one node's GET /health.
func (b *bench) nodeHealth(ctx context.Context, node string) (websockets int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, node+"/health", nil)
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

// rss returns the relays' resident memory: /proc for relays relaybench
// started, else process_resident_memory_bytes from its /metrics.
func (b *bench) rss(ctx context.Context) (int64, error) {
	if b.dep != nil {
		var sum int64
		for _, p := range b.dep.relays {
			n, err := p.rss()
			if err != nil {
				return 0, err
			}
			sum += n
		}
		return sum, nil
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
// of each node's /metrics, summed over the nodes.
func (b *bench) metrics(ctx context.Context, names ...string) ([]float64, error) {
	sum := make([]float64, len(names))
	for _, n := range b.nodes {
		v, err := b.nodeMetrics(ctx, n, names...)
		if err != nil {
			return nil, err
		}
		for i := range v {
			sum[i] += v[i]
		}
	}
	return sum, nil
}

// nodeMetrics reads unlabelled samples from one scrape of a node's /metrics.
func (b *bench) nodeMetrics(ctx context.Context, node string, names ...string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, node+"/metrics", nil)
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

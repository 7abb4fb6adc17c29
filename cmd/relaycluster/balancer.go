package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// balancer is a plain round-robin load balancer, as a relay of several nodes
// runs behind: no sticky sessions, WebSockets included, and relays whose
// /health fails are skipped.
type balancer struct {
	nodes   []*url.URL
	healthy []atomic.Bool
	next    atomic.Uint64
	srv     *http.Server
	wg      sync.WaitGroup
}

func newBalancer(port int, relays []*relayProc) (*balancer, error) {
	b := &balancer{healthy: make([]atomic.Bool, len(relays))}
	for i, r := range relays {
		u, err := url.Parse(r.url)
		if err != nil {
			return nil, err
		}
		b.nodes = append(b.nodes, u)
		b.healthy[i].Store(true)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(b.pick())
			r.SetXForwarded()
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "no relay answered: "+err.Error(), http.StatusBadGateway)
		},
	}
	b.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	b.wg.Go(func() {
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("load balancer:", err)
		}
	})
	return b, nil
}

// pick is the next healthy relay, round robin (any relay when none is).
func (b *balancer) pick() *url.URL {
	n := uint64(len(b.nodes))
	start := b.next.Add(1)
	for i := range n {
		if j := (start + i) % n; b.healthy[j].Load() {
			return b.nodes[j]
		}
	}
	return b.nodes[start%n]
}

// watch checks every relay's /health each period until ctx ends.
func (b *balancer) watch(ctx context.Context, period time.Duration) {
	hc := &http.Client{Timeout: period}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		for i, u := range b.nodes {
			resp, err := hc.Get(u.String() + "/health")
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				_ = resp.Body.Close()
			}
			if b.healthy[i].Swap(ok) != ok {
				fmt.Printf("load balancer: %s is %s\n", u, map[bool]string{true: "healthy", false: "down"}[ok])
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *balancer) close() {
	_ = b.srv.Close()
	b.wg.Wait()
}

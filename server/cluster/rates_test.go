package cluster

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// config is the default config with every rate r, so that any name works.
func config(r ratelimit.Rate) ratelimit.Config {
	return ratelimit.Config{Register: r, Messages: r, Reply: r, Webhook: r, EmailInbound: r, Channels: r, AdminLogin: r, MCP: r}
}

func TestRatesSemantics(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	prefix := newPrefix()
	clk := storagetest.NewClock(time.Now())
	oa, ob := options(t, connect(t, srv.URL()), prefix), options(t, connect(t, srv.URL()), prefix)
	oa.Now, ob.Now = clk.Now, clk.Now
	a, b := join(t, oa), join(t, ob)
	cfg := config(ratelimit.Rate{N: 10, Per: time.Minute}) // one token per 6 s
	la, lb := a.Limiters(cfg), b.Limiters(cfg)

	// The burst, spread over two nodes, is one burst.
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		if wait, ok := l.Allow(ratelimit.AdminLogin, "203.0.113.7"); !ok {
			t.Fatalf("request %d refused, wait %s", i+1, wait)
		}
	}
	for _, l := range []*Limiters{la, lb} {
		wait, ok := l.Allow(ratelimit.AdminLogin, "203.0.113.7")
		equal(t, "admitted over the burst", ok, false)
		equal(t, "wait", wait, 6*time.Second)
	}
	// A refusal is remembered: no round trip, and the wait shrinks.
	clk.Add(time.Second)
	wait, ok := la.Allow(ratelimit.AdminLogin, "203.0.113.7")
	equal(t, "admitted while refused", ok, false)
	equal(t, "wait", wait, 5*time.Second)
	// Once the wait is over, one request is admitted, wherever it goes.
	clk.Add(wait)
	_, ok = lb.Allow(ratelimit.AdminLogin, "203.0.113.7")
	equal(t, "admitted after the wait", ok, true)
	_, ok = la.Allow(ratelimit.AdminLogin, "203.0.113.7")
	equal(t, "admitted twice after the wait", ok, false)

	// Other keys, and other limits, have their own buckets.
	_, ok = la.Allow(ratelimit.AdminLogin, "203.0.113.8")
	equal(t, "other key", ok, true)
	_, ok = lb.Allow(ratelimit.Register, "203.0.113.7")
	equal(t, "other limit", ok, true)
	// The email limit has one bucket for all keys.
	for range 10 {
		if _, ok := la.Allow(ratelimit.EmailInbound, "a"); !ok {
			t.Fatal("email refused within the burst")
		}
	}
	_, ok = lb.Allow(ratelimit.EmailInbound, "b")
	equal(t, "email over the burst, another key", ok, false)

	equal(t, "fallbacks", la.Fallbacks()+lb.Fallbacks(), 0)
	equal(t, "pruned", la.Prune() > 0, false) // everything is still in use
	clk.Add(2 * time.Minute)
	equal(t, "pruned when full again", la.Prune() > 0, true)

	// Disabled admits all.
	off := a.Limiters(ratelimit.Config{Disabled: true})
	_, ok = off.Allow(ratelimit.AdminLogin, "203.0.113.7")
	equal(t, "disabled", ok, true)
}

func TestRatesAcrossNodes(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	cs := joinAll(t, newPrefix(), 3, nats3.Servers[0].URL(), nats3.Servers[1].URL(), nats3.Servers[2].URL())
	rate := ratelimit.Rate{N: 50, Per: time.Second} // chunks of 5
	var admitted, refused atomic.Int64
	var badWait atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	var limiters []*Limiters
	for _, c := range cs {
		l := c.Limiters(config(rate))
		limiters = append(limiters, l)
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if wait, ok := l.Allow(ratelimit.Webhook, "chan1"); ok {
						admitted.Add(1)
					} else {
						refused.Add(1)
						if wait <= 0 || wait > rate.Per {
							badWait.Store(wait)
						}
					}
				}
			})
		}
	}
	_ = sleep(t.Context(), 1500*time.Millisecond) // the length of the hammering, not a synchronisation
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	limit := int64(rate.N) + int64(float64(rate.N)*elapsed.Seconds()) + 5
	var fallbacks uint64
	for _, l := range limiters {
		fallbacks += l.Fallbacks()
	}
	t.Logf("%d admitted, %d refused in %s; limit %d; %d fallbacks", admitted.Load(), refused.Load(), elapsed, limit, fallbacks)
	if fallbacks > 0 {
		// KV writes timed out (a loaded machine): each node's own limiter
		// answered for a while, and may have admitted a burst of its own.
		limit += int64(len(cs)) * (int64(rate.N) + int64(float64(rate.N)*elapsed.Seconds()))
	}
	if admitted.Load() > limit {
		t.Fatalf("%d admitted in %s, more than %d", admitted.Load(), elapsed, limit)
	}
	if admitted.Load() < int64(rate.N) {
		t.Fatalf("%d admitted, less than the burst %d", admitted.Load(), rate.N)
	}
	if w := badWait.Load(); w != nil {
		t.Fatalf("refused with wait %v", w)
	}
	// Another key is not affected.
	if _, ok := cs[0].Limiters(config(rate)).Allow(ratelimit.Webhook, "chan2"); !ok {
		t.Fatal("another key refused")
	}
}

func TestRatesFallBackWithoutNATS(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	c := join(t, options(t, connect(t, srv.URL()), newPrefix()))
	l := c.Limiters(config(ratelimit.Rate{N: 3, Per: time.Hour}))
	_, ok := l.Allow(ratelimit.Reply, "u1")
	equal(t, "admitted", ok, true)
	srv.Stop()
	eventually(t, 5*time.Second, "disconnected", func() bool { return !c.nc.IsConnected() })
	// The local limiter has its own burst, and limits.
	for range 3 {
		_, ok := l.Allow(ratelimit.Reply, "u1")
		equal(t, "admitted by the local limiter", ok, true)
	}
	_, ok = l.Allow(ratelimit.Reply, "u1")
	equal(t, "over the local burst", ok, false)
	equal(t, "fallbacks", l.Fallbacks(), 4)
}

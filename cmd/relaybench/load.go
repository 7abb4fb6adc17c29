package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient returns the one client every scenario shares. Its transport
// keeps an idle connection per worker: with Go's default of 2 idle
// connections per host, the workers would open and close connections all the
// time and measure their own connection churn instead of the relay.
func newHTTPClient(concurrency int) *http.Client {
	conns := max(concurrency, 16) * 2
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy from the environment
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// requestTimeout bounds one request; loops also stop at their duration.
const requestTimeout = 30 * time.Second

// requestsPerSecondCeiling bounds a closed loop's count as well as its time:
// no loop issues more than this many requests per second of its duration.
const requestsPerSecondCeiling = 1_000_000

// loopStats is the outcome of a closed loop.
type loopStats struct {
	ok, failed int64
	elapsed    time.Duration   // from the first request to the last answer
	lat        []time.Duration // of the successful requests
	firstErr   error
}

// closedLoop runs workers that each issue op back to back until d has passed
// (a request in flight then completes) or limit requests were issued. op gets
// the worker number and the request's sequence number.
func closedLoop(ctx context.Context, workers int, d time.Duration, limit int64, op func(ctx context.Context, worker int, seq int64) error) loopStats {
	limit = min(limit, int64(d.Seconds()*requestsPerSecondCeiling)+1)
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		result loopStats
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			var ok, failed int64
			var firstErr error
			lat := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil && time.Since(start) < d {
				seq := next.Add(1) - 1
				if seq >= limit {
					break
				}
				t := time.Now()
				if err := op(ctx, w, seq); err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t))
				ok++
			}
			mu.Lock()
			defer mu.Unlock()
			result.ok += ok
			result.failed += failed
			result.lat = append(result.lat, lat...)
			if result.firstErr == nil {
				result.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	result.elapsed = time.Since(start)
	return result
}

// loopMetrics turns a closed loop into its rate, latency percentiles and
// error count.
func loopMetrics(scenario, rateName, unit, latName string, s loopStats) []metric {
	out := []metric{{Scenario: scenario, Name: rateName, Unit: unit, Value: perSecond(s.ok, s.elapsed)}}
	out = append(out, latencyMetrics(scenario, latName, s.lat)...)
	out = append(out,
		metric{Scenario: scenario, Name: "requests ok", Unit: "count", Value: float64(s.ok)},
		metric{Scenario: scenario, Name: "errors", Unit: "count", Value: float64(s.failed), Agg: aggSum},
	)
	return out
}

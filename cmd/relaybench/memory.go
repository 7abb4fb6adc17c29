package main

import (
	"context"
	"time"
)

// memSampleEvery is how often watchMemory samples during a load.
const memSampleEvery = 5 * time.Second

// memory is the relay's memory at the start and end of a load, and the
// largest Go heap seen in between: in a long e2e run (a soak), heap growth
// beyond the retained data shows as end ≫ start. RSS includes the store's
// memory-mapped pages, which grow with the retained data.
//
// The heap in use is a sawtooth between collections, so the trend is read
// from the GC's heap goal instead (live heap after the last collection ×
// (1+GOGC/100)): its median over the first and the last quarter of a run.
type memory struct {
	rssStart, rssEnd   int64
	heapStart, heapEnd float64
	heapMax            float64
	goals              []float64 // heap goal, every memSampleEvery
	ok                 bool
}

// minTrendSamples is how many heap-goal samples a run needs for the trend
// figures (40 s at memSampleEvery).
const minTrendSamples = 8

// watchMemory samples now and every memSampleEvery until stop is called,
// which samples once more and returns the result. Failures leave ok false.
func (b *bench) watchMemory(ctx context.Context) (stop func() memory) {
	var m memory
	sample := func() (int64, float64, bool) {
		rss, err1 := b.rss(ctx)
		heap, err2 := b.metric(ctx, "go_memstats_heap_inuse_bytes")
		return rss, heap, err1 == nil && err2 == nil
	}
	rss, heap, ok := sample()
	m.rssStart, m.heapStart, m.heapMax, m.ok = rss, heap, heap, ok
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(memSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C: // one scrape; the RSS is only read at the start and the end
				if v, err := b.metrics(ctx, "go_memstats_heap_inuse_bytes", "go_memstats_next_gc_bytes"); err == nil {
					m.heapMax = max(m.heapMax, v[0])
					m.goals = append(m.goals, v[1])
				}
			}
		}
	}()
	return func() memory {
		close(done)
		<-finished
		rss, heap, ok := sample()
		m.rssEnd, m.heapEnd, m.ok = rss, heap, m.ok && ok
		m.heapMax = max(m.heapMax, heap)
		return m
	}
}

// metrics returns the memory figures of scenario, or none when a sample failed.
func (m memory) metrics(scenario string) []metric {
	if !m.ok {
		return nil
	}
	const mib = 1 << 20
	out := []metric{
		{Scenario: scenario, Name: "relay RSS start", Unit: "MiB", Value: float64(m.rssStart) / mib},
		{Scenario: scenario, Name: "relay RSS end", Unit: "MiB", Value: float64(m.rssEnd) / mib},
		{Scenario: scenario, Name: "relay heap start", Unit: "MiB", Value: m.heapStart / mib},
		{Scenario: scenario, Name: "relay heap end", Unit: "MiB", Value: m.heapEnd / mib},
		{Scenario: scenario, Name: "relay heap max", Unit: "MiB", Value: m.heapMax / mib},
	}
	if n := len(m.goals); n >= minTrendSamples {
		out = append(out,
			metric{Scenario: scenario, Name: "relay heap goal, first quarter", Unit: "MiB", Value: median(m.goals[:n/4]) / mib},
			metric{Scenario: scenario, Name: "relay heap goal, last quarter", Unit: "MiB", Value: median(m.goals[n-n/4:]) / mib})
	}
	return out
}

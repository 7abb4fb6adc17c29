package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, which must be in ascending order; 0 when it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// median returns the median of values (the mean of the two middle ones for an
// even count); NaN when there are none.
func median(values []float64) float64 {
	n := len(values)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// latencyMetrics sorts lat and returns its p50, p90, p99 and max in ms, the
// metric names prefixed (e.g. "POST p50").
func latencyMetrics(scenario, prefix string, lat []time.Duration) []metric {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var out []metric
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"max", 100}} {
		out = append(out, metric{Scenario: scenario, Name: prefix + " " + q.name, Unit: "ms", Value: ms(percentile(lat, q.p))})
	}
	return out
}

// perSecond is n per elapsed second; 0 for a zero duration.
func perSecond(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"one max", ms(7), 100, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"max of 1..100", hundred, 100, 100 * time.Millisecond},
		{"nearest rank rounds up", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four is the max", ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"tiny p is the min", ms(1, 2, 3, 4), 0.001, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, percentile(tt.sorted, tt.p), tt.want)
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{"one", []float64{3}, 3},
		{"odd, unsorted", []float64{9, 1, 5}, 5},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"outlier ignored", []float64{100, 101, 5000}, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.values)
			equal(t, median(tt.values), tt.want)
			if !slices.Equal(in, tt.values) {
				t.Errorf("median reordered its input: %v", tt.values)
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestLatencyMetrics(t *testing.T) {
	lat := []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	ms := latencyMetrics("x", "POST", lat)
	var names []string
	var values []float64
	for _, m := range ms {
		names = append(names, m.Name)
		values = append(values, m.Value)
		equal(t, m.Unit, "ms")
		equal(t, m.Scenario, "x")
	}
	if !slices.Equal(names, []string{"POST p50", "POST p90", "POST p99", "POST max"}) {
		t.Errorf("names %v", names)
	}
	if !slices.Equal(values, []float64{2, 4, 4, 4}) {
		t.Errorf("values %v", values)
	}
}

func TestPerSecond(t *testing.T) {
	equal(t, perSecond(500, 250*time.Millisecond), 2000.0)
	equal(t, perSecond(5, 0), 0.0)
}

func TestMemoryTrend(t *testing.T) {
	const mib = 1 << 20
	m := memory{ok: true, goals: []float64{8 * mib, 9 * mib, 20 * mib, 20 * mib, 20 * mib, 20 * mib, 12 * mib, 10 * mib}}
	got := map[string]float64{}
	for _, x := range m.metrics("e2e") {
		got[x.Name] = x.Value
	}
	if got["relay heap goal, first quarter"] != 8.5 || got["relay heap goal, last quarter"] != 11 {
		t.Fatalf("trend figures %v, want first quarter 8.5 and last quarter 11 MiB", got)
	}
	m.goals = m.goals[:minTrendSamples-1]
	for _, x := range m.metrics("e2e") {
		if strings.HasPrefix(x.Name, "relay heap goal") {
			t.Fatalf("a short run reported %q", x.Name)
		}
	}
}

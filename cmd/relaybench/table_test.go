package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestCombine(t *testing.T) {
	ms := []metric{
		{Scenario: "ingest", Name: "acked/s", Unit: "msg/s", Value: 300},
		{Scenario: "ingest", Name: "lost", Unit: "count", Value: 0, Agg: aggSum, Failure: true},
		{Scenario: "ingest", Name: "acked/s", Unit: "msg/s", Value: 100},
		{Scenario: "ingest", Name: "lost", Unit: "count", Value: 2, Agg: aggSum, Failure: true},
		{Scenario: "noop", Name: "requests/s", Unit: "req/s", Value: 7},
		{Scenario: "ingest", Name: "acked/s", Unit: "msg/s", Value: 200},
		{Scenario: "ingest", Name: "lost", Unit: "count", Value: 1, Agg: aggSum, Failure: true},
	}
	rows := combine(ms)
	equal(t, len(rows), 3)
	equal(t, rows[0].Metric, "acked/s")
	equal(t, rows[0].Value, 200.0) // median of 300, 100, 200
	equal(t, rows[0].Runs, 3)
	equal(t, rows[0].Combined, "median")
	if !slices.Equal(rows[0].Values, []float64{300, 100, 200}) {
		t.Errorf("values %v", rows[0].Values)
	}
	equal(t, rows[1].Metric, "lost")
	equal(t, rows[1].Value, 3.0) // failures add up: one lost message in any run shows
	equal(t, rows[1].Combined, "sum")
	equal(t, rows[2].Scenario, "noop")
	equal(t, rows[2].Runs, 1)
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{12345, "12345"},
		{12345.67, "12346"},
		{250.5, "250.5"},
		{12.345, "12.3"},
		{1.2345, "1.23"},
		{0.12345, "0.12"},
		{0.01234, "0.012"},
		{-3, "-3"},
	}
	for _, tt := range tests {
		equal(t, formatValue(tt.in), tt.want)
	}
}

func TestFormatTable(t *testing.T) {
	rows := []row{
		{Scenario: "noop", Metric: "requests/s", Value: 20608, Unit: "req/s", Runs: 3, Combined: "median"},
		{Scenario: "e2e", Metric: "POST→socket p50", Value: 1.33, Unit: "ms", Runs: 1, Combined: "median"},
		{Scenario: "e2e", Metric: "lost", Value: 0, Unit: "count", Runs: 3, Combined: "sum"},
	}
	got := formatTable(rows)
	want := strings.Join([]string{
		"scenario  metric           value  unit   runs",
		"noop      requests/s       20608  req/s  3 (median)",
		"e2e       POST→socket p50   1.33  ms     1",
		"e2e       lost                 0  count  3 (sum)",
		"",
	}, "\n")
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatTableSideBySide(t *testing.T) {
	rows := withRatio([]row{
		{Store: "bolt", Scenario: "ingest", Metric: "acked/s", Value: 8000, Unit: "msg/s", Runs: 3, Combined: "median"},
		{Store: "bolt", Scenario: "ingest", Metric: "CPU relaybench", Value: 0.6, Unit: "cores", Runs: 3, Combined: "median"},
		{Store: "bolt", Scenario: "ingest", Metric: "lost", Value: 0, Unit: "count", Runs: 3, Combined: "sum"},
		{Store: "nats", Scenario: "ingest", Metric: "acked/s", Value: 10000, Unit: "msg/s", Runs: 3, Combined: "median"},
		{Store: "nats", Scenario: "ingest", Metric: "CPU relaybench + NATS", Value: 0.9, Unit: "cores", Runs: 3, Combined: "median"},
		{Store: "nats", Scenario: "ingest", Metric: "lost", Value: 0, Unit: "count", Runs: 3, Combined: "sum"},
		{Store: "nats", Scenario: "failover", Metric: "sockets moved", Value: 100, Unit: "count", Runs: 1, Combined: "median"},
	})
	got := formatTable(rows)
	want := strings.Join([]string{
		"scenario  metric                 bolt   nats  unit   runs",
		"ingest    acked/s                8000  10000  msg/s  3 (median)",
		"ingest    acked/s vs bolt                125  %      3 (median)",
		"ingest    CPU relaybench + NATS         0.90  cores  3 (median)",
		"ingest    CPU relaybench         0.60         cores  3 (median)",
		"ingest    lost                      0      0  count  3 (sum)",
		"failover  sockets moved                  100  count  1",
		"",
	}, "\n")
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWithRatio(t *testing.T) {
	rows := []row{
		{Scenario: "noop", Metric: "requests/s", Value: 20000, Runs: 3},
		{Scenario: "ingest", Metric: "acked/s", Value: 5000, Runs: 3},
		{Scenario: "ingest", Metric: "POST p50", Value: 3, Runs: 3},
	}
	got := withRatio(rows)
	equal(t, len(got), 4)
	equal(t, got[2].Metric, "ingest/noop")
	equal(t, got[2].Value, 25.0)
	equal(t, got[3].Metric, "POST p50")

	only := withRatio(rows[1:])
	equal(t, len(only), 2) // no noop: no ratio

	stores := withRatio([]row{
		{Store: "bolt", Scenario: "noop", Metric: "requests/s", Value: 20000, Runs: 3},
		{Store: "nats", Scenario: "noop", Metric: "requests/s", Value: 10000, Runs: 3},
		{Store: "bolt", Scenario: "ingest", Metric: "acked/s", Value: 8000, Runs: 3},
		{Store: "nats", Scenario: "ingest", Metric: "acked/s", Value: 6000, Runs: 2},
	})
	equal(t, len(stores), 7)
	equal(t, stores[3].Metric, "ingest/noop")
	equal(t, stores[3].Value, 40.0)
	equal(t, stores[5].Store+" "+stores[5].Metric, "nats ingest/noop")
	equal(t, stores[5].Value, 60.0)
	equal(t, stores[6].Store+" "+stores[6].Metric, "nats acked/s vs bolt")
	equal(t, stores[6].Value, 75.0)
	equal(t, stores[6].Runs, 2)
}

func TestWriteReportJSON(t *testing.T) {
	var buf bytes.Buffer
	rep := report{Target: "start", Runs: 1, Rows: []row{{Scenario: "poll", Metric: "polls/s", Value: 5, Unit: "req/s", Runs: 1}}, Lost: 1}
	must(t, writeReport(&buf, rep, true))
	var back report
	must(t, json.Unmarshal(buf.Bytes(), &back))
	equal(t, back.Rows[0].Metric, "polls/s")
	equal(t, back.Lost, int64(1))
}

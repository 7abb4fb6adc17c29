package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// aggregation says how the runs of a metric are combined.
type aggregation int

const (
	aggMedian aggregation = iota // rates, latencies, memory
	aggSum                       // counts of failures: one lost message in any run must show
)

// metric is one figure of one scenario run.
type metric struct {
	Store    string // the store of the relay it ran on; "" for a relay given with -url
	Scenario string
	Name     string
	Unit     string
	Value    float64
	Agg      aggregation
	Failure  bool // a lost or duplicated message count: non-zero fails the run
}

// row is one line of the output: a metric combined over its runs.
type row struct {
	Store    string    `json:"store,omitempty"`
	Scenario string    `json:"scenario"`
	Metric   string    `json:"metric"`
	Value    float64   `json:"value"`
	Unit     string    `json:"unit"`
	Runs     int       `json:"runs"`
	Values   []float64 `json:"values"`
	Combined string    `json:"combined"` // "median" or "sum"
}

// combine groups metrics by store, scenario and name, in first-seen order,
// and reduces each group to its median (or sum, for failure counts).
func combine(ms []metric) []row {
	var rows []row
	index := map[[3]string]int{}
	aggs := map[[3]string]aggregation{}
	for _, m := range ms {
		k := [3]string{m.Store, m.Scenario, m.Name}
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			aggs[k] = m.Agg
			rows = append(rows, row{Store: m.Store, Scenario: m.Scenario, Metric: m.Name, Unit: m.Unit})
		}
		rows[i].Values = append(rows[i].Values, m.Value)
	}
	for i := range rows {
		r := &rows[i]
		r.Runs = len(r.Values)
		if aggs[[3]string{r.Store, r.Scenario, r.Metric}] == aggSum {
			r.Combined = "sum"
			for _, v := range r.Values {
				r.Value += v
			}
			continue
		}
		r.Combined = "median"
		r.Value = median(r.Values)
	}
	return rows
}

// formatValue prints integers as such and other values with a precision
// that suits their size.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 0.1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// formatTable renders rows as an aligned table: text columns left-aligned,
// values right-aligned; the runs column says how values were combined. Rows
// of several stores are set side by side, a column of values per store.
func formatTable(rows []row) string {
	stores := storesOf(rows)
	if len(stores) <= 1 {
		cells := [][]string{{"scenario", "metric", "value", "unit", "runs"}}
		for _, r := range rows {
			cells = append(cells, []string{r.Scenario, r.Metric, formatValue(r.Value), r.Unit, runsCell(r)})
		}
		return alignCells(cells, 2, 1)
	}
	head := append([]string{"scenario", "metric"}, stores...)
	cells := [][]string{append(head, "unit", "runs")}
	for _, k := range sideBySide(rows) {
		line := []string{k.scenario, k.metric}
		var first *row
		for _, st := range stores {
			cell := ""
			for i := range rows {
				if r := &rows[i]; r.Store == st && r.Scenario == k.scenario && r.Metric == k.metric {
					cell = formatValue(r.Value)
					first = cmp.Or(first, r)
				}
			}
			line = append(line, cell)
		}
		cells = append(cells, append(line, first.Unit, runsCell(*first)))
	}
	return alignCells(cells, 2, len(stores))
}

// runsCell says over how many runs a row's value was combined, and how.
func runsCell(r row) string {
	runs := strconv.Itoa(r.Runs)
	if r.Runs > 1 {
		runs += " (" + r.Combined + ")"
	}
	return runs
}

// storesOf lists the stores of rows in first-seen order.
func storesOf(rows []row) []string {
	var out []string
	for _, r := range rows {
		if !slices.Contains(out, r.Store) {
			out = append(out, r.Store)
		}
	}
	return out
}

// lineKey is a line of the side-by-side table.
type lineKey struct{ scenario, metric string }

// sideBySide orders the lines of a side-by-side table: a metric first seen
// on one store goes right after that store's previous line, so that a
// store's own rows (a ratio, a CPU figure) sit beside the related ones.
func sideBySide(rows []row) []lineKey {
	var keys []lineKey
	prev := map[string]lineKey{} // by store: its last line
	for _, r := range rows {
		k := lineKey{r.Scenario, r.Metric}
		if !slices.Contains(keys, k) {
			at := len(keys)
			if p, ok := prev[r.Store]; ok && p.scenario == k.scenario {
				at = slices.Index(keys, p) + 1
			}
			keys = slices.Insert(keys, at, k)
		}
		prev[r.Store] = k
	}
	return keys
}

// alignCells joins cells into lines: the nValues columns from first are
// right-aligned, the others left-aligned.
func alignCells(cells [][]string, first, nValues int) string {
	width := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		for i, c := range line {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i >= first && i < first+nValues {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c)
				if i < len(line)-1 {
					b.WriteString(pad)
				}
			}
			if i < len(line)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// report is the -json output.
type report struct {
	Target     string   `json:"target"` // "start" or "url"
	Stores     []string `json:"stores,omitempty"`
	Runs       int      `json:"runs"`
	Rows       []row    `json:"results"`
	Lost       int64    `json:"lost"`
	Duplicated int64    `json:"duplicated"`
	Notes      []string `json:"notes,omitempty"`
	Errors     []string `json:"errors,omitempty"`
}

func writeReport(w io.Writer, rep report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if _, err := io.WriteString(w, formatTable(rep.Rows)); err != nil {
		return err
	}
	for _, n := range rep.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	for _, e := range rep.Errors {
		if _, err := fmt.Fprintf(w, "error: %s\n", e); err != nil {
			return err
		}
	}
	return nil
}

package admin

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
)

// The charts' drawing area, in SVG user units. The dashboard stretches it to
// the width of the page (preserveAspectRatio="none", strokes that do not
// scale), so the paths only need relative positions.
const (
	chartWidth  = 300
	chartHeight = 80
)

// chartWindows are the periods the dashboard charts: the last hour minute
// by minute, and the last 24 hours in buckets of ten minutes.
var chartWindows = []struct {
	name, title   string
	minutes, step int
}{
	{"1h", "Last hour", 60, 1},
	{"24h", "Last 24 hours", 24 * 60, 10},
}

// chartsJSON is GET /admin/charts, this relay's addition to PROTOCOL §9:
// the dashboard's charts, drawn by the server. Each series has its values
// (one per bucket, oldest first) and the SVG path that draws them in a
// chartWidth × chartHeight box; the dashboard only sets the paths.
type chartsJSON struct {
	Windows []chartWindowJSON `json:"windows"`
}

type chartWindowJSON struct {
	Name        string      `json:"name"`  // "1h" or "24h"
	Title       string      `json:"title"` // "Last hour"
	StepMinutes int         `json:"stepMinutes"`
	Start       string      `json:"start"` // the first bucket's start
	End         string      `json:"end"`   // the current minute's start (the last bucket holds it)
	Charts      []chartJSON `json:"charts"`
}

type chartJSON struct {
	ID     string       `json:"id"`
	Title  string       `json:"title"`
	Unit   string       `json:"unit"`
	Max    float64      `json:"max"` // the top of the scale
	Series []seriesJSON `json:"series"`
}

type seriesJSON struct {
	Name    string    `json:"name"`
	Label   string    `json:"label"`
	Summary string    `json:"summary"` // the legend: a total, the latest or the highest value
	Values  []float64 `json:"values"`
	Path    string    `json:"path"`
}

// charts is GET /admin/charts.
func (h *Handler) charts(c *echo.Context) error {
	return writeJSON(c, http.StatusOK, buildCharts(h.relay.Traffic()))
}

// buildCharts draws the traffic (oldest minute first, the current one last)
// for every window.
func buildCharts(traffic []Minute) chartsJSON {
	out := chartsJSON{Windows: []chartWindowJSON{}}
	for _, w := range chartWindows {
		minutes := traffic[max(0, len(traffic)-w.minutes):]
		out.Windows = append(out.Windows, chartWindow(w.name, w.title, w.step, minutes))
	}
	return out
}

// bucket is the traffic of step minutes.
type bucket struct {
	in, out, failures, sockets, minutes int
	latencySum, latencyMax              time.Duration
}

func chartWindow(name, title string, step int, minutes []Minute) chartWindowJSON {
	w := chartWindowJSON{Name: name, Title: title, StepMinutes: step, Charts: []chartJSON{}}
	if len(minutes) == 0 {
		return w
	}
	w.Start, w.End = formatTime(minutes[0].Start), formatTime(minutes[len(minutes)-1].Start)
	buckets := make([]bucket, (len(minutes)+step-1)/step)
	for i, m := range minutes {
		b := &buckets[i/step]
		b.minutes++
		b.in += m.In
		b.out += m.Out
		b.failures += m.Failures
		b.sockets = max(b.sockets, m.Sockets)
		b.latencySum += m.LatencyMean * time.Duration(m.In)
		b.latencyMax = max(b.latencyMax, m.LatencyMax)
	}
	values := func(f func(bucket) float64) []float64 {
		v := make([]float64, len(buckets))
		for i, b := range buckets {
			v[i] = f(b)
		}
		return v
	}
	perMinute := func(n func(bucket) int) []float64 {
		return values(func(b bucket) float64 { return float64(n(b)) / float64(b.minutes) })
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var in, out, failures int
	var latencySum, latencyMax time.Duration
	for _, m := range minutes {
		in, out, failures = in+m.In, out+m.Out, failures+m.Failures
		latencySum += m.LatencyMean * time.Duration(m.In)
		latencyMax = max(latencyMax, m.LatencyMax)
	}
	sockets := minutes[len(minutes)-1].Sockets
	meanLatency := 0.0
	if in > 0 {
		meanLatency = ms(latencySum / time.Duration(in))
	}
	unit, sampled := "per minute", "sampled each minute"
	if step > 1 {
		unit = "per minute, " + strconv.Itoa(step) + "-minute means"
		sampled = "highest of " + strconv.Itoa(step) + " minutes"
	}
	w.Charts = append(w.Charts,
		chart("traffic", "Messages in, replies out", unit,
			series("in", "in", strconv.Itoa(in)+" in total", perMinute(func(b bucket) int { return b.in })),
			series("out", "out", strconv.Itoa(out)+" in total", perMinute(func(b bucket) int { return b.out }))),
		chart("failures", "Delivery failures", unit,
			series("failures", "failed attempts", strconv.Itoa(failures)+" in total", perMinute(func(b bucket) int { return b.failures }))),
		chart("sockets", "Open WebSockets", sampled,
			series("sockets", "open", strconv.Itoa(sockets)+" now", values(func(b bucket) float64 { return float64(b.sockets) }))),
		chart("latency", "Ingest latency", "ms",
			series("mean", "mean", formatMs(meanLatency)+" ms", values(func(b bucket) float64 {
				if b.in == 0 {
					return 0
				}
				return ms(b.latencySum / time.Duration(b.in))
			})),
			series("max", "max", formatMs(ms(latencyMax))+" ms", values(func(b bucket) float64 { return ms(b.latencyMax) }))),
	)
	return w
}

func series(name, label, summary string, values []float64) seriesJSON {
	return seriesJSON{Name: name, Label: label, Summary: summary, Values: values}
}

// chart scales its series to a common top and draws their paths.
func chart(id, title, unit string, list ...seriesJSON) chartJSON {
	top := 0.0
	for _, s := range list {
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	top = niceCeil(top)
	for i := range list {
		list[i].Path = linePath(list[i].Values, top)
	}
	return chartJSON{ID: id, Title: title, Unit: unit, Max: top, Series: list}
}

// niceCeil is the smallest of 1, 2 or 5 times a power of ten at or above v
// (1 for nothing to draw), the top of a chart's scale.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// linePath is the SVG path of values on a scale from 0 to top, spread over
// the chart's width, one unit clear of its top and bottom edges.
func linePath(values []float64, top float64) string {
	if len(values) == 0 {
		return ""
	}
	var b strings.Builder
	dx := 0.0
	if len(values) > 1 {
		dx = float64(chartWidth) / float64(len(values)-1)
	}
	for i, v := range values {
		if i == 0 {
			b.WriteByte('M')
		} else {
			b.WriteByte('L')
		}
		y := float64(chartHeight-1) - min(v/top, 1)*float64(chartHeight-2)
		b.WriteString(coord(float64(i) * dx))
		b.WriteByte(',')
		b.WriteString(coord(y))
	}
	return b.String()
}

// coord is a coordinate with at most one decimal.
func coord(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// formatMs is a latency in milliseconds with up to two decimals.
func formatMs(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

package activity

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var t0 = time.Date(2026, 11, 23, 10, 15, 30, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func minuteOf(t time.Time) time.Time { return t.Truncate(time.Minute) }

// TestMinutesCountPerMinute: counters land in the current minute; the series
// ends with it, has Window minutes, and a slot reused a day later starts
// from zero.
func TestMinutesCountPerMinute(t *testing.T) {
	clk := &clock{t: t0}
	m := NewMinutes(clk.now)
	m.Inbound(2 * time.Millisecond)
	m.Inbound(6 * time.Millisecond)
	m.Reply()
	m.Sockets(3)
	clk.add(time.Minute)
	m.Failure()
	m.Failure()
	m.Sockets(4)
	s := m.Series()
	if len(s) != Window || !s[Window-1].Start.Equal(minuteOf(clk.now())) || !s[0].Start.Equal(minuteOf(clk.now()).Add(-(Window-1)*time.Minute)) {
		t.Fatalf("series of %d minutes from %v to %v", len(s), s[0].Start, s[len(s)-1].Start)
	}
	prev, cur := s[Window-2], s[Window-1]
	if prev.In != 2 || prev.Out != 1 || prev.Sockets != 3 || prev.LatencyMean() != 4*time.Millisecond || prev.LatencyMax != 6*time.Millisecond {
		t.Fatalf("previous minute %+v", prev)
	}
	if cur.In != 0 || cur.Failures != 2 || cur.Sockets != 4 || cur.LatencyMean() != 0 {
		t.Fatalf("current minute %+v", cur)
	}
	clk.add(Window * time.Minute) // the same slot, a day later
	m.Reply()
	if s := m.Series(); s[Window-1].Failures != 0 || s[Window-1].Out != 1 || s[Window-2].In != 0 {
		t.Fatalf("a day later: %+v, %+v", s[Window-1], s[Window-2])
	}
}

func TestIngestsKeepTheNewest(t *testing.T) {
	var g Ingests
	for i := range ingestsKept + 1 {
		g.Add(Ingest{ID: fmt.Sprint(i), Received: t0, Stored: t0.Add(time.Duration(i))})
	}
	if _, ok := g.Find("0"); ok {
		t.Fatal("the oldest ingest outlived the ring")
	}
	if in, ok := g.Find(fmt.Sprint(ingestsKept)); !ok || in.Stored != t0.Add(ingestsKept) {
		t.Fatalf("newest: %+v, %v", in, ok)
	}
}

// TestPolls: a poller is its last poll; the polls that returned messages
// tell which fetched a message; the record of pollers is bounded.
func TestPolls(t *testing.T) {
	p := NewPolls()
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p.Add(Poll{UserID: "u", RemoteAddr: "192.0.2.1", UserAgent: "ext", At: t0, After: time.Time{}, Last: ms(2), Count: 2}, ms(2))
	p.Add(Poll{UserID: "u", RemoteAddr: "192.0.2.2", At: t0.Add(time.Second), After: ms(2), Count: 0}, ms(2))
	p.Add(Poll{UserID: "u", At: t0.Add(2 * time.Second), After: ms(2), Last: ms(5), Count: 1}, ms(5))
	p.Add(Poll{UserID: "v", At: t0, Last: ms(9), Count: 3}, ms(9))
	got := p.Pollers("u")
	if len(got) != 1 || got[0].Polls != 3 || !got[0].Cursor.Equal(ms(5)) || !got[0].LastPoll.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("pollers of u: %+v", got)
	}
	if all := p.Pollers(""); len(all) != 2 || all[0].UserID != "u" {
		t.Fatalf("every poller, newest first: %+v", all)
	}
	for _, tt := range []struct {
		ts   int
		want string
	}{{1, "192.0.2.1"}, {2, "192.0.2.1"}, {3, ""}, {5, ""}, {6, "-"}} {
		f := p.Fetches("u", ms(tt.ts))
		got := "-"
		if len(f) == 1 {
			got = f[0].RemoteAddr
		}
		if got != tt.want {
			t.Errorf("message at %d ms fetched by %q, want %q", tt.ts, got, tt.want)
		}
	}
	for i := range pollersKept + 1 {
		p.Add(Poll{UserID: fmt.Sprint("w", i), At: t0.Add(time.Duration(i+10) * time.Second)}, t0)
	}
	if n := len(p.Pollers("")); n > pollersKept {
		t.Fatalf("%d pollers kept", n)
	}
	if len(p.Pollers("u")) != 0 || len(p.Pollers(fmt.Sprint("w", pollersKept))) != 1 {
		t.Fatal("eviction did not drop the least recent pollers")
	}
}

func TestLastInboundGauge(t *testing.T) {
	l := NewLastInbound()
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	l.Set("ch-1", t0)
	l.Set("ch-1", t0.Add(-time.Hour)) // an older time never wins
	l.Set("ch-2", t0.Add(time.Second))
	l.Forget("ch-2")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetName() != "relay_channel_last_inbound_timestamp_seconds" || len(families[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v", families)
	}
	m := families[0].GetMetric()[0]
	if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "channel_id" || l[0].GetValue() != "ch-1" || m.GetGauge().GetValue() != float64(t0.Unix()) {
		t.Fatalf("gauge %v", m)
	}
	if !l.Get("ch-1").Equal(t0) || !l.Get("ch-2").IsZero() {
		t.Fatal("Get")
	}
}

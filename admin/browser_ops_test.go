package admin

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chaos-relay/relay/storage"
)

// seedTimeline stores a Telegram message of A answered by a reply that
// failed once and then went out, and what the relay remembers of its way.
func seedTimeline(t *testing.T, v *env) storage.Message {
	t.Helper()
	m := storage.Message{UserID: userA, ChannelType: storage.TypeTelegram, ChannelID: tgID, From: "carol", Content: "Where is my order?",
		Metadata: json.RawMessage(`{"updateId":5001}`)}
	must(t, v.store.AppendMessage(ctx, &m, storage.AppendOptions{}))
	v.clock.Add(time.Second)
	r := storage.Response{UserID: userA, ChannelID: tgID, From: "agent", Content: "On its way.", Metadata: json.RawMessage(`{"replyTo":"` + m.ID + `"}`)}
	_, err := v.store.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending}, nil
	})
	must(t, err)
	_, err = v.store.UpdateDelivery(ctx, r.ID, func(d *storage.Delivery) error {
		d.Status, d.Attempts = storage.StatusSent, 1
		d.Record(storage.Attempt{At: v.clock.Now(), Number: 1, Result: storage.AttemptRetry, Error: "telegram: 502 Bad Gateway",
			NextAttemptAt: v.clock.Now().Add(time.Second)})
		d.Record(storage.Attempt{At: v.clock.Now().Add(time.Second), Number: 1, Result: storage.AttemptSent})
		return nil
	})
	must(t, err)
	v.relay.ops.traces = map[string]Trace{m.ID: {Received: m.Timestamp.Add(-2 * time.Millisecond), Stored: m.Timestamp,
		Writes:  []Write{{At: m.Timestamp.Add(time.Millisecond), Conn: Connection{ID: 8, UserID: userA, RemoteAddr: "192.0.2.7"}}},
		Fetches: []Fetch{{At: m.Timestamp.Add(time.Second), RemoteAddr: "203.0.113.9"}},
	}}
	return m
}

// busyHour is a day of traffic whose last ten minutes carry messages,
// replies, failures, sockets and latencies.
func busyHour(now time.Time, scale int) []Minute {
	traffic := quietDay(now)
	for i := len(traffic) - 10; i < len(traffic); i++ {
		m := &traffic[i]
		m.In, m.Out, m.Failures, m.Sockets = scale*(i%7+1), scale*(i%3), i%2, 2
		m.LatencyMean, m.LatencyMax = time.Duration(i%5+1)*time.Millisecond, 12*time.Millisecond
	}
	return traffic
}

// TestOperatorViewsInBrowser: the charts render with data and follow the
// refresh, and switch to the last 24 hours; a session card lists its
// sockets and polling; a message's timeline opens from the recent
// messages (and by id, with the server's error for an unknown one); the
// dead letters filter, and retrying a channel's failed deliveries empties
// them.
func TestOperatorViewsInBrowser(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("browser test skipped: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")
	}
	v := newEnv(t)
	seedOverview(t, v)
	seedConns(v)
	m := seedTimeline(t, v)
	addChannel(t, v.store, storage.Channel{ID: "tg-dead", UserID: userB, Type: storage.TypeTelegram, Enabled: true}, nil)
	for range 3 {
		addResponse(t, v.store, userB, "tg-dead", "x", storage.Delivery{Status: storage.StatusFailed, Attempts: 200, LastError: "Forbidden: bot was blocked by the user"})
	}
	addResponse(t, v.store, userA, "em-1", "y", storage.Delivery{Status: storage.StatusFailed, Attempts: 3, LastError: "resend: 422 invalid recipient"})
	v.relay.ops.traffic = busyHour(v.clock.Now(), 1)

	ts := httptest.NewServer(v.e)
	t.Cleanup(ts.Close) // after the browser has gone
	b := newTab(t, browser, 1280, 1000)
	b.run("log in",
		chromedp.Navigate(ts.URL+"/admin/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testKey),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("sessions")),
	)
	b.poll("first refresh", `document.getElementById('refresh-state').textContent.includes('updated')`)

	// Charts: every series of the hour has a path, and traffic lifts the
	// lines off the baseline (y 79).
	const drawn = `((sel) => Array.from(document.querySelectorAll(sel)).map((p) => p.getAttribute('d') || ''))`
	const lifted = `((d) => d.split(/[ML]/).filter(Boolean).some((xy) => Number(xy.split(',')[1]) < 79))`
	equal(t, "eight charts", b.eval("charts", `document.querySelectorAll('svg.chart-svg').length === 8`), true)
	equal(t, "every path drawn", b.eval("paths", drawn+`('.charts[data-window="1h"] path.chart-line').every((d) => d.startsWith('M0,') && d.split('L').length === 60)`), true)
	for _, series := range []string{"traffic path[data-series=\"in\"]", "traffic path[data-series=\"out\"]", "failures path", "sockets path", "latency path[data-series=\"max\"]"} {
		equal(t, series+" has data", b.eval(series, lifted+`(document.querySelector('#chart-1h-`+series+`').getAttribute('d'))`), true)
	}
	equal(t, "legend", b.eval("legend", `document.querySelector('#chart-1h-traffic .key-in .chart-summary').textContent === '40 in total'`), true)
	equal(t, "1h shown", b.eval("1h visible", `document.querySelector('#chart-1h-traffic').getBoundingClientRect().height > 50`), true)
	// The refresh puts the server's new paths in place.
	before, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#chart-1h-traffic path[data-series="in"]').getAttribute('d')`))
	must(t, err)
	v.relay.mu.Lock()
	v.relay.ops.traffic = busyHour(v.clock.Now(), 3)
	v.relay.mu.Unlock()
	b.run("refresh", chromedp.Click(chromedp.ID("refresh")))
	b.poll("new totals", `document.querySelector('#chart-1h-traffic .key-in .chart-summary').textContent === '120 in total'`)
	equal(t, "same shape, new scale", b.eval("path", `document.querySelector('#chart-1h-traffic path[data-series="in"]').getAttribute('d') === `+jsString(before)), false)
	b.run("show 24 hours", chromedp.Click(chromedp.CSS(`#chart-window button[data-window="24h"]`)))
	b.poll("24h shown", `document.querySelector('#chart-24h-traffic').getBoundingClientRect().height > 50 && document.querySelector('.charts[data-window="1h"]').hidden`)
	equal(t, "24h has data", b.eval("24h", lifted+`(document.querySelector('#chart-24h-traffic path[data-series="in"]').getAttribute('d'))`), true)
	equal(t, "pressed", b.eval("pressed", `document.querySelector('#chart-window button[data-window="24h"]').getAttribute('aria-pressed') === 'true'`), true)

	// Sockets and polling on the session card, as the script draws them.
	card := `document.querySelector('article.session[data-user="` + userA + `"]')`
	b.poll("sockets listed", card+`.querySelectorAll('.session-conns li').length === 3`)
	equal(t, "open socket", b.eval("open", card+`.querySelector('li.conn-open').textContent === 'open #8 · 192.0.2.7 · since 2026-11-23 09:59:00 · cursor 2026-11-23 09:59:59 · lag 2'`), true)
	equal(t, "closed socket", b.eval("closed", card+`.querySelector('li.conn-closed').textContent.includes('1001 Server shutting down · by relay')`), true)
	equal(t, "polling", b.eval("polls", card+`.querySelector('li.conn-polls').title === 'curl/8'`), true)

	// The timeline of the message, from its row in the recent messages.
	b.run("open the timeline",
		chromedp.Click(chromedp.CSS(`#recent button[data-action="timeline"][data-id="`+m.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("timeline-dialog")),
	)
	b.poll("timeline loaded", `document.querySelectorAll('#timeline-body li.step').length === 7`)
	body, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('timeline-body').textContent`))
	must(t, err)
	for _, want := range []string{"from carol", "updateId 5001", "Where is my order?", "received", "stored (2 ms)", "written to socket #8 · 192.0.2.7",
		"fetched by a poll from 203.0.113.9", "On its way.", "attempt 1: retry — telegram: 502 Bad Gateway · next attempt", "attempt 1: sent"} {
		contains(t, "timeline", body, want)
	}
	equal(t, "in time order", b.eval("order", `(() => {
		const times = Array.from(document.querySelectorAll('#timeline-body li.step time')).map((e) => e.dateTime);
		return times.every((t, i) => i === 0 || times[i - 1] <= t);
	})()`), true)
	b.screenshot("admin-timeline.png", false)
	b.run("close the timeline", chromedp.Click(chromedp.CSS(`#timeline-dialog [data-close]`)), chromedp.WaitNotVisible(chromedp.ID("timeline-dialog")))
	b.run("an unknown id",
		chromedp.SendKeys(chromedp.ID("timeline-input"), storage.NewTimeID(t0)),
		chromedp.Click(chromedp.CSS(`#timeline-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("timeline-error")),
	)
	msg, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("timeline-error")))
	must(t, err)
	equal(t, "error text", msg, "Message not found")
	b.run("close", chromedp.Click(chromedp.CSS(`#timeline-dialog [data-close]`)), chromedp.WaitNotVisible(chromedp.ID("timeline-dialog")))

	// Dead letters: the filter narrows them; retrying the channel clears it.
	b.poll("dead letters", `document.querySelectorAll('#dead-letters tr[data-id]').length === 4`)
	b.run("filter by error", chromedp.SendKeys(chromedp.ID("dead-error"), "BLOCKED"))
	b.poll("filtered", `document.querySelectorAll('#dead-letters tr[data-id]').length === 3`)
	b.run("retry the channel", chromedp.Click(chromedp.CSS(`#dead-letters button[data-action="retry-channel"][data-channel="tg-dead"]`)))
	b.poll("notice", `document.getElementById('dead-message').textContent === '3 failed deliveries of channel tg-dead are pending again.'`)
	b.poll("none left", `document.querySelectorAll('#dead-letters tr[data-id]').length === 0 && document.getElementById('dead-letters').textContent.includes('No failed deliveries')`)
	list, err := v.store.Deliveries(ctx, storage.StatusFailed, "", 10)
	must(t, err)
	equal(t, "one failed delivery left in the store", len(list), 1)
	b.screenshot("admin-operator-views.png", true)
	b.noConsoleProblems()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

package admin

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chaos-relay/relay/storage"
)

// phoneWidth is the viewport the dashboard must fit: a phone (iPhone 12–15).
const phoneWidth = 390

// TestDashboardOnPhone opens the login page and the dashboard in a 390 px
// wide mobile viewport, with long ids, names, addresses, messages and errors
// in every list, the store browser and the messages dialog open: nothing may
// stick out of the viewport (document.documentElement.scrollWidth <= 390);
// tables scroll inside their own box.
func TestDashboardOnPhone(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("browser test skipped: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")
	}
	v := newEnv(t)
	seedOverview(t, v)
	long := strings.Repeat("x", 40)
	addChannel(t, v.store, storage.Channel{ID: "support-telegram-" + long, UserID: userB, Type: storage.TypeTelegram, Enabled: true,
		Name:     "Customer support, Europe and the Middle East (weekdays)",
		Metadata: json.RawMessage(`{"botUsername":"a_rather_long_support_bot_username_bot","allowedUsers":["1","2","3"]}`)}, nil)
	addChannel(t, v.store, storage.Channel{ID: "wh-long", UserID: userB, Type: storage.TypeWebhook, Enabled: true,
		Name: "github_webhook_for_the_relay_repository_pushes_and_pull_requests"}, nil)
	addChannel(t, v.store, storage.Channel{ID: "em-long", UserID: userB, Type: storage.TypeEmail, Enabled: true,
		Metadata: json.RawMessage(`{"inboundAddress":"customer-support-europe-abcdefghij@inbound.relay.example.com","verified":false}`)}, nil)
	addMessage(t, v.store, userB, "em-long", storage.TypeEmail, "someone.with.a.very.long.address@subdomain.example.org",
		strings.Repeat("A long message without spaces ", 2)+strings.Repeat("0123456789", 12))
	v.clock.Add(time.Second)
	addResponse(t, v.store, userA, tgID, strings.Repeat("reply ", 30), storage.Delivery{Status: storage.StatusFailed, Attempts: 5,
		LastError: "telegram: send message: Bad Request: chat not found " + strings.Repeat("(details) ", 10)})
	// The operator views: sockets and polling, charts with data, a timeline.
	seedConns(v)
	v.relay.ops.conns[0].UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	v.relay.ops.traffic = busyHour(v.clock.Now(), 2)
	timeline := seedTimeline(t, v)

	ts := httptest.NewServer(v.e)
	t.Cleanup(ts.Close) // after the browser has gone
	b := newTab(t, browser, 1280, 1000)
	b.run("phone viewport", chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))

	b.run("open the login page", chromedp.Navigate(ts.URL+"/admin/login"), chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
	b.fits("login page")
	b.run("log in with a wrong password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "wrong"),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.login-card .error`)),
	)
	b.fits("login page with its error")
	b.screenshot("admin-phone-login.png", false)
	b.run("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testKey),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("sessions")),
	)
	b.poll("first refresh", `document.getElementById('refresh-state').textContent.includes('updated')`)
	b.poll("deliveries listed", `document.querySelectorAll('#deliveries tr[data-id]').length === 3`) // two, and the timeline's reply
	b.fits("dashboard")

	b.run("open the store browser", chromedp.Click(chromedp.CSS(`#kv-panel summary`)))
	b.poll("prefixes loaded", `!!document.querySelector('#kv-prefix option[value="channels"]')`)
	b.run("browse channels",
		chromedp.SetValue(chromedp.ID("kv-prefix"), "channels"),
		chromedp.Click(chromedp.CSS(`#kv-form button[type="submit"]`)),
	)
	b.poll("entries", `document.querySelectorAll('#kv-entries tr').length > 1`)
	b.fits("dashboard with the store browser")
	b.screenshot("admin-phone-dashboard.png", true)

	b.run("open the messages dialog",
		chromedp.Click(chromedp.CSS(`button[data-action="messages"][data-user="`+userB+`"]`)),
		chromedp.WaitVisible(chromedp.ID("messages-dialog")),
	)
	b.poll("messages loaded", `document.querySelectorAll('#messages-rows tr').length === 1`)
	b.fits("messages dialog")
	b.screenshot("admin-phone-messages.png", false)
	b.run("close the messages dialog",
		chromedp.Click(chromedp.CSS(`#messages-dialog [data-close]`)),
		chromedp.WaitNotVisible(chromedp.ID("messages-dialog")),
	)
	b.run("show the last 24 hours", chromedp.Click(chromedp.CSS(`#chart-window button[data-window="24h"]`)))
	b.fits("dashboard with the 24 h charts")
	b.run("scroll to the charts", chromedp.ScrollIntoView(chromedp.ID("charts-title")))
	b.screenshot("admin-phone-charts.png", false)
	b.run("open a timeline",
		chromedp.Click(chromedp.CSS(`#recent button[data-action="timeline"][data-id="`+timeline.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("timeline-dialog")),
	)
	b.poll("timeline loaded", `document.querySelectorAll('#timeline-body li.step').length === 7`)
	b.fits("timeline dialog")
	b.screenshot("admin-phone-timeline.png", false)
	b.run("close the timeline",
		chromedp.Click(chromedp.CSS(`#timeline-dialog [data-close]`)),
		chromedp.WaitNotVisible(chromedp.ID("timeline-dialog")),
	)
	b.run("open the delete dialog",
		chromedp.Click(chromedp.CSS(`button[data-action="delete"][data-user="`+userA+`"]`)),
		chromedp.WaitVisible(chromedp.ID("delete-dialog")),
	)
	b.fits("delete dialog")
	b.noConsoleProblems()
}

// fitsJS lists what sticks out of the viewport sideways (elements whose box
// crosses its left or right edge and that no ancestor clips or scrolls), and
// the table cells of free text (content, sender, store value) crushed narrower than about
// a dozen characters.
const fitsJS = `(() => {
	const width = document.documentElement.clientWidth;
	const out = [];
	for (const e of document.body.querySelectorAll('*')) {
		let p = e.parentElement, inside = false;
		for (; p && p !== document.body; p = p.parentElement) {
			if (getComputedStyle(p).overflowX !== 'visible') { inside = true; break; }
		}
		if (inside) continue;
		const r = e.getBoundingClientRect();
		if (r.width > 0 && (r.right > width + 0.5 || r.left < -0.5)) {
			out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).split(' ').join('.') : '') +
				' [' + Math.round(r.left) + ', ' + Math.round(r.right) + ']');
		}
	}
	// Text columns scroll with their table instead of being crushed to a
	// few characters a line.
	const narrow = [];
	for (const td of document.querySelectorAll('td.content, td.from, td.value')) {
		const w = td.getBoundingClientRect().width;
		if (w > 0 && td.textContent.trim() !== '' && w < 96) narrow.push(td.closest('tbody').id + ' td.' + td.className + ' ' + Math.round(w) + 'px');
	}
	return JSON.stringify({innerWidth: window.innerWidth, width, scrollWidth: document.documentElement.scrollWidth, out: out.slice(0, 15), narrow: narrow.slice(0, 15)});
})()`

// fits fails the test unless the page fits the phone's width and its text
// columns stay readable.
func (b *tab) fits(what string) {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fitsJS))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	var got struct {
		InnerWidth, Width, ScrollWidth int
		Out, Narrow                    []string
	}
	must(b.t, json.Unmarshal([]byte(res), &got))
	if got.InnerWidth != phoneWidth || got.ScrollWidth > phoneWidth || len(got.Out) > 0 || len(got.Narrow) > 0 {
		b.t.Fatalf("%s does not fit %d px: %s", what, phoneWidth, res)
	}
}

package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chaos-relay/relay/storage"
)

// findBrowser returns a Chromium or Chrome binary on PATH, or "".
func findBrowser() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the test leaves its screenshots: $RELAY_TEST_ARTIFACTS
// when set, else a temporary directory.
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("RELAY_TEST_ARTIFACTS"); dir != "" {
		must(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.TempDir()
}

// TestDashboardInBrowser drives the dashboard in headless Chromium: log in
// through the form, see the seeded sessions (a Discord channel without
// gateway reads "gateway off"; ids show their differing part, the whole id
// as title and when copied), open a session's messages, retry a failed
// delivery (its row turns pending before any refresh answers; its parts,
// none ever accepted, read "—"), delete a session through the confirmation
// dialog (and see the server's error text when that fails), and check that
// markup in messages, sender names and channel names never runs.
func TestDashboardInBrowser(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("browser test skipped: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")
	}
	v := newEnv(t)
	seedOverview(t, v) // users A and B; A has four channels, a message and a pending reply
	const xss = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`
	addMessage(t, v.store, userA, tgID, storage.TypeTelegram, `<img src=x onerror="window.__pwned=3">Mallory`, xss)
	addChannel(t, v.store, storage.Channel{ID: "wh-evil", UserID: userB, Type: storage.TypeWebhook, Enabled: true,
		Name: `<img src=x onerror="window.__pwned=4">hook`}, nil)
	addMessage(t, v.store, userB, "wh-evil", storage.TypeWebhook, "github", `{"action":"opened"}`)
	addChannel(t, v.store, storage.Channel{ID: "dc-off", UserID: userB, Type: storage.TypeDiscord, Enabled: true}, nil)
	v.relay.gateways["dc-off"] = "off" // as with RELAY_DISCORD_GATEWAY=off
	v.clock.Add(time.Second)
	failed := addResponse(t, v.store, userA, tgID, "Here is the summary you asked for.",
		storage.Delivery{Status: storage.StatusFailed, Attempts: 5, LastError: "Forbidden: bot was blocked by the user"})
	addResponse(t, v.store, userA, "em-1", "Thanks, noted.", storage.Delivery{Status: storage.StatusSent, Attempts: 1, PartsSent: 1, PartsTotal: 1})

	// The gate can hold the dashboard's refreshes, to see what the page
	// shows before they answer.
	refreshes := &gate{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (r.URL.Path == "/admin/status" || r.URL.Path == "/admin/deliveries") {
			refreshes.wait(r.Context())
		}
		v.e.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close) // after the browser has gone (cleanups run last first)
	b := newTab(t, browser, 1280, 1000)
	run, eval, poll := b.run, b.eval, b.poll
	sessionCard := chromedp.CSS(`article.session[data-user="` + userA + `"]`)

	// Log in through the form; the unauthenticated dashboard sends us there.
	run("open the dashboard",
		chromedp.Navigate(ts.URL+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
	)
	title, err := chromedp.Run(b.ctx, chromedp.Title())
	must(t, err)
	contains(t, "login page title", title, "CHAOS Relay Admin")
	run("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testKey),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(sessionCard),
	)
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	must(t, err)
	equal(t, "after login", loc, ts.URL+"/admin")
	// The script has refreshed the page from /admin/status.
	poll("first refresh", `document.getElementById('refresh-state').textContent.includes('updated')`)
	poll("session B listed", `!!document.querySelector('article.session[data-user="`+userB+`"]')`)
	equal(t, "inert content in recent messages",
		eval("recent", `document.getElementById('recent').textContent.includes('<script>window.__pwned=1</script>')`), true)
	equal(t, "inert sender", eval("sender", `document.getElementById('recent').textContent.includes('<img src=x onerror="window.__pwned=3">Mallory')`), true)
	equal(t, "inert channel name", eval("name", `document.getElementById('sessions').textContent.includes('<img src=x onerror="window.__pwned=4">hook')`), true)
	equal(t, "no injected elements", eval("elements", `document.querySelectorAll('main img, main svg:not(.chart-svg), body script:not([src])').length === 0`), true)
	equal(t, "gateway off", eval("gateway", `document.querySelector('.badge[title="discord channel dc-off"]').textContent.includes('gateway off')`), true)

	// Ids show their differing part, as admin/timefmt.go shortID does, with
	// the whole id as the title; copying one copies the whole id.
	cardID := `document.querySelector('article.session[data-user="` + userA + `"] .session-id')`
	equal(t, "session id", eval("session id", cardID+`.textContent === '`+shortID(userA)+`' && `+cardID+`.title === '`+userA+`'`), true)
	equal(t, "recent ids", eval("recent ids", `Array.from(document.querySelectorAll('#recent tr')).some((tr) => {
		const ids = tr.querySelectorAll('.short-id');
		return ids.length === 2 && ids[0].textContent === '`+shortID(tgID)+`' && ids[0].title === '`+tgID+`' &&
			ids[1].textContent === '`+shortID(userA)+`' && ids[1].title === '`+userA+`';
	})`), true)
	equal(t, "copy a short id", eval("copy", `(() => {
		const e = `+cardID+`;
		const range = document.createRange();
		range.selectNodeContents(e.firstChild);
		const sel = getSelection();
		sel.removeAllRanges();
		sel.addRange(range);
		const ev = new ClipboardEvent('copy', { clipboardData: new DataTransfer(), bubbles: true, cancelable: true });
		e.dispatchEvent(ev);
		sel.removeAllRanges();
		return ev.defaultPrevented && ev.clipboardData.getData('text/plain') === '`+userA+`';
	})()`), true)

	// The filter narrows the sessions; the store browser reads the store.
	run("filter sessions", chromedp.SendKeys(chromedp.ID("session-filter"), "relay_bot"))
	poll("only A matches", `document.querySelectorAll('#sessions article.session').length === 1 && !!document.querySelector('article.session[data-user="`+userA+`"]')`)
	run("clear the filter", chromedp.SendKeys(chromedp.ID("session-filter"), strings.Repeat(kb.Backspace, len("relay_bot"))))
	poll("both again", `document.querySelectorAll('#sessions article.session').length === 2`)
	run("open the store browser", chromedp.Click(chromedp.CSS(`#kv-panel summary`)))
	poll("prefixes loaded", `!!document.querySelector('#kv-prefix option[value="users"]')`)
	run("browse users",
		chromedp.SetValue(chromedp.ID("kv-prefix"), "users"),
		chromedp.SetValue(chromedp.ID("kv-limit"), "1"),
		chromedp.Click(chromedp.CSS(`#kv-form button[type="submit"]`)),
	)
	poll("one entry", `document.getElementById('kv-info').textContent.startsWith('1 entry') && document.querySelectorAll('#kv-entries tr').length === 1`)

	b.screenshot("admin-dashboard.png", true)

	// The session's messages, in the dialog.
	run("open the messages dialog",
		chromedp.Click(chromedp.CSS(`button[data-action="messages"][data-user="`+userA+`"]`)),
		chromedp.WaitVisible(chromedp.ID("messages-dialog")),
	)
	poll("messages loaded", `document.querySelectorAll('#messages-rows tr').length === 5`)
	equal(t, "dialog shows the script as text",
		eval("dialog", `document.getElementById('messages-rows').textContent.includes('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">')`), true)
	equal(t, "dialog shows the delivery", eval("delivery", `document.getElementById('messages-rows').textContent.includes('Forbidden: bot was blocked by the user')`), true)
	equal(t, "no elements from data in the dialog", eval("dialog elements", `document.querySelectorAll('#messages-dialog img, #messages-dialog script').length === 0`), true)
	b.screenshot("admin-messages-dialog.png", false)
	run("close the messages dialog",
		chromedp.Click(chromedp.CSS(`#messages-dialog [data-close]`)),
		chromedp.WaitNotVisible(chromedp.ID("messages-dialog")),
	)

	// Retry the failed delivery: its row shows it pending at once, while the
	// refreshes that follow are still held.
	failedRow := `document.querySelector('#deliveries tr[data-id="` + failed.ID + `"]')`
	refreshes.hold()
	run("retry", chromedp.Click(chromedp.CSS(`#deliveries button[data-action="retry"][data-id="`+failed.ID+`"]`)))
	poll("row shows pending before any refresh", failedRow+`.querySelector('.status').textContent === 'pending' && !`+failedRow+`.querySelector('button')`)
	refreshes.release()
	poll("refreshed", `document.getElementById('t-pending').textContent === '2'`)
	equal(t, "still pending after the refresh", eval("pending", failedRow+`.querySelector('.status').textContent === 'pending'`), true)
	// No part of it was ever accepted: its parts read "—", not "0/0".
	equal(t, "parts of the retried row", eval("parts", failedRow+`.querySelector('.parts').textContent === '—'`), true)
	d, err := v.store.Delivery(ctx, failed.ID)
	must(t, err)
	equal(t, "delivery pending in the store", d.Status, storage.StatusPending)
	equal(t, "retried through the relay", strings.Join(v.relay.calls(&v.relay.retried), ","), failed.ID)
	equal(t, "notice", eval("notice", `document.getElementById('delivery-message').textContent === 'Delivery `+shortID(failed.ID)+` is pending again.'`), true)
	equal(t, "reply id", eval("reply id", failedRow+`.querySelector('.short-id').textContent === '`+shortID(failed.ID)+`' && `+
		failedRow+`.querySelector('.short-id').title === '`+failed.ID+`'`), true)

	// A failing delete shows the server's text: B disappears behind the page's back.
	run("open the delete dialog for B",
		chromedp.Click(chromedp.CSS(`button[data-action="delete"][data-user="`+userB+`"]`)),
		chromedp.WaitVisible(chromedp.ID("delete-dialog")),
	)
	_, err = v.store.DeleteUser(ctx, userB)
	must(t, err)
	run("confirm", chromedp.Click(chromedp.ID("delete-confirm")), chromedp.WaitVisible(chromedp.ID("delete-error")))
	msg, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("delete-error")))
	must(t, err)
	equal(t, "error text", msg, "Session not found")
	run("cancel", chromedp.Click(chromedp.CSS(`#delete-dialog [data-close]`)), chromedp.WaitNotVisible(chromedp.ID("delete-dialog")))

	// Delete A through the confirmation dialog.
	run("open the delete dialog for A",
		chromedp.Click(chromedp.CSS(`button[data-action="delete"][data-user="`+userA+`"]`)),
		chromedp.WaitVisible(chromedp.ID("delete-dialog")),
	)
	who, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("delete-user")))
	must(t, err)
	equal(t, "dialog names the session", who, userA)
	run("delete A",
		chromedp.Click(chromedp.ID("delete-confirm")),
		chromedp.WaitNotVisible(chromedp.ID("delete-dialog")),
		chromedp.WaitNotPresent(sessionCard),
	)
	_, err = v.store.User(ctx, userA)
	equal(t, "A deleted in the store", errors.Is(err, storage.ErrNotFound), true)
	equal(t, "deleted through the relay", strings.Join(v.relay.calls(&v.relay.deleted), ","), userA)
	poll("no sessions left", `document.getElementById('sessions').textContent.includes('No sessions')`)

	// Nothing from the data ever ran.
	equal(t, "window.__pwned", eval("pwned", `typeof window.__pwned === 'undefined'`), true)
	b.noConsoleProblems()
}

// tab is a tab of a headless Chromium of its own, with the tests' helpers.
// Every step fails the test with the page's console log attached.
type tab struct {
	t       *testing.T
	ctx     context.Context
	console *consoleLog
}

// newTab starts browser with a window of width×height CSS pixels and opens
// a tab; everything is stopped when the test ends, and every step has to be
// done within 50 s of the start.
func newTab(t *testing.T, browser string, width, height int) *tab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}
	return &tab{t: t, ctx: bctx, console: watchConsole(bctx)}
}

func (b *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\nconsole:\n%s", what, err, b.console.String())
	}
}

// eval evaluates a boolean expression in the page.
func (b *tab) eval(what, expr string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("%s: %v\nconsole:\n%s", what, err, b.console.String())
	}
	return ok
}

// poll waits up to 15 s for a boolean expression to be true in the page.
func (b *tab) poll(what, expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		b.t.Fatalf("%s: %v\nconsole:\n%s", what, err, b.console.String())
	}
}

// screenshot saves the viewport, or the whole page, under artifactDir.
func (b *tab) screenshot(name string, full bool) {
	b.t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.ctx, shot)
	must(b.t, err)
	file := filepath.Join(artifactDir(b.t), name)
	must(b.t, os.WriteFile(file, png, 0o644))
	b.t.Logf("screenshot: %s", file)
}

// noConsoleProblems fails the test if the page logged an exception, a CSP
// violation or a script error.
func (b *tab) noConsoleProblems() {
	b.t.Helper()
	if bad := b.console.problems(); len(bad) > 0 {
		b.t.Fatalf("console problems:\n%s", strings.Join(bad, "\n"))
	}
}

// gate holds requests while it is closed; the zero gate is open.
type gate struct {
	mu     sync.Mutex
	closed chan struct{} // nil when open
}

// hold closes the gate.
func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		g.closed = make(chan struct{})
	}
}

// release opens the gate and lets every held request go on.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

// wait returns when the gate is open or ctx is done.
func (g *gate) wait(ctx context.Context) {
	g.mu.Lock()
	ch := g.closed
	g.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// consoleLog collects the page's console messages, exceptions and browser
// log entries.
type consoleLog struct {
	mu    sync.Mutex
	lines []string
	bad   []string
}

func watchConsole(ctx context.Context) *consoleLog {
	c := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			line := string(m.Type) + ": " + m.Text + " (" + m.URL + ")"
			c.mu.Lock()
			c.lines = append(c.lines, line)
			// Exceptions, CSP violations and script errors mean the page is
			// broken. Failed loads are not: the test provokes a 404, and the
			// relay (not this handler) serves /favicon.ico.
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") ||
				(m.Type == chromedp.ConsoleError && !strings.HasPrefix(m.Text, "Failed to load resource")) {
				c.bad = append(c.bad, line)
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.MarshalIndent(c.lines, "", "  ")
	return string(b)
}

func (c *consoleLog) problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}

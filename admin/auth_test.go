package admin

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/storage"
)

var nonceRE = regexp.MustCompile(`'nonce-([A-Za-z0-9_-]{22})'`)

// wantPageHeaders checks the headers of an HTML page (PROTOCOL §1.10) and
// returns the CSP nonce.
func wantPageHeaders(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	h := rec.Header()
	equal(t, "cache", h.Get("Cache-Control"), "no-store")
	equal(t, "frame options", h.Get("X-Frame-Options"), "DENY")
	equal(t, "referrer", h.Get("Referrer-Policy"), "no-referrer")
	equal(t, "nosniff", h.Get("X-Content-Type-Options"), "nosniff")
	policy := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"} {
		contains(t, "CSP", policy, d)
	}
	notContains(t, "CSP", policy, "unsafe-inline")
	m := nonceRE.FindAllStringSubmatch(policy, -1)
	if len(m) != 2 || m[0][1] != m[1][1] {
		t.Fatalf("CSP %q: want the same nonce for scripts and styles", policy)
	}
	contains(t, "script-src", policy, "script-src 'self' 'nonce-"+m[0][1]+"'")
	return m[0][1]
}

func TestUnauthenticated(t *testing.T) {
	v := newEnv(t)
	seedOverview(t, v)
	rec := v.do("GET", "/admin", "")
	equal(t, "dashboard status", rec.Code, http.StatusFound)
	equal(t, "dashboard location", rec.Header().Get("Location"), "/admin/login")
	equal(t, "cache", rec.Header().Get("Cache-Control"), "no-store")

	for _, cookie := range []string{"", "not-a-session", storage.NewID(), strings.Repeat("a", 500)} {
		for _, r := range []struct{ method, path string }{
			{"GET", "/admin/status"},
			{"GET", "/admin/status?offset=bad"}, // authentication comes first
			{"GET", "/admin/sessions/" + userA + "/messages"},
			{"DELETE", "/admin/sessions/" + userA},
			{"GET", "/admin/deliveries"},
			{"POST", "/admin/deliveries/x/retry"},
			{"GET", "/admin/kv?prefix=users"},
			{"GET", "/admin/kv/prefixes"},
		} {
			rec := v.as(cookie, r.method, r.path, "")
			wantError(t, rec, http.StatusUnauthorized, "Unauthorized")
			equal(t, r.path+" cache", rec.Header().Get("Cache-Control"), "no-store")
		}
	}
	_, err := v.store.User(ctx, userA)
	must(t, err) // nothing was deleted
}

func TestDashboardHeaders(t *testing.T) {
	v := newEnv(t)
	token := v.login(t)
	rec := v.as(token, "GET", "/admin", "")
	equal(t, "status", rec.Code, http.StatusOK)
	equal(t, "type", rec.Header().Get("Content-Type"), "text/html; charset=utf-8")
	n1 := wantPageHeaders(t, rec)
	contains(t, "script carries the nonce", rec.Body.String(), `<script src="/admin/static/admin.js" nonce="`+n1+`" defer></script>`)
	n2 := wantPageHeaders(t, v.as(token, "GET", "/admin", ""))
	if n1 == n2 {
		t.Fatal("the nonce must differ per response")
	}
	n3 := wantPageHeaders(t, v.do("GET", "/admin/login", ""))
	if n3 == n1 || n3 == n2 {
		t.Fatal("the login page's nonce must be fresh")
	}
}

func TestDashboardContents(t *testing.T) {
	v := newEnv(t)
	_, r := seedOverview(t, v)
	rec := v.as(v.login(t), "GET", "/admin", "")
	equal(t, "status", rec.Code, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		"<h1>CHAOS Relay Admin</h1>",
		"Server dashboard — auto-refreshes every 10s",
		`<button type="button" id="refresh">Refresh</button>`,
		`<form method="post" action="/admin/logout">`,
		// tiles
		`id="t-storage">bolt</span>`, `class="tile-sub good">OK</span>`, `id="t-websockets">2</span>`,
		`id="t-sessions">2</span>`, `id="t-uptime">2</span>`, `id="t-pending">1</span>`, `id="t-failed">0</span>`,
		// session cards: truncated id, WebSocket state, creation time, actions, channels
		`<span class="short-id session-id mono" title="` + userA + `">7c9e…c1f90ae7</span>`,
		`<span class="short-id badge-id" title="` + tgID + `">3b24…c566a962</span>`,
		`<span class="short-id badge-id" title="dc-1">dc-1</span>`,
		`<span class="ws ws-on">2 connected</span>`, `<span class="ws">disconnected</span>`,
		`<time datetime="2026-11-23T08:00:00.000Z">2026-11-23 08:00:00</time>`,
		`data-action="messages" data-user="` + userA + `"`, `data-action="delete" data-user="` + userA + `"`,
		`4 channels`, `0 channels`,
		// badges
		`<span class="badge-label">@relay_bot</span><span class="badge-detail">2 users</span>`,
		`<span class="badge-label">@dbot</span><span class="badge-detail">awaiting pairing</span><span class="badge-detail">gateway connected</span><span class="badge-off">disabled</span>`,
		`<span class="badge-label">slug-abc123defg@in.example</span><span class="badge-detail">verified</span><span class="badge-detail">1 sender</span>`,
		`<span class="badge-type">webhook</span><span class="badge-name">GitHub</span>`,
		// recent messages, deliveries, store browser, dialogs
		`<span class="dir dir-out">out</span>`, `<span class="status status-pending">pending</span>`,
		`1–2 of 2 messages`, `1–2 of 2 sessions`,
		// ids: the part that differs, the whole id as the title
		`<td class="nowrap">telegram <span class="short-id mono muted" title="` + tgID + `">3b24…c566a962</span></td>` + "\n" +
			`<td class="nowrap"><span class="short-id mono" title="` + userA + `">7c9e…c1f90ae7</span></td>`,
		`<tr data-id="` + r.ID + `">`,
		`<span class="short-id mono" title="` + r.ID + `">` + r.ID[:4] + "…" + r.ID[28:] + `</span>`,
		`id="delivery-status"`, `id="kv-prefix"`, `<dialog id="messages-dialog"`, `<dialog id="delete-dialog"`,
	} {
		contains(t, "dashboard", body, want)
	}
}

func TestChannelBadges(t *testing.T) {
	ch := channelJSON{ID: "d", Type: "discord", Name: "n", Label: "@b", Details: []string{"locked", "gateway off"}}
	got := channelBadge(ch)
	if got.Label != "@b" || strings.Join(got.Details, "|") != "locked|gateway off" || !got.Disabled || got.Type != "discord" || got.Name != "n" {
		t.Fatalf("badge %+v", got)
	}
}

package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/client"
)

// Routing happens before authentication (PROTOCOL §1.2): unknown paths are 404
// and wrong methods 405 whether or not the caller is authenticated.
func TestUnknownPathIsNotFound(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	paths := []string{
		"/nope",
		"/channels/",  // no trailing-slash tolerance; a parameter is never empty
		"/webhook/",   // same
		"/responses/", // same
		"/channels/a/b",
		"/Channels",
		"/messages/",
		"/health/",
		"/mcp", // the MCP bridge serves exactly one non-empty segment
		"/mcp/",
		"/mcp/a/b",
		"/foo/../health",
		"/./health",
		"//health",
		"/auth/register/x",
		"/channel%73", // no decoding of percent-escapes before lookup
		"/%68ealth",
	}
	for _, p := range paths {
		for _, auth := range []map[string]string{nil, {"Authorization": "Bearer " + c.APIKey}} {
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
				a := send(t, m, r.URL+p, nil, auth)
				if a.status != http.StatusNotFound {
					t.Errorf("%s %s (auth %v): %d %s", m, p, auth != nil, a.status, a.body)
					continue
				}
				expect(t, a, http.StatusNotFound, `{"error":"Not found"}`)
			}
		}
	}
}

func TestWrongMethodIsNotAllowed(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	// Allow lists the route's methods plus OPTIONS, and HEAD wherever GET is
	// (HEAD is accepted there, §1.2). Order is not part of the contract.
	tests := []struct {
		method, path string
		allow        []string
	}{
		{http.MethodPost, "/health", []string{"GET", "HEAD", "OPTIONS"}},
		{http.MethodPost, "/favicon.ico", []string{"GET", "HEAD", "OPTIONS"}},
		{http.MethodDelete, "/metrics", []string{"GET", "HEAD", "OPTIONS"}},
		{http.MethodGet, "/auth/register", []string{"POST", "OPTIONS"}},
		{http.MethodGet, "/webhook/some-channel", []string{"POST", "OPTIONS"}},
		{http.MethodPost, "/responses/some-channel", []string{"GET", "HEAD", "OPTIONS"}},
		{http.MethodPost, "/messages", []string{"GET", "HEAD", "OPTIONS"}},
		{http.MethodGet, "/reply", []string{"POST", "OPTIONS"}},
		{http.MethodHead, "/reply", []string{"POST", "OPTIONS"}},
		{http.MethodGet, "/typing", []string{"POST", "OPTIONS"}},
		{http.MethodPut, "/channels", []string{"GET", "HEAD", "POST", "OPTIONS"}},
		{http.MethodDelete, "/channels", []string{"GET", "HEAD", "POST", "OPTIONS"}},
		{http.MethodGet, "/channels/some-channel", []string{"PATCH", "DELETE", "OPTIONS"}},
		{http.MethodPost, "/channels/some-channel", []string{"PATCH", "DELETE", "OPTIONS"}},
	}
	for _, tt := range tests {
		for _, auth := range []map[string]string{nil, {"Authorization": "Bearer " + c.APIKey}} {
			a := send(t, tt.method, r.URL+tt.path, nil, auth)
			want := `{"error":"Method not allowed"}`
			if tt.method == http.MethodHead {
				want = ""
			}
			if a.status != http.StatusMethodNotAllowed || strings.TrimSpace(a.body) != want {
				t.Errorf("%s %s: %d %s", tt.method, tt.path, a.status, a.body)
				continue
			}
			checkCommon(t, a)
			var got []string
			for m := range strings.SplitSeq(a.header.Get("Allow"), ",") {
				got = append(got, strings.TrimSpace(m))
			}
			slices.Sort(got)
			want2 := slices.Sorted(slices.Values(tt.allow))
			if !slices.Equal(got, want2) {
				t.Errorf("%s %s: Allow %q, want %v", tt.method, tt.path, a.header.Get("Allow"), tt.allow)
			}
		}
	}
}

func TestOptionsOnAnyPath(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	for _, p := range []string{"/nope", "/channels", "/channels/x", "/messages", "/reply", "/webhook/x", "/auth/register", "/health", "/channels/"} {
		a := send(t, http.MethodOptions, r.URL+p, nil, map[string]string{
			"Origin":                         "chrome-extension://abc",
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "authorization, x-signature",
			"Authorization":                  "Bearer not-a-key",
		})
		expect(t, a, http.StatusNoContent, "")
	}
}

func TestHeadAnswersLikeGetWithoutBody(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	legacy, signed := r.register(t, false), r.register(t, true)
	ch, _ := webhookChannel(t, legacy, client.NewChannel{})

	for _, tt := range []struct {
		name string
		a    answer
		ct   string
	}{
		{"health", send(t, http.MethodHead, r.URL+"/health", nil, nil), "application/json"},
		{"favicon", send(t, http.MethodHead, r.URL+"/favicon.ico", nil, nil), "image/svg+xml"},
		{"responses", send(t, http.MethodHead, r.URL+"/responses/"+ch.ID, nil, nil), "application/json"},
		{"legacy channels", send(t, http.MethodHead, r.URL+"/channels", nil, map[string]string{"Authorization": "Bearer " + legacy.APIKey}), "application/json"},
		{"signed messages", signedSend(t, signed, http.MethodHead, "/messages", nil), "application/json"},
	} {
		if tt.a.status != http.StatusOK || tt.a.body != "" || tt.a.header.Get("Content-Type") != tt.ct {
			t.Errorf("HEAD %s: %d %q %q", tt.name, tt.a.status, tt.a.header.Get("Content-Type"), tt.a.body)
		}
		checkCommon(t, tt.a)
	}
	expect(t, send(t, http.MethodHead, r.URL+"/nope", nil, nil), http.StatusNotFound, "")
	expect(t, send(t, http.MethodHead, r.URL+"/channels", nil, nil), http.StatusUnauthorized, "")
}

func TestFavicon(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	a := send(t, http.MethodGet, r.URL+"/favicon.ico", nil, nil)
	checkCommon(t, a)
	if a.status != http.StatusOK || !strings.HasPrefix(a.body, "<svg") || !strings.HasSuffix(strings.TrimSpace(a.body), "</svg>") {
		t.Fatalf("favicon: %d %q", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := a.header.Get("Cache-Control"); cc != "public, max-age=86400" {
		t.Errorf("Cache-Control %q", cc)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	a := send(t, http.MethodGet, r.URL+"/health", nil, nil)
	checkCommon(t, a)
	if a.status != http.StatusOK {
		t.Fatalf("health: %d %s", a.status, a.body)
	}
	if got, want := members(t, a.body), []string{"status", "version", "kv", "websockets", "uptime", "storage"}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	var h struct {
		Status     string
		Version    string
		KV         bool
		WebSockets json.Number
		Uptime     json.Number
		Storage    string
	}
	decode(t, a, &h)
	ws, errW := h.WebSockets.Int64()
	up, errU := h.Uptime.Int64()
	if h.Status != "ok" || h.Version == "" || !h.KV || errW != nil || ws < 0 || errU != nil || up < 0 || h.Storage != "bolt" && h.Storage != "nats" {
		t.Errorf("health %s", a.body)
	}
	if r.stop != nil && (h.Version != "test" || ws != 0 || h.Storage != testStore()) {
		t.Errorf("in-process health %s: want version test, no websockets and storage %s", a.body, testStore())
	}
}

func TestMetricsArePublicAndCarryNoIDs(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	ch, hookURL := webhookChannel(t, c, client.NewChannel{ID: uniqueID("metrics")})
	if _, err := client.PostWebhook(bg, nil, hookURL, "text/plain", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	a := send(t, http.MethodGet, r.URL+"/metrics", nil, nil)
	checkCommon(t, a)
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %q", a.status, a.header.Get("Content-Type"))
	}
	for _, name := range []string{"relay_http_requests_total", "relay_http_request_duration_seconds", "relay_inbound_messages_total"} {
		if !strings.Contains(a.body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if !strings.Contains(a.body, `route="/webhook/:channelId"`) {
		t.Errorf("requests are not labelled by route pattern")
	}
	for _, secret := range []string{ch.ID, c.UserID, c.APIKey} {
		if strings.Contains(a.body, secret) {
			t.Errorf("metrics contain a per-user value %q", secret)
		}
	}
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.MetricsToken = "metrics-secret" })
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "metrics-secret"}} {
		expect(t, send(t, http.MethodGet, r.URL+"/metrics", nil, h), http.StatusUnauthorized, `{"error":"Unauthorized"}`)
	}
	a := send(t, http.MethodGet, r.URL+"/metrics", nil, map[string]string{"Authorization": "Bearer metrics-secret"})
	if a.status != http.StatusOK || !strings.Contains(a.body, "relay_http_requests_total") {
		t.Fatalf("metrics with token: %d", a.status)
	}
}

// Authenticated answers, successes and failures alike, are never cached (§1.10).
func TestAuthenticatedAnswersAreNotCached(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	for _, a := range []answer{
		signedSend(t, c, http.MethodGet, "/channels", nil),
		send(t, http.MethodGet, r.URL+"/channels", nil, map[string]string{"Authorization": "Bearer " + c.APIKey}),
	} {
		checkCommon(t, a)
		if cc := a.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%d answer: Cache-Control %q, want no-store", a.status, cc)
		}
	}
}

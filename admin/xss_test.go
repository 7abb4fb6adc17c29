package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/storage"
)

const (
	evilBody    = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`
	evilSender  = `<img src=x onerror=alert(1)>&amp;`
	evilName    = `</span><script>alert("name")</script>`
	evilBot     = `bot"><svg onload=alert(1)>`
	evilAddress = `x@y"><b>bold</b>`
)

// seedEvil stores markup wherever a caller or a platform controls a string
// that the admin shows.
func seedEvil(t *testing.T, v *env) {
	t.Helper()
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: tgID, UserID: userA, Type: storage.TypeTelegram, Enabled: true, Name: evilName,
		Metadata: json.RawMessage(`{"botUsername":` + jsonString(evilBot) + `,"allowedUsers":["<u>"]}`)}, nil)
	addChannel(t, v.store, storage.Channel{ID: "em", UserID: userA, Type: storage.TypeEmail, Enabled: true,
		Metadata: json.RawMessage(`{"inboundAddress":` + jsonString(evilAddress) + `,"verified":false}`)}, nil)
	addMessage(t, v.store, userA, tgID, storage.TypeTelegram, evilSender, evilBody)
	addResponse(t, v.store, userA, tgID, evilBody, storage.Delivery{Status: storage.StatusFailed, LastError: `<i>err</i>`})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestMarkupIsInertInTheDashboard(t *testing.T) {
	v := newEnv(t)
	seedEvil(t, v)
	rec := v.as(v.login(t), "GET", "/admin", "")
	equal(t, "status", rec.Code, http.StatusOK)
	body := rec.Body.String()
	for _, raw := range []string{"<script>window", "<script>alert", "<img", "<svg onload", "<b>bold", "<i>err", "<u>"} {
		notContains(t, "raw markup", body, raw)
	}
	// The only SVG is the charts' (8: four charts, two periods).
	equal(t, "svg tags", strings.Count(body, "<svg"), strings.Count(body, `<svg class="chart-svg"`))
	equal(t, "charts", strings.Count(body, `<svg class="chart-svg"`), 8)
	for _, escaped := range []string{
		"&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;", // body
		"&lt;img src=x onerror=alert(1)&gt;&amp;amp;",                                                       // sender
		"&lt;/span&gt;&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;",                                   // channel name
		"@bot&#34;&gt;&lt;svg onload=alert(1)&gt;",                                                          // bot username
		"x@y&#34;&gt;&lt;b&gt;bold&lt;/b&gt;",                                                               // inbound address
		"&lt;i&gt;err&lt;/i&gt;",                                                                            // delivery error
	} {
		contains(t, "escaped text", body, escaped)
	}
	// The only script is the nonce'd one from /admin/static.
	equal(t, "script tags", strings.Count(body, "<script"), 1)
}

func TestMarkupIsPlainTextInJSON(t *testing.T) {
	v := newEnv(t)
	seedEvil(t, v)
	token := v.login(t)
	for _, path := range []string{"/admin/status", "/admin/sessions/" + userA + "/messages", "/admin/deliveries", "/admin/kv?prefix=message_log", "/admin/kv?prefix=channels"} {
		rec := v.as(token, "GET", path, "")
		equal(t, path+" status", rec.Code, http.StatusOK)
		equal(t, path+" type", rec.Header().Get("Content-Type"), "application/json")
		equal(t, path+" nosniff", rec.Header().Get("X-Content-Type-Options"), "nosniff")
		body := rec.Body.String()
		notContains(t, path+" not HTML-escaped", body, `\u003c`)
		notContains(t, path+" not HTML-escaped", body, `\u0026`)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: invalid JSON %q", path, body)
		}
	}
	status := v.as(token, "GET", "/admin/status", "").Body.String()
	contains(t, "content", status, `"content":"<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"`)
	contains(t, "sender", status, `"from":"<img src=x onerror=alert(1)>&amp;"`)
	contains(t, "name", status, `"name":"</span><script>alert(\"name\")</script>"`)
	contains(t, "bot", status, `"botUsername":"bot\"><svg onload=alert(1)>"`)
	contains(t, "address", status, `"inboundAddress":"x@y\"><b>bold</b>"`)
}

package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/ratelimit"
)

// storedMsg is a message of GET /messages with its metadata kept raw.
type storedMsg struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Timestamp   string          `json:"timestamp"`
	Metadata    json.RawMessage `json:"metadata"`
}

// parseMessage decodes a message and checks its shape (PROTOCOL §5.1).
func parseMessage(t *testing.T, raw json.RawMessage) storedMsg {
	t.Helper()
	want := []string{"id", "userId", "channelType", "channelId", "from", "content", "timestamp", "metadata"}
	if got := members(t, string(raw)); !slices.Equal(got, want) {
		t.Errorf("message members %v", got)
	}
	var m storedMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if !uuidV7.MatchString(m.ID) || !isoMS.MatchString(m.Timestamp) {
		t.Errorf("id %q (want UUIDv7), timestamp %q", m.ID, m.Timestamp)
	}
	// The UUIDv7 unix_ts_ms is the timestamp (§1.4).
	if ts, err := time.Parse(time.RFC3339, m.Timestamp); err == nil {
		hexTS := strings.ReplaceAll(m.ID, "-", "")[:12]
		if ms, _ := strconv.ParseInt(hexTS, 16, 64); ms != ts.UnixMilli() {
			t.Errorf("id %s carries %d ms, timestamp %s is %d", m.ID, ms, m.Timestamp, ts.UnixMilli())
		}
	}
	return m
}

// onlyMessage polls c's messages and returns the single one stored.
func onlyMessage(t *testing.T, c *client.Client) storedMsg {
	t.Helper()
	list := rawMessages(t, c)
	if len(list) != 1 {
		t.Fatalf("%d messages stored, want 1", len(list))
	}
	return parseMessage(t, list[0])
}

// hooked is a webhook channel with its URL, of a fresh session.
type hooked struct {
	c      *client.Client
	id     string
	url    string
	secret string
}

func newHook(t *testing.T, r *relay, body string) hooked {
	t.Helper()
	c := r.register(t, true)
	cr := mustCreate(t, c, body)
	return hooked{c: c, id: cr.id, url: *cr.WebhookURL, secret: cr.secret}
}

// accepted checks a 200 webhook answer and returns its messageId.
func accepted(t *testing.T, a answer) string {
	t.Helper()
	checkCommon(t, a)
	var out struct {
		OK        bool   `json:"ok"`
		MessageID string `json:"messageId"`
	}
	if a.status != http.StatusOK {
		t.Fatalf("webhook: %d %s", a.status, a.body)
	}
	decode(t, a, &out)
	if want := `{"ok":true,"messageId":"` + out.MessageID + `"}`; strings.TrimSpace(a.body) != want || !uuidV7.MatchString(out.MessageID) {
		t.Fatalf("webhook answer %s", a.body)
	}
	return out.MessageID
}

func TestWebhookStoresMessage(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	id := accepted(t, hook(t, h.url, "application/json", []byte(`{"text":"hi","sender":"x"}`), nil))
	m := onlyMessage(t, h.c)
	if m.ID != id || m.UserID != h.c.UserID || m.ChannelType != "webhook" || m.ChannelID != h.id || m.From != "webhook" ||
		m.Content != `{"text":"hi","sender":"x"}` || string(m.Metadata) != `{"raw":{"text":"hi","sender":"x"},"channelDirection":"inbound"}` {
		t.Errorf("stored %+v metadata %s", m, m.Metadata)
	}
}

func TestWebhookToken(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	secret := "tok " + uniqueID("s")
	h := newHook(t, r, `{"metadata":{"webhookSecret":"`+secret+`"}}`)
	base := r.URL + "/webhook/" + h.id
	body := []byte("hi")
	// The first present of ?token=, X-Webhook-Token, Bearer; empty = absent.
	for _, tt := range []struct {
		name   string
		url    string
		header map[string]string
		ok     bool
	}{
		{"query", h.url, nil, true},
		{"header", base, map[string]string{"X-Webhook-Token": secret}, true},
		{"bearer", base, map[string]string{"Authorization": "Bearer " + secret}, true},
		{"empty query, header", base + "?token=", map[string]string{"X-Webhook-Token": secret}, true},
		{"empty header, bearer", base, map[string]string{"X-Webhook-Token": "", "Authorization": "Bearer " + secret}, true},
		{"none", base, nil, false},
		{"wrong query", base + "?token=nope", nil, false},
		{"wrong query wins over a right header", base + "?token=nope", map[string]string{"X-Webhook-Token": secret}, false},
		{"wrong header wins over a right bearer", base, map[string]string{"X-Webhook-Token": "nope", "Authorization": "Bearer " + secret}, false},
		{"prefix", base + "?token=" + strings.Fields(secret)[0], nil, false},
		{"longer", h.url + "x", nil, false},
		{"bearer without scheme", base, map[string]string{"Authorization": secret}, false},
		{"another channel's secret", base + "?token=" + newHook(t, r, `{}`).secret, nil, false},
	} {
		a := hook(t, tt.url, "text/plain", body, tt.header)
		if tt.ok {
			accepted(t, a)
		} else {
			expectError(t, a, http.StatusUnauthorized, "Invalid token")
		}
	}
	if n := len(rawMessages(t, h.c)); n != 5 {
		t.Errorf("%d messages stored, want 5", n)
	}
}

// The checks of §4.2 in order: unknown, wrong type, token, disabled, body.
func TestWebhookCheckOrder(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{"enabled":false}`)
	slack := mustCreate(t, h.c, `{"type":"slack","metadata":{"webhookSecret":"s"}}`)
	tg := mustCreate(t, h.c, `{"type":"telegram"}`)

	expectError(t, hook(t, r.URL+"/webhook/"+uniqueID("none")+"?token=x", "application/json", []byte("{"), nil), http.StatusNotFound, "Unknown channel")
	expectError(t, hook(t, r.URL+"/webhook/"+slack.id+"?token=s", "text/plain", []byte("hi"), nil), http.StatusBadRequest, "Channel is not a webhook")
	expectError(t, hook(t, r.URL+"/webhook/"+tg.id+"?token="+tg.secret, "text/plain", []byte("hi"), nil), http.StatusBadRequest, "Channel is not a webhook")
	expectError(t, hook(t, r.URL+"/webhook/"+tg.id+"?token=wrong", "text/plain", []byte("hi"), nil), http.StatusBadRequest, "Channel is not a webhook")
	expectError(t, hook(t, r.URL+"/webhook/"+h.id+"?token=wrong", "application/json", []byte("{"), nil), http.StatusUnauthorized, "Invalid token")
	expectError(t, hook(t, h.url, "application/json", []byte("{"), nil), http.StatusForbidden, "Channel is disabled")
	expectError(t, hook(t, h.url, "text/plain", []byte("hi"), nil), http.StatusForbidden, "Channel is disabled")
	noMessages(t, h.c)

	// Enabled again, the channel accepts; PATCH toggles.
	if a := patchChannel(t, h.c, h.id, `{"enabled":true}`); a.status != http.StatusOK {
		t.Fatal(a.body)
	}
	accepted(t, hook(t, h.url, "text/plain", []byte("hi"), nil))
	if a := patchChannel(t, h.c, h.id, `{"enabled":false}`); a.status != http.StatusOK {
		t.Fatal(a.body)
	}
	expectError(t, hook(t, h.url, "text/plain", []byte("again"), nil), http.StatusForbidden, "Channel is disabled")
	if n := len(rawMessages(t, h.c)); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// JSON bodies are re-serialised exactly as §4.2 says: member order and number
// literals kept, minimal escapes, duplicate keys merged the JavaScript way.
func TestWebhookJSONContent(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	tests := []struct {
		name, body, content, raw string
	}{
		{"object", `{"text":"hi","sender":"x"}`, `{"text":"hi","sender":"x"}`, ""},
		{"whitespace", " {\n\t\"b\" : 1 ,\r\n \"a\" : [ 1 , { } , [ ] ] } \n", `{"b":1,"a":[1,{},[]]}`, ""},
		{"numbers", `{"n":1.50,"e":1E+2,"f":-0.0e-0,"big":12345678901234567890123,"z":0}`, `{"n":1.50,"e":1E+2,"f":-0.0e-0,"big":12345678901234567890123,"z":0}`, ""},
		{"integer-like keys keep their order", `{"b":1,"2":2,"a":3,"1":4}`, `{"b":1,"2":2,"a":3,"1":4}`, ""},
		{"escapes decoded", `{"s":"\u0041\/\u00e9\ud83d\ude00\u003c\u0026"}`, `{"s":"A/é😀<&"}`, ""},
		{"minimal escapes", `{"s":"\"\\\b\f\n\r\t\u0001\u001F\u0000"}`, `{"s":"\"\\\b\f\n\r\t\u0001\u001f\u0000"}`, ""},
		{"U+2028 and U+2029 raw", `{"s":"a` + "\u2028" + `b\u2029c"}`, `{"s":"a` + "\u2028" + `b` + "\u2029" + `c"}`, ""},
		{"html not escaped", `{"s":"<b>&amp;</b>"}`, `{"s":"<b>&amp;</b>"}`, ""},
		{"escaped key", `{"\u006b":1}`, `{"k":1}`, ""},
		{"duplicate keys", `{"a":1,"b":2,"a":{"x":1,"x":[3]}}`, `{"a":{"x":[3]},"b":2}`, ""},
		{"array", `[1, "two", null, true]`, `[1,"two",null,true]`, ""},
		{"number", ` 42.0 `, `42.0`, ""},
		{"null", `null`, `null`, ""},
		{"false", `false`, `false`, ""},
		{"string", `"just a string"`, `just a string`, `"just a string"`},
		{"string with escapes", `"a\nb\u0041\u2028"`, "a\nbA\u2028", "\"a\\nbA\u2028\""},
		{"string with controls", `"a\u0001b\u007f<i>c</i>"`, `ab<i>c</i>`, "\"a\\u0001b\u007f<i>c</i>\""},
		{"invalid UTF-8", "{\"s\":\"x\xffy\"}", `{"s":"x` + "\uFFFD" + `y"}`, ""},
		{"invalid UTF-8 string", "\"x\xffy\"", "x\uFFFDy", "\"x\uFFFDy\""},
	}
	for _, tt := range tests {
		accepted(t, hook(t, h.url, "application/json", []byte(tt.body), nil))
	}
	// Content-Type is matched as a case-insensitive substring.
	accepted(t, hook(t, h.url, "Application/JSON; charset=utf-8", []byte(` {"ct" : true} `), nil))
	tests = append(tests, struct{ name, body, content, raw string }{"content type", "", `{"ct":true}`, ""})

	list := rawMessages(t, h.c)
	if len(list) != len(tests) {
		t.Fatalf("%d messages, want %d", len(list), len(tests))
	}
	for i, tt := range tests {
		m := parseMessage(t, list[i])
		raw := tt.raw
		if raw == "" {
			raw = tt.content
		}
		if m.Content != tt.content {
			t.Errorf("%s: content %q, want %q", tt.name, m.Content, tt.content)
		}
		if want := `{"raw":` + raw + `,"channelDirection":"inbound"}`; string(m.Metadata) != want {
			t.Errorf("%s: metadata %s, want %s", tt.name, m.Metadata, want)
		}
	}
}

func TestWebhookInvalidJSON(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	for _, body := range []string{"", " \n", "{", `{"a":1}x`, `{"a":1} {"b":2}`, "[1,]", "{'a':1}", "nul", "01", `{"a":1,}`, `"unterminated`} {
		a := hook(t, h.url, "application/json", []byte(body), nil)
		if a.status != http.StatusBadRequest {
			t.Errorf("%q: %d %s", body, a.status, a.body)
			continue
		}
		expectError(t, a, http.StatusBadRequest, "Invalid JSON body")
	}
	noMessages(t, h.c)
}

func TestWebhookFormBody(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	accepted(t, hook(t, h.url, "application/x-www-form-urlencoded; charset=UTF-8", []byte("b=1&a=x+y&b=2&c=%E2%82%AC%3C&d&=e"), nil))
	accepted(t, hook(t, h.url, "application/x-www-form-urlencoded", nil, nil))
	// Empty pairs are skipped and invalid UTF-8 is replaced.
	accepted(t, hook(t, h.url, "application/x-www-form-urlencoded", []byte("&&c=%ff%41&"), nil))
	list := rawMessages(t, h.c)
	if len(list) != 3 {
		t.Fatalf("%d messages", len(list))
	}
	form := `{"b":"2","a":"x y","c":"€<","d":"","":"e"}`
	if m := parseMessage(t, list[0]); m.Content != form || string(m.Metadata) != `{"form":`+form+`,"channelDirection":"inbound"}` {
		t.Errorf("form: %q %s", m.Content, m.Metadata)
	}
	if m := parseMessage(t, list[1]); m.Content != `{}` || string(m.Metadata) != `{"form":{},"channelDirection":"inbound"}` {
		t.Errorf("empty form: %q %s", m.Content, m.Metadata)
	}
	form = `{"c":"` + "\uFFFD" + `A"}`
	if m := parseMessage(t, list[2]); m.Content != form || string(m.Metadata) != `{"form":`+form+`,"channelDirection":"inbound"}` {
		t.Errorf("odd form: %q %s", m.Content, m.Metadata)
	}
}

// Other bodies are text: invalid UTF-8 is repaired and control characters
// other than tab, LF and CR are removed from the content; tags are kept.
func TestWebhookTextBody(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	bodies := []struct{ ct, body, content string }{
		{"text/plain", "plain <b>text</b> & more", "plain <b>text</b> & more"},
		{"", "no content type", "no content type"},
		{"text/plain", "", ""},
		{"application/xml", "<a>{</a>", "<a>{</a>"},
		{"text/plain; charset=utf-8", "a\xffb\x01c\x7fd\te\r\nf\u0085g\u200bh\x00", "a\uFFFDbcd\te\r\nfg\u200bh"},
	}
	for _, b := range bodies {
		accepted(t, hook(t, h.url, b.ct, []byte(b.body), nil))
	}
	a := signedSend(t, h.c, http.MethodGet, "/messages", nil)
	if !utf8.ValidString(a.body) {
		t.Fatalf("/messages answered invalid UTF-8")
	}
	list := rawMessages(t, h.c)
	if len(list) != len(bodies) {
		t.Fatalf("%d messages", len(list))
	}
	for i, b := range bodies {
		m := parseMessage(t, list[i])
		var meta struct {
			Raw              *string `json:"raw"`
			ChannelDirection string  `json:"channelDirection"`
		}
		if err := json.Unmarshal(m.Metadata, &meta); err != nil {
			t.Fatal(err)
		}
		if m.Content != b.content || meta.Raw == nil || *meta.Raw != strings.ToValidUTF8(b.body, "\uFFFD") || members(t, string(m.Metadata))[0] != "raw" {
			t.Errorf("%q: content %q metadata %s", b.body, m.Content, m.Metadata)
		}
	}
}

// from is X-Webhook-Source, sanitised and cut to 256 UTF-16 units (§4.2).
func TestWebhookSource(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	tests := []struct{ source, from string }{
		{"GitHub <ci> & co", "GitHub <ci> & co"},
		{"", "webhook"},
		{"a\xffb\tc", "a\uFFFDb\tc"},
		{strings.Repeat("s", 300), strings.Repeat("s", 256)},
		{strings.Repeat("s", 255) + "😀tail", strings.Repeat("s", 255)},
		{strings.Repeat("é", 256) + "x", strings.Repeat("é", 256)},
	}
	for _, tt := range tests {
		var hdr map[string]string
		if tt.source != "" {
			hdr = map[string]string{"X-Webhook-Source": tt.source}
		}
		accepted(t, hook(t, h.url, "text/plain", []byte("x"), hdr))
	}
	list := rawMessages(t, h.c)
	if len(list) != len(tests) {
		t.Fatalf("%d messages", len(list))
	}
	for i, tt := range tests {
		if m := parseMessage(t, list[i]); m.From != tt.from {
			t.Errorf("source %.20q: from %q, want %q", tt.source, m.From, tt.from)
		}
	}
}

// Metadata starts with raw (or form), then the channel hints of §3.7.
func TestWebhookMetadataHints(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{"direction":"bidirectional","name":"GitHub","prompt":"Summarise <this>.","agentId":"agent-7"}`)
	accepted(t, hook(t, h.url, "application/json", []byte(`{"x":1}`), nil))
	accepted(t, hook(t, h.url, "text/plain", []byte("hi"), nil))
	accepted(t, hook(t, h.url, "application/x-www-form-urlencoded", []byte("a=1"), nil))
	hints := `"channelDirection":"bidirectional","channelName":"GitHub","channelPrompt":"Summarise <this>.","channelAgentId":"agent-7"}`
	list := rawMessages(t, h.c)
	for i, want := range []string{`{"raw":{"x":1},` + hints, `{"raw":"hi",` + hints, `{"form":{"a":"1"},` + hints} {
		if m := parseMessage(t, list[i]); string(m.Metadata) != want {
			t.Errorf("metadata %s\nwant %s", m.Metadata, want)
		}
	}
	// Hints follow the channel as it is now.
	if a := patchChannel(t, h.c, h.id, `{"name":"","prompt":"","agentId":null}`); a.status != http.StatusOK {
		t.Fatal(a.body)
	}
	accepted(t, hook(t, h.url, "text/plain", []byte("hi"), nil))
	list = rawMessages(t, h.c)
	if m := parseMessage(t, list[3]); string(m.Metadata) != `{"raw":"hi","channelDirection":"bidirectional"}` {
		t.Errorf("metadata %s", m.Metadata)
	}
}

// Large bodies within the limit are fitted to the 64 KiB budget (§4.1 step 7).
func TestWebhookFitsLargeBodies(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	const marker = "\n\n[Message truncated: too large to deliver in full.]"

	// budget is what §4.1 step 7 leaves for the content of m, whose metadata
	// (before the truncation keys) is meta.
	budget := func(m storedMsg, meta string) int {
		m.Content, m.Metadata = "", json.RawMessage(meta)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		return 65536 - (b.Len() - 1) - 2048
	}

	// Raw metadata that makes the message over 32 KiB is dropped; the
	// content fits and stays whole.
	mid := `{"k":"` + strings.Repeat("x", 40000) + `"}`
	accepted(t, hook(t, h.url, "application/json", []byte(mid), nil))
	// Huge text: raw dropped and content truncated with the marker.
	huge := strings.Repeat("a", 1_000_000)
	accepted(t, hook(t, h.url, "text/plain", []byte(huge), nil))
	// Multi-byte content is cut at a code-point boundary.
	accepted(t, hook(t, h.url, "text/plain", []byte(strings.Repeat("é", 100_000)+"a"), nil))
	// A form just as large.
	accepted(t, hook(t, h.url, "application/x-www-form-urlencoded", []byte("k="+strings.Repeat("f", 40000)), nil))
	// Below the thresholds nothing changes.
	small := `{"k":"` + strings.Repeat("y", 30000) + `"}`
	accepted(t, hook(t, h.url, "application/json", []byte(small), nil))

	list := rawMessages(t, h.c)
	if len(list) != 5 {
		t.Fatalf("%d messages", len(list))
	}
	omitted := `{"channelDirection":"inbound","rawOmitted":true}`
	if m := parseMessage(t, list[0]); m.Content != mid || string(m.Metadata) != omitted {
		t.Errorf("mid-size JSON: %d bytes, metadata %s", len(m.Content), m.Metadata)
	}
	m := parseMessage(t, list[1])
	keep := budget(m, omitted) - len(marker)
	if want := strings.Repeat("a", keep) + marker; m.Content != want {
		t.Errorf("huge text: %d bytes ending %q, want %d", len(m.Content), m.Content[max(0, len(m.Content)-60):], len(want))
	}
	if want := `{"channelDirection":"inbound","rawOmitted":true,"truncated":true,"originalContentBytes":1000000}`; string(m.Metadata) != want {
		t.Errorf("huge text metadata %s", m.Metadata)
	}
	if len(list[1]) > 65536 {
		t.Errorf("stored message is %d bytes", len(list[1]))
	}
	m = parseMessage(t, list[2])
	keep = budget(m, omitted) - len(marker)
	if want := strings.Repeat("é", keep/2) + marker; m.Content != want {
		t.Errorf("multi-byte: %d bytes, want %d", len(m.Content), len(want))
	}
	if want := `{"channelDirection":"inbound","rawOmitted":true,"truncated":true,"originalContentBytes":200001}`; string(m.Metadata) != want {
		t.Errorf("multi-byte metadata %s", m.Metadata)
	}
	if m := parseMessage(t, list[3]); m.Content != `{"k":"`+strings.Repeat("f", 40000)+`"}` || string(m.Metadata) != omitted {
		t.Errorf("form: metadata %s", m.Metadata)
	}
	if m := parseMessage(t, list[4]); m.Content != small || string(m.Metadata) != `{"raw":`+small+`,"channelDirection":"inbound"}` {
		t.Errorf("small: metadata %.80s", m.Metadata)
	}
}

// At the backlog cap, inbound messages are refused with 429 Inbox full and
// Retry-After = the sweep interval, and nothing is stored (§4.1 step 8).
func TestWebhookInboxFull(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.MaxBacklogPerUser = 2; c.SweepInterval = 90 * time.Second })
	h := newHook(t, r, `{}`)
	second := mustCreate(t, h.c, `{}`)
	accepted(t, hook(t, h.url, "text/plain", []byte("1"), nil))
	accepted(t, hook(t, *second.WebhookURL, "text/plain", []byte("2"), nil))
	for _, u := range []string{h.url, *second.WebhookURL} {
		a := hook(t, u, "text/plain", []byte("3"), nil)
		expectError(t, a, http.StatusTooManyRequests, "Inbox full")
		if ra := a.header.Get("Retry-After"); ra != "90" {
			t.Errorf("Retry-After %q, want 90", ra)
		}
	}
	// The body is checked before the cap.
	expectError(t, hook(t, h.url, "application/json", []byte("{"), nil), http.StatusBadRequest, "Invalid JSON body")
	if n := len(rawMessages(t, h.c)); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
	// The cap is per user.
	other := newHook(t, r, `{}`)
	accepted(t, hook(t, other.url, "text/plain", []byte("1"), nil))

	// A sweep interval below a second still gives a Retry-After (at least 1).
	fast := newRelay(t, func(c *app.Config) { c.MaxBacklogPerUser = 1; c.SweepInterval = 500 * time.Millisecond })
	h = newHook(t, fast, `{}`)
	accepted(t, hook(t, h.url, "text/plain", []byte("1"), nil))
	a := hook(t, h.url, "text/plain", []byte("2"), nil)
	expectError(t, a, http.StatusTooManyRequests, "Inbox full")
	if ra := a.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
}

func TestWebhookRateLimit(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.RateLimits.Webhook = ratelimit.Rate{N: 2, Per: time.Hour} })
	h := newHook(t, r, `{}`)
	second := mustCreate(t, h.c, `{}`)
	accepted(t, hook(t, h.url, "text/plain", []byte("1"), nil))
	accepted(t, hook(t, h.url, "text/plain", []byte("2"), nil))
	// Limits come first: even a bad token or body is refused with 429.
	for _, u := range []string{h.url, r.URL + "/webhook/" + h.id + "?token=wrong"} {
		a := hook(t, u, "application/json", []byte("{"), nil)
		expectRateLimited(t, a, "Too many webhook requests. Try again later.", 1800)
	}
	// The bucket is per channel id, known or not.
	accepted(t, hook(t, *second.WebhookURL, "text/plain", []byte("3"), nil))
	unknown := r.URL + "/webhook/" + uniqueID("none")
	for range 2 {
		expectError(t, hook(t, unknown, "text/plain", nil, nil), http.StatusNotFound, "Unknown channel")
	}
	expectRateLimited(t, hook(t, unknown, "text/plain", nil, nil), "Too many webhook requests. Try again later.", 1800)
	if n := len(rawMessages(t, h.c)); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

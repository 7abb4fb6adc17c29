package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"
)

// poll sends GET /messages with a raw query and returns the page.
func poll(t *testing.T, h hooked, query string) (rawPage, answer) {
	t.Helper()
	a := signedSend(t, h.c, http.MethodGet, "/messages"+query, nil)
	checkCommon(t, a)
	if a.status != http.StatusOK {
		t.Fatalf("poll %s: %d %s", query, a.status, a.body)
	}
	var p rawPage
	decode(t, a, &p)
	if p.Messages == nil {
		t.Fatalf("poll %s: no messages array: %s", query, a.body)
	}
	return p, a
}

func TestMessagesPage(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{"name":"N"}`)
	// A new session has nothing: since is the epoch.
	for _, q := range []string{"", "?since=", "?limit=5", "?since=&limit="} {
		expect(t, signedSend(t, h.c, http.MethodGet, "/messages"+q, nil), http.StatusOK, `{"messages":[],"since":"1970-01-01T00:00:00.000Z","hasMore":false}`)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, accepted(t, hook(t, h.url, "text/plain", []byte(fmt.Sprint("m", i)), nil)))
	}

	// The whole page, byte for byte.
	p, a := poll(t, h, "?limit=1")
	m := parseMessage(t, p.Messages[0])
	want := fmt.Sprintf(`{"messages":[{"id":"%s","userId":"%s","channelType":"webhook","channelId":"%s","from":"webhook","content":"m0","timestamp":"%s",`+
		`"metadata":{"raw":"m0","channelDirection":"inbound","channelName":"N"}}],"since":"%s","hasMore":true}`, ids[0], h.c.UserID, h.id, m.Timestamp, m.Timestamp)
	expect(t, a, http.StatusOK, want)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}

	// Following since: every message once, in order, hasMore until the end.
	var got []storedMsg
	since := ""
	for i, wantMore := range []bool{true, true, false} {
		q := "?limit=2"
		if since != "" {
			q += "&since=" + url.QueryEscape(since)
		}
		p, _ := poll(t, h, q)
		if p.HasMore != wantMore || len(p.Messages) != min(2, 5-2*i) {
			t.Fatalf("page %d: %d messages, hasMore %v", i, len(p.Messages), p.HasMore)
		}
		for _, raw := range p.Messages {
			got = append(got, parseMessage(t, raw))
		}
		if p.Since != got[len(got)-1].Timestamp {
			t.Errorf("since %s, want the last timestamp %s", p.Since, got[len(got)-1].Timestamp)
		}
		since = p.Since
	}
	for i, m := range got {
		if m.ID != ids[i] || m.Content != fmt.Sprint("m", i) || m.UserID != h.c.UserID {
			t.Errorf("message %d: %+v", i, m)
		}
		if i > 0 && m.Timestamp <= got[i-1].Timestamp {
			t.Errorf("timestamps not increasing: %s then %s", got[i-1].Timestamp, m.Timestamp)
		}
	}
	// Past the end: nothing, and since echoes the request's.
	expect(t, signedSend(t, h.c, http.MethodGet, "/messages?since="+url.QueryEscape(since), nil), http.StatusOK,
		`{"messages":[],"since":"`+since+`","hasMore":false}`)
	// since is exclusive: from the third message's timestamp come the last two.
	p, _ = poll(t, h, "?since="+url.QueryEscape(got[2].Timestamp))
	if len(p.Messages) != 2 || parseMessage(t, p.Messages[0]).ID != ids[3] || p.HasMore {
		t.Errorf("since the third: %d messages", len(p.Messages))
	}
	// Polling deletes nothing, and other users see none of it.
	if n := len(rawMessages(t, h.c)); n != 5 {
		t.Errorf("%d messages after polling", n)
	}
	noMessages(t, r.register(t, true))
}

// since is parsed as RFC 3339 and echoed in canonical form (§1.5, §5.3).
func TestMessagesSinceForms(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	h := newHook(t, r, `{}`)
	for _, tt := range []struct{ query, since string }{
		{"since=2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000Z"},
		{"since=" + url.QueryEscape("2026-01-01T01:00:00+01:00"), "2026-01-01T00:00:00.000Z"},
		{"since=2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00.000Z"}, // '+' decodes to a space
		{"since=2026-01-01T01:00:00.5+01:00", "2026-01-01T00:00:00.500Z"},
		{"since=2025-12-31T19:00:00-05:00", "2026-01-01T00:00:00.000Z"},
		{"since=2026-01-01T00:00:00.123999Z", "2026-01-01T00:00:00.123Z"},
		{"since=2026-01-01T00:00:00.1Z", "2026-01-01T00:00:00.100Z"},
		{"since=2026-01-01T00%3A00%3A00.000Z", "2026-01-01T00:00:00.000Z"},
		{"since=1969-12-31T23:59:59.9999Z", "1969-12-31T23:59:59.999Z"},
		{"since=2999-01-01T00:00:00.000Z&limit=3", "2999-01-01T00:00:00.000Z"},
	} {
		expect(t, signedSend(t, h.c, http.MethodGet, "/messages?"+tt.query, nil), http.StatusOK,
			`{"messages":[],"since":"`+tt.since+`","hasMore":false}`)
	}
	for _, q := range []string{"abc", "2026-01-01", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "1795428930", "2026-01-01T00:00:00ZZ", "2026-01-01T00:00:00%2B0100"} {
		expectError(t, signedSend(t, h.c, http.MethodGet, "/messages?since="+q, nil), http.StatusBadRequest, "Invalid since parameter")
	}
	for _, q := range []string{"0", "-1", "abc", "1.5", "1e2", "%205", "5x", "0x10"} {
		expectError(t, signedSend(t, h.c, http.MethodGet, "/messages?limit="+q, nil), http.StatusBadRequest, "Invalid limit parameter")
	}
}

// limit defaults to 100 and is clamped to 500 (§5.3).
func TestMessagesLimitClamp(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.RateLimits.Disabled = true })
	h := newHook(t, r, `{}`)
	const total = 501
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range total {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if a := hook(t, h.url, "text/plain", []byte(fmt.Sprint(i)), nil); a.status != http.StatusOK {
				t.Errorf("webhook: %d %s", a.status, a.body)
			}
		})
	}
	wg.Wait()
	for _, tt := range []struct {
		query string
		n     int
	}{{"", 100}, {"?limit=500", 500}, {"?limit=501", 500}, {"?limit=99999999999999999999999", 500}, {"?limit=1", 1}} {
		p, _ := poll(t, h, tt.query)
		if len(p.Messages) != tt.n || !p.HasMore {
			t.Errorf("%q: %d messages, hasMore %v; want %d and true", tt.query, len(p.Messages), p.HasMore, tt.n)
		}
	}
	p, _ := poll(t, h, "?limit=1000")
	last := parseMessage(t, p.Messages[len(p.Messages)-1])
	p, _ = poll(t, h, "?limit=1000&since="+url.QueryEscape(last.Timestamp))
	if len(p.Messages) != 1 || p.HasMore {
		t.Errorf("second page: %d messages, hasMore %v", len(p.Messages), p.HasMore)
	}
	seen := map[string]bool{}
	for _, raw := range rawMessages(t, h.c) {
		var m struct{ Content string }
		_ = json.Unmarshal(raw, &m)
		seen[m.Content] = true
	}
	if len(seen) != total {
		t.Errorf("%d distinct messages, want %d", len(seen), total)
	}
}

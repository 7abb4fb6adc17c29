package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/client"
)

func replyRaw(t *testing.T, c *client.Client, body string) answer {
	t.Helper()
	return signedSend(t, c, http.MethodPost, "/reply", []byte(body))
}

// replied checks a 200 reply answer and returns its responseId.
func replied(t *testing.T, a answer) string {
	t.Helper()
	checkCommon(t, a)
	if a.status != http.StatusOK {
		t.Fatalf("reply: %d %s", a.status, a.body)
	}
	var out struct{ ResponseID string }
	decode(t, a, &out)
	if want := `{"ok":true,"responseId":"` + out.ResponseID + `"}`; strings.TrimSpace(a.body) != want || !uuidV7.MatchString(out.ResponseID) {
		t.Fatalf("reply answer %s", a.body)
	}
	return out.ResponseID
}

// responsesOf reads GET /responses/:id (public) with a raw query.
func responsesOf(t *testing.T, r *relay, id, query string) (rawPage, answer) {
	t.Helper()
	a := send(t, http.MethodGet, r.URL+"/responses/"+id+query, nil, nil)
	checkCommon(t, a)
	if a.status != http.StatusOK {
		t.Fatalf("responses %s%s: %d %s", id, query, a.status, a.body)
	}
	var p rawPage
	decode(t, a, &p)
	if p.Responses == nil {
		t.Fatalf("no responses array: %s", a.body)
	}
	return p, a
}

func noResponses(t *testing.T, r *relay, id string) {
	t.Helper()
	if p, _ := responsesOf(t, r, id, ""); len(p.Responses) != 0 {
		t.Fatalf("%d responses stored on %s, want none", len(p.Responses), id)
	}
}

// storedResp is a response of GET /responses with its metadata kept raw.
type storedResp struct {
	ID, ChannelType, ChannelID, From, Content, Timestamp string
	Metadata                                             json.RawMessage
}

func parseResponse(t *testing.T, raw json.RawMessage) storedResp {
	t.Helper()
	if got := members(t, string(raw)); !slices.Equal(got, []string{"id", "channelType", "channelId", "from", "content", "timestamp", "metadata"}) {
		t.Errorf("response members %v", got)
	}
	var r storedResp
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if !uuidV7.MatchString(r.ID) || !isoMS.MatchString(r.Timestamp) || r.From != "agent" {
		t.Errorf("response %s", raw)
	}
	return r
}

// The checks of §7.2, in order, each with nothing stored.
func TestReplyChecks(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	owner, stranger := r.register(t, true), r.register(t, true)
	own := mustCreate(t, owner, `{}`).id
	disabled := mustCreate(t, owner, `{"enabled":false}`).id
	foreign := mustCreate(t, stranger, `{}`).id
	none := uniqueID("none")
	big := strings.Repeat("a", 131073)
	emoji := strings.Repeat("😀", 65537) // 131,074 UTF-16 units in 262,148 bytes
	tests := []struct {
		body   string
		status int
		err    string
	}{
		{``, 400, "Invalid JSON body"},
		{`null`, 400, "Invalid JSON body"},
		{`[]`, 400, "Invalid JSON body"},
		{`"x"`, 400, "Invalid JSON body"},
		{`{`, 400, "Invalid JSON body"},
		{`{"channelId":"` + own + `","content":"x"}x`, 400, "Invalid JSON body"},
		{`{}`, 400, "Missing channelId or content"},
		{`{"channelId":"` + own + `"}`, 400, "Missing channelId or content"},
		{`{"content":"x"}`, 400, "Missing channelId or content"},
		{`{"channelId":"","content":"x"}`, 400, "Missing channelId or content"},
		{`{"channelId":null,"content":"x"}`, 400, "Missing channelId or content"},
		{`{"channelId":5,"content":"x"}`, 400, "Missing channelId or content"},
		{`{"channelId":["` + own + `"],"content":"x"}`, 400, "Missing channelId or content"},
		{`{"channelId":"` + own + `","content":""}`, 400, "Missing channelId or content"},
		{`{"channelId":"` + own + `","content":0}`, 400, "Missing channelId or content"},
		{`{"channelId":"` + own + `","content":false}`, 400, "Missing channelId or content"},
		{`{"channelId":"` + own + `","content":null}`, 400, "Missing channelId or content"},
		{`{"channelId":"` + none + `","content":5,"metadata":[]}`, 400, "Missing or invalid content"},
		{`{"channelId":"` + own + `","content":true}`, 400, "Missing or invalid content"},
		{`{"channelId":"` + own + `","content":{}}`, 400, "Missing or invalid content"},
		{`{"channelId":"` + own + `","content":["x"]}`, 400, "Missing or invalid content"},
		{`{"channelId":"` + none + `","content":"` + big + `","metadata":1}`, 400, "Content exceeds maximum size of 65536 bytes"},
		{`{"channelId":"` + own + `","content":"` + emoji + `"}`, 400, "Content exceeds maximum size of 65536 bytes"},
		{`{"channelId":"` + none + `","content":"x","metadata":[]}`, 400, "Invalid metadata"},
		{`{"channelId":"` + none + `","content":"x","metadata":"x"}`, 400, "Invalid metadata"},
		{`{"channelId":"` + own + `","content":"x","metadata":1}`, 400, "Invalid metadata"},
		{`{"channelId":"` + own + `","content":"x","metadata":true}`, 400, "Invalid metadata"},
		{`{"channelId":"` + none + `","content":"x"}`, 404, "Channel not found"},
		{`{"channelId":"` + foreign + `","content":"x","channelType":"webhook"}`, 404, "Channel not found"},
		{`{"channelId":"` + disabled + `","content":"x"}`, 403, "Channel is disabled"},
	}
	// The reply limit (30 a minute) counts refused requests too, so the
	// checks that do not need ownership run in another session.
	helper := r.register(t, true)
	for i, tt := range tests {
		c := owner
		if i < 20 {
			c = helper
		}
		a := replyRaw(t, c, tt.body)
		if a.status != tt.status {
			t.Errorf("%.80s: %d %.120s", tt.body, a.status, a.body)
			continue
		}
		expectError(t, a, tt.status, tt.err)
	}
	for _, id := range []string{own, disabled, foreign} {
		noResponses(t, r, id)
	}
}

func TestReplyIsStored(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	id := mustCreate(t, c, `{"direction":"bidirectional"}`).id
	slack := mustCreate(t, c, `{"type":"slack"}`).id
	tg := mustCreate(t, c, `{"type":"telegram"}`).id

	type want struct{ content, metadata string }
	var wants []want
	reply := func(body string, w want) string {
		t.Helper()
		rid := replied(t, replyRaw(t, c, body))
		wants = append(wants, w)
		return rid
	}
	first := reply(`{"channelId":"`+id+`","content":"<b>Done</b>\u0001 a < b &amp; c\u2028","channelType":"telegram","replyTo":"m-1","metadata":{"b":2,"a":{"n":1.50},"replyTo":"old"}}`,
		want{"Done a < b &amp; c\u2028", `{"b":2,"a":{"n":1.50},"replyTo":"m-1"}`})
	reply(`{"channelId":"`+id+`","content":"plain"}`, want{"plain", `{}`})
	reply(`{"channelId":"`+id+`","content":"x","replyTo":"m-2","metadata":null}`, want{"x", `{"replyTo":"m-2"}`})
	reply(`{"channelId":"`+id+`","content":"<b></b>","metadata":{"channelDirection":"bidirectional"}}`, want{"", `{"channelDirection":"bidirectional"}`})
	reply(`{"channelId":"`+id+`","content":"`+strings.Repeat("a", 131072)+`"}`, want{strings.Repeat("a", 65536), `{}`})
	reply(`{"channelId":"`+id+`","content":"`+strings.Repeat("a", 65535)+`😀"}`, want{strings.Repeat("a", 65535), `{}`})
	reply(`{"channelId":"`+id+`","content":"a\ud83d\ude00b`+"\xff"+`"}`, want{"a😀b\uFFFD", `{}`})

	p, a := responsesOf(t, r, id, "?limit=500")
	if len(p.Responses) != len(wants) || p.HasMore {
		t.Fatalf("%d responses, hasMore %v", len(p.Responses), p.HasMore)
	}
	var last string
	for i, raw := range p.Responses {
		got := parseResponse(t, raw)
		if got.ChannelType != "webhook" || got.ChannelID != id || got.Content != wants[i].content || string(got.Metadata) != wants[i].metadata {
			t.Errorf("response %d: %.80q %s, want %.80q %s", i, got.Content, got.Metadata, wants[i].content, wants[i].metadata)
		}
		if i == 0 && got.ID != first {
			t.Errorf("responseId %s, stored %s", first, got.ID)
		}
		if got.Timestamp <= last {
			t.Errorf("timestamps not increasing")
		}
		last = got.Timestamp
	}
	if p.Since != last {
		t.Errorf("since %s, want %s", p.Since, last)
	}
	if strings.Contains(a.body, c.UserID) || strings.Contains(a.body, "userId") {
		t.Errorf("responses reveal the owner: %.200s", a.body)
	}

	// The stored type decides, not the payload's channelType: slack and
	// telegram replies are accepted but are not public responses.
	replied(t, replyRaw(t, c, `{"channelId":"`+slack+`","content":"x","channelType":"webhook"}`))
	replied(t, replyRaw(t, c, `{"channelId":"`+tg+`","content":"x","channelType":"webhook"}`))
	for _, other := range []string{slack, tg} {
		expectError(t, send(t, http.MethodGet, r.URL+"/responses/"+other, nil, nil), http.StatusNotFound, "Channel not found")
	}
	// Replies are not inbound messages.
	noMessages(t, c)
}

func TestResponsesRoute(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	id := mustCreate(t, c, `{}`).id
	otherID := mustCreate(t, c, `{}`).id

	expect(t, send(t, http.MethodGet, r.URL+"/responses/"+id, nil, nil), http.StatusOK, `{"responses":[],"since":"1970-01-01T00:00:00.000Z","hasMore":false}`)
	var ids []string
	for i := range 5 {
		ids = append(ids, replied(t, replyRaw(t, c, fmt.Sprintf(`{"channelId":"%s","content":"r%d"}`, id, i))))
	}
	replied(t, replyRaw(t, c, `{"channelId":"`+otherID+`","content":"elsewhere"}`))

	// The page, byte for byte.
	p, a := responsesOf(t, r, id, "?limit=1")
	first := parseResponse(t, p.Responses[0])
	expect(t, a, http.StatusOK, fmt.Sprintf(`{"responses":[{"id":"%s","channelType":"webhook","channelId":"%s","from":"agent","content":"r0","timestamp":"%s","metadata":{}}],"since":"%s","hasMore":true}`,
		ids[0], id, first.Timestamp, first.Timestamp))

	// Paging with since and limit, as for messages.
	var got []string
	since := ""
	for i, wantMore := range []bool{true, true, false} {
		q := "?limit=2"
		if since != "" {
			q += "&since=" + url.QueryEscape(since)
		}
		p, _ := responsesOf(t, r, id, q)
		if p.HasMore != wantMore {
			t.Errorf("page %d hasMore %v", i, p.HasMore)
		}
		for _, raw := range p.Responses {
			got = append(got, parseResponse(t, raw).ID)
		}
		since = p.Since
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged %v, want %v", got, ids)
	}
	expect(t, send(t, http.MethodGet, r.URL+"/responses/"+id+"?since="+url.QueryEscape(since), nil, nil), http.StatusOK,
		`{"responses":[],"since":"`+since+`","hasMore":false}`)
	// An unencoded '+' in since reads as the offset sign.
	p, _ = responsesOf(t, r, id, "?since=2000-01-01T01:00:00+01:00&limit=1")
	if len(p.Responses) != 1 || !p.HasMore || parseResponse(t, p.Responses[0]).ID != ids[0] {
		t.Errorf("since with '+': %d responses", len(p.Responses))
	}
	for _, q := range []string{"since=abc", "since=2026-01-01", "since=2026-01-01T00:00:00"} {
		expectError(t, send(t, http.MethodGet, r.URL+"/responses/"+id+"?"+q, nil, nil), http.StatusBadRequest, "Invalid since parameter")
	}
	for _, q := range []string{"limit=0", "limit=-2", "limit=x", "limit=2.0"} {
		expectError(t, send(t, http.MethodGet, r.URL+"/responses/"+id+"?"+q, nil, nil), http.StatusBadRequest, "Invalid limit parameter")
	}

	// Only webhook channels are readable; disabled ones stay readable; a
	// credential is neither needed nor harmful.
	if a := patchChannel(t, c, id, `{"enabled":false}`); a.status != http.StatusOK {
		t.Fatal(a.body)
	}
	a = send(t, http.MethodGet, r.URL+"/responses/"+id, nil, map[string]string{"Authorization": "Bearer nonsense"})
	if a.status != http.StatusOK || strings.Count(a.body, `"from":"agent"`) != 5 {
		t.Errorf("disabled channel: %d %.100s", a.status, a.body)
	}
	for _, typ := range []string{"telegram", "discord", "email", "slack"} {
		other := mustCreate(t, c, `{"type":"`+typ+`"}`).id
		expectError(t, send(t, http.MethodGet, r.URL+"/responses/"+other, nil, nil), http.StatusNotFound, "Channel not found")
	}
	expectError(t, send(t, http.MethodGet, r.URL+"/responses/"+uniqueID("none"), nil, nil), http.StatusNotFound, "Channel not found")
}

func TestTyping(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, stranger := r.register(t, true), r.register(t, false)
	own := mustCreate(t, c, `{}`).id
	tg := mustCreate(t, c, `{"type":"telegram"}`).id
	disabled := mustCreate(t, c, `{"type":"discord","enabled":false}`).id
	foreign := mustCreate(t, stranger, `{"type":"telegram"}`).id
	for _, tt := range []struct {
		body   string
		status int
		err    string
	}{
		{``, 400, "Invalid JSON body"},
		{`null`, 400, "Invalid JSON body"},
		{`[]`, 400, "Invalid JSON body"},
		{`"x"`, 400, "Invalid JSON body"},
		{`{`, 400, "Invalid JSON body"},
		{`{}`, 400, "Missing channelId"},
		{`{"channelType":"telegram"}`, 400, "Missing channelId"},
		{`{"channelId":5}`, 400, "Missing channelId"},
		{`{"channelId":null}`, 400, "Missing channelId"},
		{`{"channelId":["` + own + `"]}`, 400, "Missing channelId"},
		{`{"channelId":"` + foreign + `","channelType":"telegram"}`, 404, "Channel not found"},
		{`{"channelId":"` + uniqueID("none") + `"}`, 404, "Channel not found"},
	} {
		a := signedSend(t, c, http.MethodPost, "/typing", []byte(tt.body))
		if a.status != tt.status {
			t.Errorf("%s: %d %s", tt.body, a.status, a.body)
			continue
		}
		expectError(t, a, tt.status, tt.err)
	}
	for _, id := range []string{own, tg, disabled} {
		expect(t, signedSend(t, c, http.MethodPost, "/typing", []byte(`{"channelId":"`+id+`","channelType":"telegram"}`)), http.StatusOK, `{"ok":true}`)
	}
	// Typing stores nothing.
	noMessages(t, c)
	noResponses(t, r, own)
}

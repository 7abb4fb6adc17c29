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

// createChannel sends POST /channels with a raw body through c's signer.
func createChannel(t *testing.T, c *client.Client, body string) answer {
	t.Helper()
	return signedSend(t, c, http.MethodPost, "/channels", []byte(body))
}

// created is a 201 answer of POST /channels, with the channel kept raw.
type created struct {
	Channel    json.RawMessage `json:"channel"`
	WebhookURL *string         `json:"webhookUrl"`
	id, secret string
}

func mustCreate(t *testing.T, c *client.Client, body string) created {
	t.Helper()
	a := createChannel(t, c, body)
	checkCommon(t, a)
	if a.status != http.StatusCreated {
		t.Fatalf("create %s: %d %s", body, a.status, a.body)
	}
	if got := members(t, a.body); !slices.Equal(got, []string{"channel", "webhookUrl"}) && !slices.Equal(got, []string{"channel"}) {
		t.Errorf("create members %v", got)
	}
	var cr created
	decode(t, a, &cr)
	var ch struct {
		ID       string
		Metadata map[string]any
	}
	if err := json.Unmarshal(cr.Channel, &ch); err != nil {
		t.Fatal(err)
	}
	cr.id = ch.ID
	cr.secret, _ = ch.Metadata["webhookSecret"].(string)
	return cr
}

// channelList returns c's channels as sent, in order.
func channelList(t *testing.T, c *client.Client) []json.RawMessage {
	t.Helper()
	a := signedSend(t, c, http.MethodGet, "/channels", nil)
	checkCommon(t, a)
	if a.status != http.StatusOK {
		t.Fatalf("list: %d %s", a.status, a.body)
	}
	var out struct {
		Channels []json.RawMessage `json:"channels"`
	}
	decode(t, a, &out)
	if out.Channels == nil {
		t.Fatalf("list without a channels array: %s", a.body)
	}
	return out.Channels
}

func noChannels(t *testing.T, c *client.Client) {
	t.Helper()
	if list := channelList(t, c); len(list) != 0 {
		t.Fatalf("%d channels stored, want none: %s", len(list), list)
	}
}

func patchChannel(t *testing.T, c *client.Client, id, body string) answer {
	t.Helper()
	return signedSend(t, c, http.MethodPatch, "/channels/"+id, []byte(body))
}

func TestCreateChannelDefaults(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)

	cr := mustCreate(t, c, `{}`)
	if !uuidV4.MatchString(cr.id) || !uuidV4.MatchString(cr.secret) {
		t.Errorf("generated id %q and secret %q, want UUIDv4", cr.id, cr.secret)
	}
	want := `{"id":"` + cr.id + `","type":"webhook","direction":"inbound","agentId":"","enabled":true,"metadata":{"webhookSecret":"` + cr.secret + `"}}`
	if string(cr.Channel) != want {
		t.Errorf("channel\n got %s\nwant %s", cr.Channel, want)
	}
	if cr.WebhookURL == nil || *cr.WebhookURL != r.URL+"/webhook/"+cr.id+"?token="+cr.secret {
		t.Errorf("webhookUrl %v", cr.WebhookURL)
	}
	expect(t, signedSend(t, c, http.MethodGet, "/channels", nil), http.StatusOK, `{"channels":[`+want+`]}`)

	// Other types: bidirectional, no webhookUrl; a secret for the inbound
	// routes of telegram and discord, none for email and slack.
	for _, typ := range []string{"telegram", "discord", "email", "slack"} {
		cr := mustCreate(t, c, `{"type":"`+typ+`"}`)
		meta := `{}`
		if typ == "telegram" || typ == "discord" {
			if !uuidV4.MatchString(cr.secret) {
				t.Errorf("%s secret %q", typ, cr.secret)
			}
			meta = `{"webhookSecret":"` + cr.secret + `"}`
		}
		want := `{"id":"` + cr.id + `","type":"` + typ + `","direction":"bidirectional","agentId":"","enabled":true,"metadata":` + meta + `}`
		if string(cr.Channel) != want || cr.WebhookURL != nil {
			t.Errorf("%s: %s %v\nwant %s", typ, cr.Channel, cr.WebhookURL, want)
		}
	}
	if n := len(channelList(t, c)); n != 5 {
		t.Errorf("%d channels, want 5", n)
	}
}

func TestCreateChannelFields(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	id := uniqueID("Full_set")
	// Caller metadata is stored verbatim (member order, number literals); a
	// given secret is kept and query-escaped in webhookUrl; <, > and & are
	// not HTML-escaped.
	cr := mustCreate(t, c, `{"id":"`+id+`","type":"webhook","direction":"bidirectional","agentId":"agent-1","enabled":false,`+
		`"name":"Git<Hub> & co","prompt":"Summarise.","metadata":{"b":1,"webhookSecret":"s e/c?r&t+","a":{"n":1.50,"z":[]}},"unknown":true}`)
	want := `{"id":"` + id + `","type":"webhook","direction":"bidirectional","agentId":"agent-1","enabled":false,` +
		`"metadata":{"b":1,"webhookSecret":"s e/c?r&t+","a":{"n":1.50,"z":[]}},"name":"Git<Hub> & co","prompt":"Summarise."}`
	if string(cr.Channel) != want {
		t.Errorf("channel\n got %s\nwant %s", cr.Channel, want)
	}
	if cr.WebhookURL == nil || *cr.WebhookURL != r.URL+"/webhook/"+id+"?token="+url.QueryEscape("s e/c?r&t+") {
		t.Errorf("webhookUrl %v", cr.WebhookURL)
	}
	u, err := url.Parse(*cr.WebhookURL)
	if err != nil || u.Query().Get("token") != "s e/c?r&t+" {
		t.Errorf("webhookUrl token does not decode to the secret: %v", err)
	}

	// enabled is false only for exactly false; name and prompt that are not
	// strings are ignored, and "" means unset; an empty webhookSecret is
	// replaced by a generated one.
	for body, wantEnabled := range map[string]bool{
		`{"enabled":"false","name":5,"prompt":"","metadata":{"webhookSecret":""}}`: true,
		`{"enabled":0,"name":"","prompt":{},"metadata":{"webhookSecret":null}}`:    true,
		`{"enabled":null,"name":null,"prompt":[]}`:                                 true,
		`{"enabled":false}`: false,
	} {
		cr := mustCreate(t, c, body)
		want := fmt.Sprintf(`{"id":"%s","type":"webhook","direction":"inbound","agentId":"","enabled":%t,"metadata":{"webhookSecret":"%s"}}`, cr.id, wantEnabled, cr.secret)
		if !uuidV4.MatchString(cr.secret) || string(cr.Channel) != want {
			t.Errorf("%s: %s", body, cr.Channel)
		}
	}

	// Boundaries that pass: 64-character id, 256-unit name (emoji count
	// two units), 16,384-unit prompt, 256-unit agentId and secret.
	id64 := (uniqueID("L") + strings.Repeat("x", 64))[:64]
	long := mustCreate(t, c, `{"id":"`+id64+`","name":"`+strings.Repeat("😀", 128)+
		`","prompt":"`+strings.Repeat("p", 16384)+`","agentId":"`+strings.Repeat("a", 256)+`","metadata":{"webhookSecret":"`+strings.Repeat("s", 256)+`"}}`)
	if long.id != id64 || long.secret != strings.Repeat("s", 256) {
		t.Errorf("long id %q, secret %q", long.id, long.secret)
	}
}

func TestCreateChannelValidation(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct{ body, err string }{
		{``, "Invalid JSON body"},
		{`null`, "Invalid JSON body"},
		{`[]`, "Invalid JSON body"},
		{`"x"`, "Invalid JSON body"},
		{`42`, "Invalid JSON body"},
		{`{`, "Invalid JSON body"},
		{`{"type":"webhook"}x`, "Invalid JSON body"},
		{`{"type":"webhook"} {}`, "Invalid JSON body"},
		{`{"type":"sms"}`, "Invalid channel type"},
		{`{"type":"Webhook"}`, "Invalid channel type"},
		{`{"type":5}`, "Invalid channel type"},
		{`{"type":true}`, "Invalid channel type"},
		{`{"direction":"outbound"}`, "Invalid direction"},
		{`{"direction":"Inbound"}`, "Invalid direction"},
		{`{"direction":1}`, "Invalid direction"},
		{`{"id":"a b"}`, "Invalid channel id"},
		{`{"id":"a/b"}`, "Invalid channel id"},
		{`{"id":"a.b"}`, "Invalid channel id"},
		{`{"id":"café"}`, "Invalid channel id"},
		{`{"id":"` + long(65) + `"}`, "Invalid channel id"},
		{`{"id":5}`, "Invalid channel id"},
		{`{"name":"` + long(257) + `"}`, "Invalid name"},
		{`{"name":"` + strings.Repeat("😀", 129) + `"}`, "Invalid name"},
		{`{"prompt":"` + long(16385) + `"}`, "Invalid prompt"},
		{`{"agentId":"` + long(257) + `"}`, "Invalid agentId"},
		{`{"agentId":5}`, "Invalid agentId"},
		{`{"agentId":true}`, "Invalid agentId"},
		{`{"metadata":[]}`, "Invalid metadata"},
		{`{"metadata":"x"}`, "Invalid metadata"},
		{`{"metadata":1}`, "Invalid metadata"},
		{`{"metadata":true}`, "Invalid metadata"},
		{`{"metadata":{"webhookSecret":5}}`, "Invalid metadata"},
		{`{"metadata":{"webhookSecret":true}}`, "Invalid metadata"},
		{`{"metadata":{"webhookSecret":{}}}`, "Invalid metadata"},
		{`{"metadata":{"webhookSecret":"` + long(257) + `"}}`, "Invalid metadata"},
		{`{"metadata":{"allowedUsers":"x"}}`, "Invalid metadata"},
		{`{"metadata":{"allowedUsers":{"a":1}}}`, "Invalid metadata"},
		{`{"metadata":{"allowedUsers":[null]}}`, "Invalid allowedUsers"},
		{`{"metadata":{"allowedUsers":["a",{}]}}`, "Invalid allowedUsers"},
		{`{"metadata":{"allowedUsers":[[1]]}}`, "Invalid allowedUsers"},
		{`{"type":"email","metadata":{"allowedSenders":[null]}}`, "Invalid allowedSenders"},
		{`{"type":"slack","metadata":{"k":"` + long(16377) + `"}}`, "Metadata too large"},
	}
	for _, k := range []string{"botToken", "botTokenPlain", "verificationToken", "userEmail", "inboundAddress", "fromAddress", "verified"} {
		tests = append(tests, struct{ body, err string }{`{"type":"telegram","metadata":{"a":1,"` + k + `":"x"}}`, "Reserved metadata key: " + k})
	}
	for _, tt := range tests {
		a := createChannel(t, c, tt.body)
		if a.status != http.StatusBadRequest {
			t.Errorf("%.80s: %d %.200s", tt.body, a.status, a.body)
			continue
		}
		expectError(t, a, http.StatusBadRequest, tt.err)
	}
	noChannels(t, c)

	// Metadata is measured as compact JSON: exactly 16,384 bytes passes, even
	// when sent with whitespace.
	cr := mustCreate(t, c, `{"type":"slack","metadata": { "k" : "`+long(16376)+`" } }`)
	if want := `{"k":"` + long(16376) + `"}`; !strings.HasSuffix(string(cr.Channel), `"metadata":`+want+`}`) || len(want) != 16384 {
		t.Errorf("metadata stored as %.100s…", cr.Channel)
	}
}

func TestCreateChannelListNormalisation(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	cr := mustCreate(t, c, `{"type":"telegram","metadata":{"allowedUsers":[1,true,"a","a",false,12345678901234567890,"1"],"pairingCode":"ABCD1234"}}`)
	var ch struct {
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(cr.Channel, &ch); err != nil {
		t.Fatal(err)
	}
	if got := string(ch.Metadata["allowedUsers"]); got != `["1","true","a","false","12345678901234567890"]` {
		t.Errorf("allowedUsers %s", got)
	}
	if got := string(ch.Metadata["pairingCode"]); got != `"ABCD1234"` {
		t.Errorf("pre-seeded pairingCode %s", got)
	}
	cr = mustCreate(t, c, `{"type":"email","metadata":{"allowedSenders":["a@example.com",2,"a@example.com"]}}`)
	if !strings.Contains(string(cr.Channel), `"metadata":{"allowedSenders":["a@example.com","2"]}`) {
		t.Errorf("allowedSenders: %s", cr.Channel)
	}
}

// Channel ids are unique across all users (PROTOCOL §3.4).
func TestChannelIDIsGloballyUnique(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	a, b := r.register(t, true), r.register(t, false)
	id := uniqueID("dup")
	mustCreate(t, a, `{"id":"`+id+`"}`)
	expectError(t, createChannel(t, a, `{"id":"`+id+`","type":"slack"}`), http.StatusConflict, "Channel id already exists")
	expectError(t, createChannel(t, b, `{"id":"`+id+`"}`), http.StatusConflict, "Channel id already exists")
	if n := len(channelList(t, a)); n != 1 {
		t.Errorf("owner has %d channels", n)
	}
	noChannels(t, b)
}

func TestPatchChannel(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, true), r.register(t, true)
	cr := mustCreate(t, c, `{"name":"GitHub","prompt":"P","agentId":"agent-1","metadata":{"k":"v","allowedUsers":["u"]}}`)
	id, secret := cr.id, cr.secret
	chJSON := func(agent string, enabled bool, meta, tail string) string {
		return fmt.Sprintf(`{"id":"%s","type":"webhook","direction":"inbound","agentId":"%s","enabled":%t,"metadata":%s%s}`, id, agent, enabled, meta, tail)
	}
	meta := `{"k":"v","allowedUsers":["u"],"webhookSecret":"` + secret + `"}`
	current := chJSON("agent-1", true, meta, `,"name":"GitHub","prompt":"P"`)
	if string(cr.Channel) != current {
		t.Fatalf("created %s\nwant %s", cr.Channel, current)
	}
	ok := func(body, want string) {
		t.Helper()
		expect(t, patchChannel(t, c, id, body), http.StatusOK, `{"ok":true,"channel":`+want+`}`)
		if list := channelList(t, c); len(list) != 1 || string(list[0]) != want {
			t.Fatalf("after PATCH %s the list holds %s", body, list)
		}
	}
	// No-ops: empty body, {}, and fields that are not patchable or not of the
	// applicable type.
	ok(``, current)
	ok(`{}`, current)
	ok(`  `, current)
	ok(`{"type":"slack","direction":"bidirectional","id":"other","name":5,"prompt":true,"agentId":7,"enabled":"false",`+
		`"metadata":{"k":"changed","webhookSecret":"new","allowedUsers":"x","allowedSenders":{}}}`, current)
	ok(`{"metadata":[1]}`, current)
	ok(`{"name":null,"prompt":null,"enabled":null,"metadata":null}`, current)
	ok(`{"metadata":{"allowedUsers":null,"allowedSenders":null}}`, current)

	for _, tt := range []struct{ body, err string }{
		{`null`, "Invalid JSON body"},
		{`[]`, "Invalid JSON body"},
		{`"x"`, "Invalid JSON body"},
		{`1`, "Invalid JSON body"},
		{`{`, "Invalid JSON body"},
		{`{"name":"x"}}`, "Invalid JSON body"},
		{`{"name":"changed","prompt":"` + strings.Repeat("p", 16385) + `"}`, "Invalid prompt"},
		{`{"name":"` + strings.Repeat("n", 257) + `"}`, "Invalid name"},
		{`{"name":"changed","agentId":"` + strings.Repeat("a", 257) + `"}`, "Invalid agentId"},
		{`{"name":"changed","metadata":{"allowedUsers":["a",null]}}`, "Invalid allowedUsers"},
		{`{"name":"changed","metadata":{"allowedUsers":[{}]}}`, "Invalid allowedUsers"},
		{`{"name":"changed","metadata":{"allowedSenders":[["a"]]}}`, "Invalid allowedSenders"},
	} {
		expectError(t, patchChannel(t, c, id, tt.body), http.StatusBadRequest, tt.err)
		// A refused PATCH changes nothing.
		if list := channelList(t, c); len(list) != 1 || string(list[0]) != current {
			t.Fatalf("after refused PATCH %.60s: %s", tt.body, list)
		}
	}

	ok(`{"name":"","prompt":""}`, chJSON("agent-1", true, meta, ""))
	ok(`{"name":"N","agentId":null}`, chJSON("", true, meta, `,"name":"N"`))
	ok(`{"agentId":"a2","prompt":"Q","enabled":false}`, chJSON("a2", false, meta, `,"name":"N","prompt":"Q"`))
	ok(`{"agentId":"","enabled":true}`, chJSON("", true, meta, `,"name":"N","prompt":"Q"`))
	meta = `{"k":"v","allowedUsers":["1","true","a"],"webhookSecret":"` + secret + `"}`
	ok(`{"metadata":{"allowedUsers":[1,true,"a","a"]}}`, chJSON("", true, meta, `,"name":"N","prompt":"Q"`))
	meta = `{"k":"v","allowedUsers":[],"webhookSecret":"` + secret + `","allowedSenders":["x@example.com"]}`
	ok(`{"metadata":{"allowedUsers":[],"allowedSenders":["x@example.com","x@example.com"]}}`, chJSON("", true, meta, `,"name":"N","prompt":"Q"`))
	current = chJSON("", true, meta, `,"name":"N","prompt":"Q"`)

	// Another user's channel, or none, is not found; nothing changes.
	expectError(t, patchChannel(t, other, id, `{"name":"stolen"}`), http.StatusNotFound, "Channel not found")
	expectError(t, patchChannel(t, c, uniqueID("none"), `{"name":"x"}`), http.StatusNotFound, "Channel not found")
	if list := channelList(t, c); len(list) != 1 || string(list[0]) != current {
		t.Fatalf("after a foreign PATCH: %s", list)
	}
}

// PATCH keeps the channel's place in the list (PROTOCOL §3.1, §12 #17).
func TestChannelListOrderIsStable(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	var ids []string
	for _, typ := range []string{"webhook", "slack", "telegram", "email"} {
		ids = append(ids, mustCreate(t, c, `{"type":"`+typ+`"}`).id)
	}
	order := func() []string {
		var got []string
		for _, raw := range channelList(t, c) {
			var ch struct{ ID string }
			if err := json.Unmarshal(raw, &ch); err != nil {
				t.Fatal(err)
			}
			got = append(got, ch.ID)
		}
		return got
	}
	for _, id := range []string{ids[0], ids[2], ids[0]} {
		if a := patchChannel(t, c, id, `{"name":"renamed","enabled":false}`); a.status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", a.status, a.body)
		}
	}
	if got := order(); !slices.Equal(got, ids) {
		t.Errorf("order after PATCH %v, want %v", got, ids)
	}
}

func TestDeleteChannel(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, true), r.register(t, false)
	keep := mustCreate(t, c, `{"type":"slack"}`)
	cr := mustCreate(t, c, `{}`)

	expectError(t, signedSend(t, other, http.MethodDelete, "/channels/"+cr.id, nil), http.StatusNotFound, "Channel not found")
	expectError(t, signedSend(t, c, http.MethodDelete, "/channels/"+uniqueID("none"), nil), http.StatusNotFound, "Channel not found")
	if n := len(channelList(t, c)); n != 2 {
		t.Fatalf("refused deletes removed something: %d channels", n)
	}

	expect(t, signedSend(t, c, http.MethodDelete, "/channels/"+cr.id, nil), http.StatusOK, `{"ok":true}`)
	expectError(t, signedSend(t, c, http.MethodDelete, "/channels/"+cr.id, nil), http.StatusNotFound, "Channel not found")
	expectError(t, patchChannel(t, c, cr.id, `{"name":"x"}`), http.StatusNotFound, "Channel not found")
	expectError(t, hook(t, *cr.WebhookURL, "text/plain", []byte("hi"), nil), http.StatusNotFound, "Unknown channel")
	expectError(t, send(t, http.MethodGet, r.URL+"/responses/"+cr.id, nil, nil), http.StatusNotFound, "Channel not found")
	expectError(t, signedSend(t, c, http.MethodPost, "/reply", []byte(`{"channelId":"`+cr.id+`","content":"x"}`)), http.StatusNotFound, "Channel not found")
	list := channelList(t, c)
	if len(list) != 1 || string(list[0]) != string(keep.Channel) {
		t.Fatalf("after delete: %s", list)
	}
	noMessages(t, c)
}

// A deleted channel's id is released once its responses are purged; until
// then creating it again is a conflict (PROTOCOL §3.6).
func TestDeletedChannelIDIsReleased(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, true), r.register(t, true)
	id := uniqueID("reuse")
	mustCreate(t, c, `{"id":"`+id+`"}`)
	for i := range 3 {
		if _, err := c.Reply(bg, client.Reply{ChannelID: id, Content: fmt.Sprint("reply ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, signedSend(t, c, http.MethodDelete, "/channels/"+id, nil), http.StatusOK, `{"ok":true}`)
	var reused created
	waitFor(t, "the id to be released", func() bool {
		a := createChannel(t, other, `{"id":"`+id+`"}`)
		switch a.status {
		case http.StatusConflict:
			expectError(t, a, http.StatusConflict, "Channel id already exists")
			return false
		case http.StatusCreated:
			decode(t, a, &reused)
			return true
		}
		t.Fatalf("re-create: %d %s", a.status, a.body)
		return false
	})
	// The new channel starts with no responses.
	page, err := client.Responses(bg, nil, r.URL, id, "", 0)
	if err != nil || len(page.Responses) != 0 {
		t.Fatalf("responses of the new channel: %v %v", page, err)
	}
}

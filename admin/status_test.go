package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

const (
	userA = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	userB = "16fd2706-8baf-433b-82eb-8c7fada847da"
	tgID  = "3b241101-e2bb-4255-8caf-4136c566a962"
)

// seedOverview stores two sessions: A (signed, four channels of every kind,
// a message and a pending reply) and B (newer, nothing else).
func seedOverview(t *testing.T, v *env) (storage.Message, storage.Response) {
	t.Helper()
	addUser(t, v.store, userA, t0.Add(-2*time.Hour), &storage.PublicKey{X: "x", Y: "y"})
	addUser(t, v.store, userB, t0.Add(-time.Hour), nil)
	addChannel(t, v.store, storage.Channel{ID: tgID, UserID: userA, Type: storage.TypeTelegram, Enabled: true,
		Metadata: json.RawMessage(`{"webhookSecret":"s","botUsername":"relay_bot","allowedUsers":["200","201"]}`)},
		map[string][]byte{"botToken": []byte("123:abc")})
	addChannel(t, v.store, storage.Channel{ID: "dc-1", UserID: userA, Type: storage.TypeDiscord, AgentID: "agent-2",
		Metadata: json.RawMessage(`{"botUsername":"dbot","pairingCode":"ABCD1234"}`)}, nil)
	addChannel(t, v.store, storage.Channel{ID: "em-1", UserID: userA, Type: storage.TypeEmail, Enabled: true,
		Metadata: json.RawMessage(`{"userEmail":"o@x.example","inboundAddress":"slug-abc123defg@in.example","verified":true,"allowedSenders":["o@x.example"]}`)}, nil)
	addChannel(t, v.store, storage.Channel{ID: "wh-1", UserID: userA, Type: storage.TypeWebhook, Enabled: true, Name: "GitHub",
		Direction: storage.DirectionInbound, Metadata: json.RawMessage(`{"webhookSecret":"w"}`)}, nil)
	v.relay.ws[userA] = 2
	v.relay.gateways["dc-1"] = "connected"
	m := addMessage(t, v.store, userA, tgID, storage.TypeTelegram, "alice", strings.Repeat("é", 99)+"😀tail")
	v.clock.Add(time.Second)
	r := addResponse(t, v.store, userA, tgID, "Done.", storage.Delivery{Status: storage.StatusPending})
	return m, r
}

func TestStatusShape(t *testing.T) {
	v := newEnv(t)
	m, r := seedOverview(t, v)
	cookie := v.login(t)

	rec := v.as(cookie, "GET", "/admin/status", "")
	equal(t, "status", rec.Code, http.StatusOK)
	equal(t, "content type", rec.Header().Get("Content-Type"), "application/json")
	equal(t, "cache", rec.Header().Get("Cache-Control"), "no-store")
	want := `{"status":"ok","version":"1.0.0","kv":true,"storage":"bolt","queryMs":0,"websockets":2,"uptime":123,"sessionCount":2,` +
		`"deliveries":{"pending":1,"sent":0,"failed":0,"stored":0},` +
		`"sessions":[` +
		`{"userId":"` + userB + `","createdAt":"2026-11-23T09:00:00.000Z","signed":false,"wsConnections":0,"channels":[]},` +
		`{"userId":"` + userA + `","createdAt":"2026-11-23T08:00:00.000Z","signed":true,"wsConnections":2,"channels":[` +
		`{"id":"` + tgID + `","type":"telegram","agentId":"(default)","enabled":true,"botUsername":"relay_bot","allowedUsers":["200","201"],"hasPairingCode":false,"label":"@relay_bot","details":["2 users"]},` +
		`{"id":"dc-1","type":"discord","agentId":"agent-2","enabled":false,"botUsername":"dbot","hasPairingCode":true,"gateway":"connected","label":"@dbot","details":["awaiting pairing","gateway connected"]},` +
		`{"id":"em-1","type":"email","agentId":"(default)","enabled":true,"allowedSenders":["o@x.example"],"inboundAddress":"slug-abc123defg@in.example","verified":true,"hasPairingCode":false,"label":"slug-abc123defg@in.example","details":["verified","1 sender"]},` +
		`{"id":"wh-1","type":"webhook","agentId":"(default)","enabled":true,"hasPairingCode":false,"name":"GitHub"}]}],` +
		`"recentMessages":[` +
		`{"id":"` + r.ID + `","userId":"7c9e6679","channelType":"telegram","channelId":"3b241101","from":"agent","direction":"out","content":"Done.","timestamp":"2026-11-23T10:00:01.000Z","delivery":"pending",` +
		`"fullUserId":"` + userA + `","fullChannelId":"` + tgID + `"},` +
		`{"id":"` + m.ID + `","userId":"7c9e6679","channelType":"telegram","channelId":"3b241101","from":"alice","direction":"in","content":"` + strings.Repeat("é", 99) + `...","timestamp":"2026-11-23T10:00:00.000Z",` +
		`"fullUserId":"` + userA + `","fullChannelId":"` + tgID + `"}],"messagesLastHour":1}`
	equal(t, "body", rec.Body.String(), want)
}

func TestStatusGatewayWithoutState(t *testing.T) {
	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: "dc-2", UserID: userA, Type: storage.TypeDiscord, Enabled: true}, nil)
	var st statusJSON
	decode(t, v.as(v.login(t), "GET", "/admin/status", ""), &st)
	equal(t, "gateway", st.Sessions[0].Channels[0].Gateway, "disconnected")
	equal(t, "empty recent list", st.RecentMessages != nil && len(st.RecentMessages) == 0, true)
}

// TestStatusGatewayOff: a relay running with RELAY_DISCORD_GATEWAY=off
// reports "off" (channels/discord.StateOff), and the dashboard's badge reads
// "gateway off", not "disconnected".
func TestStatusGatewayOff(t *testing.T) {
	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: "dc-off", UserID: userA, Type: storage.TypeDiscord, Enabled: true}, nil)
	v.relay.gateways["dc-off"] = "off"
	cookie := v.login(t)
	var st statusJSON
	decode(t, v.as(cookie, "GET", "/admin/status", ""), &st)
	equal(t, "gateway", st.Sessions[0].Channels[0].Gateway, "off")
	body := v.as(cookie, "GET", "/admin", "").Body.String()
	contains(t, "badge", body, `<span class="badge-detail">gateway off</span>`)
	notContains(t, "badge", body, "gateway disconnected")
}

func TestStatusOffsets(t *testing.T) {
	v := newEnv(t)
	const n = statusSessions + 5
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // concurrent writes share group commits
	for i := range n {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			u := storage.User{ID: ids[i], CreatedAt: t0.Add(time.Duration(i) * time.Second)}
			if _, _, err := v.store.RegisterUser(ctx, u, []byte("hash-"+u.ID)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cookie := v.login(t)

	page := func(offset string) statusJSON {
		t.Helper()
		var st statusJSON
		decode(t, v.as(cookie, "GET", "/admin/status?offset="+offset, ""), &st)
		equal(t, "count", st.SessionCount, n)
		return st
	}
	first := page("")
	equal(t, "first page size", len(first.Sessions), statusSessions)
	equal(t, "newest first", first.Sessions[0].UserID, ids[n-1])
	equal(t, "200th", first.Sessions[statusSessions-1].UserID, ids[n-statusSessions])
	second := page("200")
	equal(t, "rest", len(second.Sessions), 5)
	equal(t, "oldest last", second.Sessions[4].UserID, ids[0])
	equal(t, "offset 3", page("3").Sessions[0].UserID, ids[n-4])
	for _, off := range []string{strconv.Itoa(n), "999999", "99999999999999999999999"} {
		st := page(off)
		equal(t, "sessions beyond "+off, len(st.Sessions), 0)
		contains(t, "empty list", v.as(cookie, "GET", "/admin/status?offset="+off, "").Body.String(), `"sessions":[]`)
	}
	for _, bad := range []string{"-1", "abc", "1.5", "+3", "0x10", "%20"} {
		wantError(t, v.as(cookie, "GET", "/admin/status?offset="+bad, ""), http.StatusBadRequest, "Invalid offset parameter")
	}
}

func TestStatusRecentKeepsNewest30(t *testing.T) {
	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: "wh", UserID: userA, Type: storage.TypeWebhook, Enabled: true}, nil)
	var last storage.Message
	for i := range 35 {
		last = addMessage(t, v.store, userA, "wh", storage.TypeWebhook, "src", "m"+strconv.Itoa(i))
	}
	var st statusJSON
	decode(t, v.as(v.login(t), "GET", "/admin/status", ""), &st)
	equal(t, "recent", len(st.RecentMessages), recentCount)
	equal(t, "newest first", st.RecentMessages[0].ID, last.ID)
	equal(t, "oldest kept", st.RecentMessages[29].Content, "m5")
}

func TestPreview(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"short", "hello", "hello"},
		{"exactly 100", strings.Repeat("a", 100), strings.Repeat("a", 100)},
		{"101", strings.Repeat("a", 101), strings.Repeat("a", 100) + "..."},
		{"pair fits", strings.Repeat("a", 98) + "😀", strings.Repeat("a", 98) + "😀"},
		{"pair not split", strings.Repeat("a", 99) + "😀", strings.Repeat("a", 99) + "..."},
		{"markup kept as text", "<b>x</b>", "<b>x</b>"},
	} {
		t.Run(tc.name, func(t *testing.T) { equal(t, "preview", preview(tc.in), tc.want) })
	}
}

// TestShortID: a shortened id keeps the part that differs. UUIDv7 ids of the
// same minute share their first 8 characters (the timestamp), so those
// alone would show the same text for every message of that minute.
func TestShortID(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"uuid", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "7c9e…c1f90ae7"},
		{"short caller-chosen id", "wh", "wh"},
		{"13 characters stay whole", "support-tg-01", "support-tg-01"},
		{"14 are cut", "support-tg-012", "supp…t-tg-012"},
		{"characters, not bytes", "ééééééééééééééé", "éééé…éééééééé"},
	} {
		t.Run(tc.name, func(t *testing.T) { equal(t, "short id", shortID(tc.in), tc.want) })
	}
	equal(t, "recentMessages ids keep PROTOCOL's 8 characters", first8("3b241101-e2bb"), "3b241101")
	equal(t, "first8 of a short id", first8("wh"), "wh")
	equal(t, "first8 counts characters", first8("ééééééééé"), "éééééééé")
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a, b := storage.NewTimeID(at), storage.NewTimeID(at.Add(30*time.Second))
	equal(t, "UUIDv7 of one minute share their start", a[:8], b[:8])
	if shortID(a) == shortID(b) {
		t.Fatalf("%s and %s both show as %s", a, b, shortID(a))
	}
	equal(t, "the last 8 are shown", strings.HasSuffix(shortID(a), a[len(a)-8:]), true)
}

// A session's MCP use: in the status JSON after the documented members, and
// a line on its dashboard card; absent when the session has none.
func TestStatusMCPUse(t *testing.T) {
	v := newEnv(t)
	seedOverview(t, v)
	v.relay.mu.Lock()
	v.relay.mcp = map[string][2]int{userA: {2, 5}}
	v.relay.mu.Unlock()
	cookie := v.login(t)
	body := v.as(cookie, "GET", "/admin/status", "").Body.String()
	contains(t, "status", body, `"channels":[]}`) // userB: no mcp member
	contains(t, "status", body, `"name":"GitHub"}],"mcp":{"sessions":2,"callsLastHour":5}}`)
	page := v.as(cookie, "GET", "/admin", "").Body.String()
	contains(t, "dashboard", page, `<div class="session-mcp muted">MCP: 2 sessions open · 5 calls in the last hour</div>`)
	if n := strings.Count(page, "session-mcp"); n != 1 {
		t.Errorf("%d MCP lines, want 1", n)
	}
}

// natsHealth is a store that says it is JetStream's.
type natsHealth struct{ storage.Store }

func (s natsHealth) Health() storage.Health {
	h := s.Store.Health()
	h.Engine = "nats"
	return h
}

// The status names the store's engine, as /health does, on the tile too.
func TestStatusStorageEngine(t *testing.T) {
	v := newEnv(t)
	cookie := v.login(t)
	v.h.store = natsHealth{v.store}
	var st statusJSON
	decode(t, v.as(cookie, "GET", "/admin/status", ""), &st)
	equal(t, "storage", st.Storage, "nats")
	contains(t, "tile", v.as(cookie, "GET", "/admin", "").Body.String(), `<span class="tile-value" id="t-storage">nats</span>`)
}

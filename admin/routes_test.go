package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

func TestSessionMessages(t *testing.T) {
	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addUser(t, v.store, userB, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: "tg", UserID: userA, Type: storage.TypeTelegram, Enabled: true}, nil)
	addChannel(t, v.store, storage.Channel{ID: "other", UserID: userB, Type: storage.TypeWebhook, Enabled: true}, nil)
	// 120 items, alternating messages and responses, one millisecond apart.
	var ids []string
	for i := range 60 {
		m := addMessage(t, v.store, userA, "tg", storage.TypeTelegram, "alice", "in "+strconv.Itoa(i))
		v.clock.Add(time.Millisecond)
		r := addResponse(t, v.store, userA, "tg", "out "+strconv.Itoa(i),
			storage.Delivery{Status: storage.StatusFailed, Attempts: 3, LastError: "Forbidden: bot was blocked"})
		v.clock.Add(time.Millisecond)
		ids = append(ids, m.ID, r.ID)
	}
	addMessage(t, v.store, userB, "other", storage.TypeWebhook, "x", "not A's")
	token := v.login(t)

	get := func(query string) itemsJSON {
		t.Helper()
		var out itemsJSON
		decode(t, v.as(token, "GET", "/admin/sessions/"+userA+"/messages"+query, ""), &out)
		return out
	}
	page := get("")
	equal(t, "default limit", len(page.Messages), 50)
	equal(t, "newest first", page.Messages[0].ID, ids[119])
	equal(t, "cursor is the last timestamp", page.Cursor, page.Messages[49].Timestamp)
	first := page.Messages[0]
	equal(t, "direction", first.Direction, "out")
	equal(t, "from", first.From, "agent")
	equal(t, "full user id", first.UserID, userA)
	equal(t, "delivery", *first.Delivery, itemDelivery{Status: "failed", Attempts: 3, LastError: "Forbidden: bot was blocked"})
	equal(t, "inbound", page.Messages[1].Direction, "in")
	equal(t, "inbound has no delivery", page.Messages[1].Delivery == nil, true)

	// Walk the rest with the cursor: no item twice, none missing.
	seen := map[string]bool{}
	for _, m := range page.Messages {
		seen[m.ID] = true
	}
	for page.Cursor != "" {
		page = get("?limit=50&cursor=" + url.QueryEscape(page.Cursor))
		for _, m := range page.Messages {
			if seen[m.ID] {
				t.Fatalf("item %s twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
	equal(t, "all items", len(seen), 120)
	equal(t, "last page is partial", len(page.Messages), 20)

	equal(t, "limit", len(get("?limit=7").Messages), 7)
	equal(t, "limit 0 is the default", len(get("?limit=0").Messages), 50)
	equal(t, "limit capped", len(get("?limit=500").Messages), 120)
	equal(t, "limit way beyond an int", len(get("?limit=99999999999999999999").Messages), 120)
	full := get("?limit=120")
	equal(t, "full page has a cursor", full.Cursor != "", true)
	tail := get("?cursor=" + url.QueryEscape(full.Cursor))
	equal(t, "nothing older", len(tail.Messages), 0)
	contains(t, "empty list", v.as(token, "GET", "/admin/sessions/"+userA+"/messages?cursor="+url.QueryEscape(full.Cursor), "").Body.String(), `{"messages":[]}`)
	// A cursor with an offset (space for an unencoded '+') and sub-millisecond digits.
	equal(t, "offset cursor", len(get("?cursor=2026-11-23T12:00:00.0001234%2B01:00").Messages), 50)
	equal(t, "space offset cursor", len(get("?cursor=2026-11-23T12:00:00+01:00").Messages), 50)

	for _, q := range []string{"?limit=-1", "?limit=abc", "?limit=1.5"} {
		wantError(t, v.as(token, "GET", "/admin/sessions/"+userA+"/messages"+q, ""), http.StatusBadRequest, "Invalid limit parameter")
	}
	for _, q := range []string{"?cursor=yesterday", "?cursor=2026-11-23"} {
		wantError(t, v.as(token, "GET", "/admin/sessions/"+userA+"/messages"+q, ""), http.StatusBadRequest, "Invalid cursor parameter")
	}
	wantError(t, v.as(token, "GET", "/admin/sessions/nobody/messages", ""), http.StatusNotFound, "Session not found")
}

func TestDeleteSession(t *testing.T) {
	v := newEnv(t)
	seedOverview(t, v)
	token := v.login(t)
	rec := v.as(token, "DELETE", "/admin/sessions/"+userA, "")
	equal(t, "status", rec.Code, http.StatusOK)
	equal(t, "body", rec.Body.String(), `{"ok":true,"deleted":"`+userA+`"}`)
	equal(t, "relay asked", strings.Join(v.relay.calls(&v.relay.deleted), ","), userA)
	_, err := v.store.User(ctx, userA)
	equal(t, "user gone", errors.Is(err, storage.ErrNotFound), true)
	_, err = v.store.Channel(ctx, tgID)
	equal(t, "channels gone", errors.Is(err, storage.ErrNotFound), true)

	wantError(t, v.as(token, "DELETE", "/admin/sessions/"+userA, ""), http.StatusNotFound, "Session not found")
	wantError(t, v.as(token, "GET", "/admin/sessions/"+userA+"/messages", ""), http.StatusNotFound, "Session not found")
	var st statusJSON
	decode(t, v.as(token, "GET", "/admin/status", ""), &st)
	equal(t, "one session left", st.SessionCount, 1)
	equal(t, "its pending delivery failed", st.Deliveries.Failed, 1)
}

func TestDeliveries(t *testing.T) {
	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: "tg", UserID: userA, Type: storage.TypeTelegram, Enabled: true}, nil)
	addChannel(t, v.store, storage.Channel{ID: "wh", UserID: userA, Type: storage.TypeWebhook, Enabled: true}, nil)
	statuses := []string{storage.StatusPending, storage.StatusFailed, storage.StatusSent, storage.StatusFailed, storage.StatusStored}
	var ids []string
	for i, s := range statuses {
		ch := "tg"
		if s == storage.StatusStored {
			ch = "wh"
		}
		d := storage.Delivery{Status: s, Target: "200", PartsTotal: 1}
		if s == storage.StatusFailed {
			d.Attempts, d.LastError = i, "boom "+strconv.Itoa(i)
		}
		ids = append(ids, addResponse(t, v.store, userA, ch, "r", d).ID)
		v.clock.Add(time.Second)
	}
	token := v.login(t)

	get := func(query string) deliveriesJSON {
		t.Helper()
		var out deliveriesJSON
		decode(t, v.as(token, "GET", "/admin/deliveries"+query, ""), &out)
		return out
	}
	all := get("")
	equal(t, "all", len(all.Deliveries), 5)
	equal(t, "newest first", all.Deliveries[0].ResponseID, ids[4])
	equal(t, "partial page has no cursor", all.Cursor, "")

	rec := v.as(token, "GET", "/admin/deliveries?status=failed", "")
	equal(t, "exact record", rec.Body.String(), `{"deliveries":[`+
		`{"responseId":"`+ids[3]+`","userId":"`+userA+`","channelId":"tg","channelType":"telegram","target":"200","status":"failed","attempts":3,"partsSent":0,"partsTotal":1,"lastError":"boom 3","createdAt":"2026-11-23T10:00:03.000Z","updatedAt":"2026-11-23T10:00:03.000Z"},`+
		`{"responseId":"`+ids[1]+`","userId":"`+userA+`","channelId":"tg","channelType":"telegram","target":"200","status":"failed","attempts":1,"partsSent":0,"partsTotal":1,"lastError":"boom 1","createdAt":"2026-11-23T10:00:01.000Z","updatedAt":"2026-11-23T10:00:01.000Z"}]}`)
	pending := get("?status=pending")
	equal(t, "pending", len(pending.Deliveries), 1)
	equal(t, "next attempt of a pending record", pending.Deliveries[0].NextAttemptAt, "2026-11-23T10:00:00.000Z")

	p1 := get("?limit=2")
	equal(t, "page", len(p1.Deliveries), 2)
	equal(t, "cursor", p1.Cursor, ids[3])
	p2 := get("?limit=2&cursor=" + p1.Cursor)
	equal(t, "next page", p2.Deliveries[0].ResponseID, ids[2])
	p3 := get("?limit=2&cursor=" + p2.Cursor)
	equal(t, "last page", len(p3.Deliveries), 1)
	equal(t, "oldest", p3.Deliveries[0].ResponseID, ids[0])

	wantError(t, v.as(token, "GET", "/admin/deliveries?status=lost", ""), http.StatusBadRequest, "Invalid status parameter")
	wantError(t, v.as(token, "GET", "/admin/deliveries?limit=x", ""), http.StatusBadRequest, "Invalid limit parameter")

	// Retry: failed → pending, through the relay.
	rec = v.as(token, "POST", "/admin/deliveries/"+ids[1]+"/retry", "")
	equal(t, "retry status", rec.Code, http.StatusOK)
	equal(t, "retry body", rec.Body.String(), `{"ok":true,"retried":"`+ids[1]+`"}`)
	d, err := v.store.Delivery(ctx, ids[1])
	must(t, err)
	equal(t, "pending again", d.Status, storage.StatusPending)
	equal(t, "relay asked", strings.Join(v.relay.calls(&v.relay.retried), ","), ids[1])
	wantError(t, v.as(token, "POST", "/admin/deliveries/"+ids[1]+"/retry", ""), http.StatusConflict, "Only failed deliveries can be retried")
	wantError(t, v.as(token, "POST", "/admin/deliveries/"+ids[2]+"/retry", ""), http.StatusConflict, "Only failed deliveries can be retried")
	wantError(t, v.as(token, "POST", "/admin/deliveries/"+storage.NewID()+"/retry", ""), http.StatusNotFound, "Delivery not found")
	equal(t, "only one retry reached the relay", len(v.relay.calls(&v.relay.retried)), 1)
}

// TestDeliveryParts: a delivery with no part accepted yet (the outbox
// records partsTotal with the first accepted one) shows "—" for its parts,
// not "0/0"; the JSON keeps the numbers.
func TestDeliveryParts(t *testing.T) {
	for _, tc := range []struct {
		sent, total int
		want        string
	}{{0, 0, "—"}, {0, 1, "0/1"}, {1, 3, "1/3"}, {2, 2, "2/2"}} {
		equal(t, "parts "+strconv.Itoa(tc.sent)+"/"+strconv.Itoa(tc.total), partsLabel(tc.sent, tc.total), tc.want)
	}

	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: "tg", UserID: userA, Type: storage.TypeTelegram, Enabled: true}, nil)
	never := addResponse(t, v.store, userA, "tg", "r", storage.Delivery{Status: storage.StatusFailed, Attempts: 1,
		LastError: "no sender for channel type telegram"})
	v.clock.Add(time.Second)
	half := addResponse(t, v.store, userA, "tg", "r", storage.Delivery{Status: storage.StatusFailed, Attempts: 5,
		PartsSent: 1, PartsTotal: 2, LastError: "Forbidden"})
	token := v.login(t)

	body := v.as(token, "GET", "/admin", "").Body.String()
	contains(t, "never started", body, `<tr data-id="`+never.ID+`">`)
	row := func(id string) string {
		t.Helper()
		_, after, ok := strings.Cut(body, `<tr data-id="`+id+`">`)
		if !ok {
			t.Fatalf("no row for %s in %s", id, body)
		}
		tr, _, _ := strings.Cut(after, "</tr>")
		return tr
	}
	contains(t, "never started", row(never.ID), `<td class="num parts">—</td>`)
	notContains(t, "never started", row(never.ID), "0/0")
	contains(t, "half sent", row(half.ID), `<td class="num parts">1/2</td>`)
	contains(t, "JSON keeps the numbers", v.as(token, "GET", "/admin/deliveries", "").Body.String(),
		`"status":"failed","attempts":1,"partsSent":0,"partsTotal":0,`)
}

func TestKV(t *testing.T) {
	v := newEnv(t)
	seedOverview(t, v)
	token := v.login(t)

	var pre prefixesJSON
	decode(t, v.as(token, "GET", "/admin/kv/prefixes", ""), &pre)
	counts := map[string]int{}
	for _, p := range pre.Prefixes {
		counts[p.Prefix] = p.Count
	}
	equal(t, "users", counts["users"], 2)
	equal(t, "channels", counts["channels"], 4)
	equal(t, "admin sessions", counts["admin_sessions"], 1)
	contains(t, "shape", v.as(token, "GET", "/admin/kv/prefixes", "").Body.String(), `{"prefixes":[{"prefix":"`)

	rec := v.as(token, "GET", "/admin/kv?prefix=users&limit=1", "")
	equal(t, "status", rec.Code, http.StatusOK)
	var kv struct {
		Prefix  []string `json:"prefix"`
		Entries []struct {
			Key   []string        `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"entries"`
		Count int   `json:"count"`
		Ms    int64 `json:"ms"`
	}
	decode(t, rec, &kv)
	equal(t, "prefix", strings.Join(kv.Prefix, ","), "users")
	equal(t, "limit", kv.Count, 1)
	equal(t, "entries", len(kv.Entries), 1)
	equal(t, "key", kv.Entries[0].Key[0], userB) // keys in byte order: 16fd… < 7c9e…
	contains(t, "value is the record", string(kv.Entries[0].Value), `"id":"`+userB+`"`)
	contains(t, "member order", rec.Body.String(), `{"prefix":["users"],"entries":[{"key":["`+userB+`"],"value":{`)

	// Sealed values are never opened: the bot token, the channels' secret
	// metadata members, the admin session.
	for _, prefix := range []string{"secrets", "admin_sessions"} {
		rec = v.as(token, "GET", "/admin/kv?prefix="+prefix, "")
		decode(t, rec, &kv)
		if kv.Count == 0 {
			t.Fatalf("%s: no entries", prefix)
		}
		for _, e := range kv.Entries {
			equal(t, prefix+" sealed", string(e.Value), `{"sealed":true}`)
		}
		notContains(t, prefix, rec.Body.String(), "123:abc")
	}
	rec = v.as(token, "GET", "/admin/kv?prefix=secrets,"+tgID, "")
	decode(t, rec, &kv)
	keys := []string{}
	for _, e := range kv.Entries {
		keys = append(keys, strings.Join(e.Key, "|"))
	}
	equal(t, "key segments", strings.Join(keys, " "), tgID+"|botToken "+tgID+"|meta:webhookSecret")
	equal(t, "path", strings.Join(kv.Prefix, "|"), "secrets|"+tgID)
	decode(t, v.as(token, "GET", "/admin/kv?prefix=secrets,nothing", ""), &kv)
	equal(t, "no match", kv.Count, 0)

	// Messages: composite keys with a binary time part are shown in hex.
	decode(t, v.as(token, "GET", "/admin/kv?prefix=message_log", ""), &kv)
	equal(t, "message key", len(kv.Entries[0].Key), 2)
	equal(t, "hex time", len(kv.Entries[0].Key[0]), 16)
	if u := kv.Entries[0].Key[1]; u != userA && u != userB {
		t.Fatalf("user segment = %q, want a seeded user", u)
	}

	wantError(t, v.as(token, "GET", "/admin/kv", ""), http.StatusBadRequest, "Invalid prefix parameter")
	wantError(t, v.as(token, "GET", "/admin/kv?prefix=,users", ""), http.StatusBadRequest, "Invalid prefix parameter")
	wantError(t, v.as(token, "GET", "/admin/kv?prefix=nope", ""), http.StatusNotFound, "Prefix not found")
	wantError(t, v.as(token, "GET", "/admin/kv?prefix=users&limit=-5", ""), http.StatusBadRequest, "Invalid limit parameter")
	decode(t, v.as(token, "GET", "/admin/kv?prefix=users&limit=1000", ""), &kv)
	equal(t, "limit capped at 200, here all", kv.Count, 2)
}

func TestStatic(t *testing.T) {
	v := newEnv(t)
	for _, tc := range []struct{ path, ctype string }{
		{"/admin/static/admin.css", "text/css; charset=utf-8"},
		{"/admin/static/admin.js", "text/javascript; charset=utf-8"},
	} {
		rec := v.do("GET", tc.path, "")
		equal(t, tc.path, rec.Code, http.StatusOK)
		equal(t, tc.path+" type", rec.Header().Get("Content-Type"), tc.ctype)
		equal(t, tc.path+" cache", rec.Header().Get("Cache-Control"), "no-store")
		equal(t, tc.path+" nosniff", rec.Header().Get("X-Content-Type-Options"), "nosniff")
		if rec.Body.Len() < 100 {
			t.Fatalf("%s: body too short", tc.path)
		}
	}
	for _, p := range []string{"/admin/static/nope.css", "/admin/static/", "/admin/static/../embed.go", "/admin/static/%2e%2e/embed.go", "/admin/static/x.go"} {
		wantError(t, v.do("GET", p, ""), http.StatusNotFound, "Not found")
	}
	rec := v.do("HEAD", "/admin/static/admin.css", "")
	equal(t, "HEAD", rec.Code, http.StatusOK)
	equal(t, "HEAD has no body", rec.Body.Len(), 0)
}

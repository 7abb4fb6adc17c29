package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// seedConns gives the fake relay A's sockets (one open, one closed) and
// pollers of A and B.
func seedConns(v *env) {
	v.relay.mu.Lock()
	defer v.relay.mu.Unlock()
	v.relay.ops.conns = []Connection{
		{ID: 8, UserID: userA, RemoteAddr: "192.0.2.7", UserAgent: "Chrome/131", ConnectedAt: t0.Add(-time.Minute),
			Cursor: t0.Add(-time.Second), Lag: 2},
		{ID: 5, UserID: userA, RemoteAddr: "192.0.2.7", UserAgent: "Chrome/131", ConnectedAt: t0.Add(-time.Hour),
			Cursor: t0.Add(-time.Hour), Closed: true, ClosedAt: t0.Add(-2 * time.Minute), CloseCode: 1001,
			CloseReason: "Server shutting down", ClosedBy: "relay"},
		{ID: 9, UserID: userB, RemoteAddr: "198.51.100.1", ConnectedAt: t0, Cursor: t0, Replaying: true},
	}
	v.relay.ops.pollers = []Poller{
		{UserID: userA, RemoteAddr: "203.0.113.9", UserAgent: "curl/8", LastPoll: t0.Add(-3 * time.Second), Cursor: t0.Add(-4 * time.Second), Polls: 12},
	}
}

func TestConnectionsRoute(t *testing.T) {
	v := newEnv(t)
	seedConns(v)
	token := v.login(t)
	rec := v.as(token, "GET", "/admin/connections?userId="+userA, "")
	equal(t, "status", rec.Code, http.StatusOK)
	equal(t, "cache", rec.Header().Get("Cache-Control"), "no-store")
	want := `{"connections":[` +
		`{"id":8,"userId":"` + userA + `","node":"","remoteAddr":"192.0.2.7","userAgent":"Chrome/131","connectedAt":"2026-11-23T09:59:00.000Z",` +
		`"cursor":"2026-11-23T09:59:59.000Z","lag":2,"replaying":false,"state":"open"},` +
		`{"id":5,"userId":"` + userA + `","node":"","remoteAddr":"192.0.2.7","userAgent":"Chrome/131","connectedAt":"2026-11-23T09:00:00.000Z",` +
		`"cursor":"2026-11-23T09:00:00.000Z","lag":0,"replaying":false,"state":"closed","closedAt":"2026-11-23T09:58:00.000Z",` +
		`"closeCode":1001,"closeReason":"Server shutting down","closedBy":"relay"}],` +
		`"pollers":[{"userId":"` + userA + `","node":"","remoteAddr":"203.0.113.9","userAgent":"curl/8","lastPoll":"2026-11-23T09:59:57.000Z",` +
		`"cursor":"2026-11-23T09:59:56.000Z","polls":12}]}`
	equal(t, "body", rec.Body.String(), want)

	var all connectionsJSON
	decode(t, v.as(token, "GET", "/admin/connections", ""), &all)
	equal(t, "every socket", len(all.Connections), 3)
	equal(t, "replaying", all.Connections[2].Replaying, true)
	equal(t, "unknown user", v.as(token, "GET", "/admin/connections?userId=nobody", "").Body.String(), `{"connections":[],"pollers":[]}`)
	var two connectionsJSON
	decode(t, v.as(token, "GET", "/admin/connections?userId="+userB+"&userId="+userA+"&userId="+userB, ""), &two)
	equal(t, "two sessions, each once", len(two.Connections), 3)
	equal(t, "in the order asked", two.Connections[0].UserID, userB)
	wantError(t, v.as(token, "GET", "/admin/connections?"+strings.Repeat("userId=x&", maxConnectionUsers+1), ""), http.StatusBadRequest, "Too many userId parameters")
}

// TestDashboardShowsSocketsPollingAndLastMessages: each session card lists
// its sockets and its polling; a channel badge says when its last message
// came.
func TestDashboardShowsSocketsPollingAndLastMessages(t *testing.T) {
	v := newEnv(t)
	seedOverview(t, v)
	seedConns(v)
	v.relay.ops.lastInbound = map[string]time.Time{tgID: t0.Add(-3 * time.Hour)}
	body := v.as(v.login(t), "GET", "/admin", "").Body.String()
	for _, want := range []string{
		`<li class="conn conn-open" title="Chrome/131"><span class="conn-state">open</span> <span class="conn-text">#8 · 192.0.2.7 · since 2026-11-23 09:59:00 · cursor 2026-11-23 09:59:59 · lag 2</span></li>`,
		`<span class="conn-text">#5 · 192.0.2.7 · closed 2026-11-23 09:58:00 · 1001 Server shutting down · by relay</span>`,
		`<li class="conn conn-polls" title="curl/8"><span class="conn-state">polls</span> <span class="conn-text">203.0.113.9 · last poll 2026-11-23 09:59:57 · cursor 2026-11-23 09:59:56 · 12 polls</span></li>`,
		`<span class="conn-text">#9 · 198.51.100.1 · since 2026-11-23 10:00:00 · cursor 2026-11-23 10:00:00 · replaying</span>`,
		`<span class="badge-last">last message 3 h ago</span>`,
	} {
		contains(t, "dashboard", body, want)
	}
	var st statusJSON
	decode(t, v.as(v.login(t), "GET", "/admin/status", ""), &st)
	equal(t, "lastInbound in the status", st.Sessions[1].Channels[0].LastInbound, "2026-11-23T07:00:00.000Z")
	equal(t, "absent without one", st.Sessions[1].Channels[1].LastInbound, "")
}

func TestConnectionLines(t *testing.T) {
	for _, tt := range []struct {
		c    connectionJSON
		want string
	}{
		{connectionJSON{ID: 1, Node: "n2", RemoteAddr: "::1", State: "closed", ClosedAt: "2026-11-23T10:00:00.000Z", CloseCode: 1006},
			"#1 · node n2 · ::1 · closed 2026-11-23 10:00:00 · 1006 dropped"},
		{connectionJSON{ID: 2, RemoteAddr: "::1", State: "closed", ClosedAt: "2026-11-23T10:00:00.000Z", CloseCode: 1000, ClosedBy: "client"},
			"#2 · ::1 · closed 2026-11-23 10:00:00 · 1000 · by client"},
	} {
		equal(t, "line", connectionLine(tt.c).Text, tt.want)
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{30 * time.Second, "just now"}, {-time.Minute, "just now"}, {59 * time.Minute, "59 min ago"}, {47 * time.Hour, "47 h ago"}, {72 * time.Hour, "3 d ago"}} {
		equal(t, tt.want, ago(t0.Add(-tt.d), t0), tt.want)
	}
}

// TestMessageTimeline: a message with its platform id, its ingest, the
// sockets and polls that delivered it, and the replies that answered it
// with their attempts; other responses of the channel are not replies.
func TestMessageTimeline(t *testing.T) {
	v := newEnv(t)
	addUser(t, v.store, userA, t0, nil)
	addChannel(t, v.store, storage.Channel{ID: tgID, UserID: userA, Type: storage.TypeTelegram, Enabled: true}, nil)
	m := storage.Message{UserID: userA, ChannelType: storage.TypeTelegram, ChannelID: tgID, From: "alice", Content: "hello",
		Metadata: json.RawMessage(`{"updateId":5001,"chatId":200}`)}
	must(t, v.store.AppendMessage(ctx, &m, storage.AppendOptions{}))
	v.clock.Add(time.Second)
	addResponse(t, v.store, userA, tgID, "unrelated", storage.Delivery{Status: storage.StatusSent})
	reply := storage.Response{UserID: userA, ChannelID: tgID, From: "agent", Content: "Done.", Metadata: json.RawMessage(`{"replyTo":"` + m.ID + `"}`)}
	_, err := v.store.AppendResponse(ctx, &reply, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending}, nil
	})
	must(t, err)
	_, err = v.store.UpdateDelivery(ctx, reply.ID, func(d *storage.Delivery) error {
		d.Status, d.Attempts, d.LastError = storage.StatusSent, 1, ""
		d.Record(storage.Attempt{At: t0.Add(2 * time.Second), Number: 1, Result: storage.AttemptRetry, Error: "502", NextAttemptAt: t0.Add(3 * time.Second)})
		d.Record(storage.Attempt{At: t0.Add(3 * time.Second), Number: 1, Result: storage.AttemptSent})
		return nil
	})
	must(t, err)
	v.relay.ops.traces = map[string]Trace{m.ID: {
		Received: t0.Add(-3 * time.Millisecond), Stored: t0,
		Writes:  []Write{{At: t0.Add(time.Millisecond), Conn: Connection{ID: 8, UserID: userA, RemoteAddr: "192.0.2.7", ConnectedAt: t0.Add(-time.Minute)}}},
		Fetches: []Fetch{{At: t0.Add(time.Second), RemoteAddr: "203.0.113.9", UserAgent: "curl/8"}},
	}}
	token := v.login(t)
	rec := v.as(token, "GET", "/admin/messages/"+m.ID, "")
	equal(t, "status", rec.Code, http.StatusOK)
	var got timelineJSON
	decode(t, rec, &got)
	body := rec.Body.String()
	contains(t, "head", body, `{"id":"`+m.ID+`","userId":"`+userA+`","channelType":"telegram","channelId":"`+tgID+`","from":"alice","content":"hello",`+
		`"timestamp":"2026-11-23T10:00:00.000Z","size":35,"providerId":{"name":"updateId","value":"5001"},`+
		`"ingest":{"received":"2026-11-23T09:59:59.997Z","stored":"2026-11-23T10:00:00.000Z","latencyMs":3},`)
	contains(t, "writes", body, `"writes":[{"at":"2026-11-23T10:00:00.001Z","connection":{"id":8,"node":"","remoteAddr":"192.0.2.7","userAgent":"","connectedAt":"2026-11-23T09:59:00.000Z"}}]`)
	contains(t, "fetches", body, `"fetches":[{"at":"2026-11-23T10:00:01.000Z","node":"","remoteAddr":"203.0.113.9","userAgent":"curl/8"}]`)
	equal(t, "one reply", len(got.Replies), 1)
	r := got.Replies[0]
	equal(t, "reply id", r.ID, reply.ID)
	equal(t, "delivery", r.Delivery.Status, storage.StatusSent)
	equal(t, "attempts", len(r.Delivery.History), 2)
	equal(t, "first attempt", r.Delivery.History[0], attemptJSON{At: "2026-11-23T10:00:02.000Z", Number: 1, Result: "retry", Error: "502",
		NextAttemptAt: "2026-11-23T10:00:03.000Z"})
	equal(t, "second attempt", r.Delivery.History[1].Result, "sent")
	notContains(t, "other deliveries carry no history", v.as(token, "GET", "/admin/deliveries", "").Body.String(), `"history"`)

	// Nothing remembered: no ingest, empty lists.
	v.relay.ops.traces = nil
	body = v.as(token, "GET", "/admin/messages/"+m.ID, "").Body.String()
	notContains(t, "no ingest", body, `"ingest"`)
	contains(t, "empty lists", body, `"writes":[],"fetches":[],"replies":[`)

	for _, id := range []string{storage.NewTimeID(t0), "nope", storage.NewID()} {
		wantError(t, v.as(token, "GET", "/admin/messages/"+id, ""), http.StatusNotFound, "Message not found")
	}
}

func TestProviderIDs(t *testing.T) {
	for _, tt := range []struct {
		typ, meta, want string
	}{
		{storage.TypeTelegram, `{"updateId":12345678901234567890}`, "updateId 12345678901234567890"},
		{storage.TypeDiscord, `{"interactionId":"99"}`, "interactionId 99"},
		{storage.TypeDiscord, `{"messageId":"7","interactionId":"99"}`, "messageId 7"},
		{storage.TypeEmail, `{"emailMessageId":"<a@b>"}`, "emailMessageId <a@b>"},
		{storage.TypeWebhook, `{"messageId":"x"}`, ""},
		{storage.TypeTelegram, `{"updateId":"x"}`, "updateId x"},
		{storage.TypeTelegram, `{"updateId":null}`, ""},
		{storage.TypeTelegram, `not json`, ""},
	} {
		got := ""
		if p := providerID(storage.Message{ChannelType: tt.typ, Metadata: json.RawMessage(tt.meta)}); p != nil {
			got = p.Name + " " + p.Value
		}
		equal(t, tt.typ+" "+tt.meta, got, tt.want)
	}
}

// seedDeadLetters stores failed deliveries of two Telegram channels and an
// email channel, and a sent one.
func seedDeadLetters(t *testing.T, v *env) map[string][]string {
	t.Helper()
	addUser(t, v.store, userA, t0, nil)
	for _, ch := range []storage.Channel{
		{ID: "tg-1", UserID: userA, Type: storage.TypeTelegram, Enabled: true},
		{ID: "tg-2", UserID: userA, Type: storage.TypeTelegram, Enabled: true},
		{ID: "em-1", UserID: userA, Type: storage.TypeEmail, Enabled: true},
	} {
		addChannel(t, v.store, ch, nil)
	}
	ids := map[string][]string{}
	for i := range 30 {
		ch, errText := "tg-1", "Forbidden: bot was blocked by the user"
		switch i % 3 {
		case 1:
			ch, errText = "tg-2", "Bad Request: chat not found"
		case 2:
			ch, errText = "em-1", "resend: 422 invalid recipient"
		}
		v.clock.Add(time.Millisecond)
		r := addResponse(t, v.store, userA, ch, fmt.Sprint(i), storage.Delivery{Status: storage.StatusFailed, Attempts: 3, LastError: errText})
		ids[ch] = append(ids[ch], r.ID)
	}
	addResponse(t, v.store, userA, "tg-1", "fine", storage.Delivery{Status: storage.StatusSent})
	return ids
}

func TestDeadLetters(t *testing.T) {
	v := newEnv(t)
	ids := seedDeadLetters(t, v)
	token := v.login(t)
	get := func(query string) deliveriesJSON {
		t.Helper()
		var out deliveriesJSON
		decode(t, v.as(token, "GET", "/admin/dead-letters"+query, ""), &out)
		return out
	}
	all := get("")
	equal(t, "every failed one", len(all.Deliveries), 30)
	equal(t, "newest first", all.Deliveries[0].ResponseID, ids["em-1"][9])
	equal(t, "no cursor at the end", all.Cursor, "")
	for _, d := range all.Deliveries {
		equal(t, "only failed", d.Status, storage.StatusFailed)
	}
	equal(t, "by type", len(get("?channelType=email").Deliveries), 10)
	equal(t, "by channel", len(get("?channelId=tg-2").Deliveries), 10)
	equal(t, "by error, any case", len(get("?error="+url.QueryEscape("CHAT NOT")).Deliveries), 10)
	equal(t, "all three", len(get("?channelType=telegram&channelId=tg-1&error=blocked").Deliveries), 10)
	equal(t, "none", len(get("?channelType=telegram&error=recipient").Deliveries), 0)

	// Pages of a filter, with the cursor: each record once.
	seen := map[string]bool{}
	page := get("?channelId=tg-1&limit=4")
	for {
		for _, d := range page.Deliveries {
			equal(t, "channel", d.ChannelID, "tg-1")
			equal(t, "once", seen[d.ResponseID], false)
			seen[d.ResponseID] = true
		}
		if page.Cursor == "" {
			break
		}
		page = get("?channelId=tg-1&limit=4&cursor=" + page.Cursor)
	}
	equal(t, "every tg-1 record", len(seen), 10)
	wantError(t, v.as(token, "GET", "/admin/dead-letters?limit=x", ""), http.StatusBadRequest, "Invalid limit parameter")

	// The dashboard lists the first page with its retry buttons.
	body := v.as(token, "GET", "/admin", "").Body.String()
	contains(t, "dead letter row", body, `data-action="retry-channel" data-channel="em-1"`)
	contains(t, "load more", body, `<button type="button" id="dead-more" class="small secondary">Load more</button>`)
}

func TestRetryChannelRoute(t *testing.T) {
	v := newEnv(t, withOrigin("https://relay.example.com"))
	ids := seedDeadLetters(t, v)
	token := v.login(t)
	wantError(t, v.as(token, "POST", "/admin/channels/tg-2/retry", "", "Origin: https://evil.example"), http.StatusForbidden, "Forbidden")
	wantError(t, v.as(token, "POST", "/admin/channels/nope/retry", ""), http.StatusNotFound, "Channel not found")
	rec := v.as(token, "POST", "/admin/channels/tg-2/retry", "", "Origin: https://relay.example.com")
	equal(t, "status", rec.Code, http.StatusOK)
	equal(t, "body", rec.Body.String(), `{"ok":true,"channelId":"tg-2","retried":10}`)
	for _, id := range ids["tg-2"] {
		d, err := v.store.Delivery(ctx, id)
		must(t, err)
		equal(t, "pending again", d.Status, storage.StatusPending)
	}
	d, err := v.store.Delivery(ctx, ids["tg-1"][0])
	must(t, err)
	equal(t, "other channels untouched", d.Status, storage.StatusFailed)
	equal(t, "through the relay", strings.Join(v.relay.ops.retriedChannels, ","), "tg-2")
	equal(t, "again: none left", v.as(token, "POST", "/admin/channels/tg-2/retry", "").Body.String(), `{"ok":true,"channelId":"tg-2","retried":0}`)
}

// TestChartsRoute: the traffic of the last hour minute by minute and of the
// last day in 10-minute buckets, each series with its values and path.
func TestChartsRoute(t *testing.T) {
	v := newEnv(t)
	traffic := quietDay(t0)
	last := len(traffic) - 1
	traffic[last] = Minute{Start: traffic[last].Start, In: 10, Out: 4, Failures: 1, Sockets: 3,
		LatencyMean: 2 * time.Millisecond, LatencyMax: 9 * time.Millisecond}
	traffic[last-1] = Minute{Start: traffic[last-1].Start, In: 5, Sockets: 2, LatencyMean: 4 * time.Millisecond, LatencyMax: 5 * time.Millisecond}
	traffic[0] = Minute{Start: traffic[0].Start, In: 100} // a day ago: only in the 24 h charts
	v.relay.ops.traffic = traffic
	token := v.login(t)
	var got chartsJSON
	decode(t, v.as(token, "GET", "/admin/charts", ""), &got)
	equal(t, "windows", len(got.Windows), 2)
	hour, day := got.Windows[0], got.Windows[1]
	equal(t, "1h", hour.Name+" "+hour.End+" "+hour.Start, "1h 2026-11-23T10:00:00.000Z 2026-11-23T09:01:00.000Z")
	equal(t, "charts", len(hour.Charts), 4)
	traffic1h := hour.Charts[0]
	equal(t, "traffic", traffic1h.ID+" "+traffic1h.Series[0].Summary+" "+traffic1h.Series[1].Summary, "traffic 15 in total 4 in total")
	equal(t, "values", len(traffic1h.Series[0].Values), 60)
	equal(t, "last value", traffic1h.Series[0].Values[59], 10.0)
	equal(t, "scale", traffic1h.Max, 10.0)
	equal(t, "path ends at the top", strings.HasSuffix(traffic1h.Series[0].Path, "L300,1"), true)
	equal(t, "path starts at the bottom", strings.HasPrefix(traffic1h.Series[0].Path, "M0,79L"), true)
	equal(t, "sockets now", hour.Charts[2].Series[0].Summary, "3 now")
	equal(t, "latency", hour.Charts[3].Series[0].Summary+", "+hour.Charts[3].Series[1].Summary, "2.67 ms, 9 ms")
	equal(t, "24h buckets", len(day.Charts[0].Series[0].Values), 144)
	equal(t, "24h total", day.Charts[0].Series[0].Summary, "115 in total")
	equal(t, "24h mean per minute", day.Charts[0].Series[0].Values[0], 10.0)
	equal(t, "24h unit", day.Charts[0].Unit, "per minute, 10-minute means")

	// The dashboard draws the same paths inline.
	body := v.as(token, "GET", "/admin", "").Body.String()
	contains(t, "inline path", body, `<path class="chart-line line-in" data-series="in" d="`+traffic1h.Series[0].Path+`"></path>`)
	contains(t, "hidden 24h", body, `<div class="charts" data-window="24h" hidden>`)
}

func TestChartScale(t *testing.T) {
	for _, tt := range []struct{ v, want float64 }{{0, 1}, {-3, 1}, {0.3, 0.5}, {1, 1}, {1.01, 2}, {3, 5}, {7, 10}, {10, 10}, {11, 20}, {480, 500}, {501, 1000}} {
		equal(t, fmt.Sprint(tt.v), niceCeil(tt.v), tt.want)
	}
	equal(t, "path", linePath([]float64{0, 5, 10}, 10), "M0,79L150,40L300,1")
	equal(t, "over the top is clipped", linePath([]float64{20}, 10), "M0,1")
	equal(t, "empty", linePath(nil, 1), "")
}

// TestOpsMarkupIsInert: what clients send (User-Agent) and platforms say
// (close reasons, errors) is text in the dashboard and plain in the JSON.
func TestOpsMarkupIsInert(t *testing.T) {
	v := newEnv(t)
	seedOverview(t, v)
	v.relay.ops.conns = []Connection{{ID: 1, UserID: userA, RemoteAddr: "192.0.2.1", UserAgent: `"><img src=x onerror=alert(1)>`,
		Closed: true, CloseCode: 4000, CloseReason: `<script>alert(2)</script>`}}
	v.relay.ops.pollers = []Poller{{UserID: userA, UserAgent: `<svg onload=alert(3)>`}}
	token := v.login(t)
	body := v.as(token, "GET", "/admin", "").Body.String()
	for _, raw := range []string{"<img", "<script>alert", "<svg onload"} {
		notContains(t, "raw markup", body, raw)
	}
	contains(t, "escaped reason", body, "&lt;script&gt;alert(2)&lt;/script&gt;")
	for _, path := range []string{"/admin/connections", "/admin/charts", "/admin/dead-letters"} {
		rec := v.as(token, "GET", path, "")
		equal(t, path, rec.Code, http.StatusOK)
		notContains(t, path+" not HTML-escaped", rec.Body.String(), `\u003c`)
	}
	contains(t, "plain JSON", v.as(token, "GET", "/admin/connections", "").Body.String(), `"closeReason":"<script>alert(2)</script>"`)
}

package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
)

// adminLogin logs in to the relay's admin (key "correct horse") and
// returns the headers of a same-origin admin request.
func adminLogin(t *testing.T, r *relay) map[string]string {
	t.Helper()
	login := send(t, http.MethodPost, r.URL+"/admin/login", []byte(`{"password":"correct horse"}`), map[string]string{"Content-Type": "application/json"})
	if login.status != http.StatusOK {
		t.Fatalf("login %d %s", login.status, login.body)
	}
	origin := r.URL
	if r.cfg.BaseURL != "" {
		origin = r.cfg.BaseURL // the public origin the CSRF check compares with
	}
	return map[string]string{"Cookie": strings.Split(login.header.Get("Set-Cookie"), ";")[0], "Origin": origin}
}

// adminGet reads an admin JSON route into v and returns the raw answer.
func adminGet(t *testing.T, r *relay, h map[string]string, path string, v any) answer {
	t.Helper()
	a := send(t, http.MethodGet, r.URL+path, nil, h)
	if a.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(a.body), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, a.body)
		}
	}
	return a
}

type connectionsAnswer struct {
	Connections []struct {
		ID          uint64
		UserID      string
		Node        string
		RemoteAddr  string
		UserAgent   string
		ConnectedAt string
		Cursor      string
		Lag         int
		Replaying   bool
		State       string
		CloseCode   int
		CloseReason string
		ClosedBy    string
	}
	Pollers []struct {
		UserID, RemoteAddr, UserAgent, LastPoll, Cursor string
		Polls                                           int
	}
}

type timelineAnswer struct {
	ID, UserID, ChannelID, Timestamp string
	Size                             int
	ProviderID                       *struct{ Name, Value string }
	Ingest                           *struct {
		Received, Stored string
		LatencyMs        float64
	}
	Writes []struct {
		At         string
		Connection struct {
			ID         uint64
			RemoteAddr string
			UserAgent  string
		}
	}
	Fetches []struct{ At, RemoteAddr, UserAgent string }
	Replies []struct {
		ID       string
		Delivery struct {
			Status   string
			Attempts int
			History  []struct {
				Number        int
				Result, Error string
				NextAttemptAt string
			}
		}
	}
}

// TestOperatorViewsThroughTheRelay: a Telegram message written to a socket
// and fetched by a poll, answered by a reply that fails and is retried by
// the admin, seen in /admin/connections and /admin/messages/:id; the
// dead letters of a channel retried at once; the charts counting all of it;
// and the lag histogram and the silent-channel gauge in /metrics.
func TestOperatorViewsThroughTheRelay(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t, func(c *app.Config) {
		c.AdminKey = "correct horse"
		c.MetricsChannelIDs = true
		c.WS.PingInterval = 20 * time.Millisecond // the lag is sampled at each ping round
	})
	admin := adminLogin(t, r)
	c := r.register(t, true)
	reg := registerBot(t, c)
	expect(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(1, 200, "alice", reg.PairingCode)), 200, `{"ok":true}`)

	// A socket with its own User-Agent, then a message written to it.
	wsURL := strings.Replace(r.URL, "http", "ws", 1) + "/ws?" + url.Values{"token": {c.APIKey}}.Encode()
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"User-Agent": {"relay-test/1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// The lag counts from the end of the socket's replay; a message that
	// commits while the replay ends may be counted once too often (the
	// counter the slow-consumer bound uses, docs/decisions.md).
	var conns connectionsAnswer
	waitFor(t, "the socket's replay", func() bool {
		adminGet(t, r, admin, "/admin/connections?userId="+c.UserID, &conns)
		return len(conns.Connections) == 1 && !conns.Connections[0].Replaying
	})
	var ok struct{ MessageID string }
	decode(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(2, 200, "alice", "where is my order?")), &ok)
	m := readMessages(t, conn, 1)[0]
	if m.ID != ok.MessageID {
		t.Fatalf("socket got %s, stored %s", m.ID, ok.MessageID)
	}
	stamp := m.Timestamp
	if _, err := c.Messages(bg, "", 10); err != nil { // a poll that fetches it
		t.Fatal(err)
	}

	waitFor(t, "the socket's cursor at the message", func() bool {
		adminGet(t, r, admin, "/admin/connections?userId="+c.UserID, &conns)
		return len(conns.Connections) == 1 && conns.Connections[0].Cursor == stamp
	})
	sock := conns.Connections[0]
	if sock.State != "open" || sock.RemoteAddr != "127.0.0.1" || sock.UserAgent != "relay-test/1" || (sock.Node == "") != (testStore() == "bolt") ||
		sock.Lag != 0 || sock.Replaying || sock.UserID != c.UserID {
		t.Fatalf("socket %+v", sock)
	}
	if len(conns.Pollers) != 1 || conns.Pollers[0].Polls != 1 || conns.Pollers[0].Cursor != stamp || conns.Pollers[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("pollers %+v", conns.Pollers)
	}

	// A reply that Telegram refuses for good, retried by the admin.
	fake.FailNext("sendMessage", 1, 400, "Bad Request: chat not found", 0)
	replyID, err := c.Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: "On its way.", ReplyTo: m.ID, Metadata: m.Metadata})
	if err != nil {
		t.Fatal(err)
	}
	timeline := func(want string) timelineAnswer {
		t.Helper()
		var tl timelineAnswer
		waitFor(t, "the reply "+want, func() bool {
			adminGet(t, r, admin, "/admin/messages/"+m.ID, &tl)
			return len(tl.Replies) == 1 && tl.Replies[0].Delivery.Status == want
		})
		return tl
	}
	timeline("failed")
	expect(t, send(t, http.MethodPost, r.URL+"/admin/deliveries/"+replyID+"/retry", nil, admin), 200, `{"ok":true,"retried":"`+replyID+`"}`)
	tl := timeline("sent")
	if tl.ID != m.ID || tl.UserID != c.UserID || tl.ChannelID != reg.ChannelID || tl.Timestamp != stamp ||
		tl.ProviderID == nil || *tl.ProviderID != (struct{ Name, Value string }{"updateId", "2"}) || tl.Size < len("where is my order?") {
		t.Fatalf("timeline %+v", tl)
	}
	if tl.Ingest == nil || tl.Ingest.Stored < tl.Ingest.Received || tl.Ingest.Stored == "" {
		t.Fatalf("ingest %+v", tl.Ingest)
	}
	if len(tl.Writes) != 1 || tl.Writes[0].Connection.ID != sock.ID || tl.Writes[0].Connection.UserAgent != "relay-test/1" {
		t.Fatalf("writes %+v", tl.Writes)
	}
	if len(tl.Fetches) != 1 || tl.Fetches[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("fetches %+v", tl.Fetches)
	}
	r0 := tl.Replies[0]
	if r0.ID != replyID || len(r0.Delivery.History) != 2 || r0.Delivery.History[0].Result != "failed" ||
		!strings.Contains(r0.Delivery.History[0].Error, "chat not found") || r0.Delivery.History[1].Result != "sent" || r0.Delivery.History[1].Number != 1 {
		t.Fatalf("reply %+v", r0)
	}
	expectError(t, send(t, http.MethodGet, r.URL+"/admin/messages/"+replyID, nil, admin), 404, "Message not found")
	expectError(t, send(t, http.MethodGet, r.URL+"/admin/messages/"+m.ID, nil, nil), 401, "Unauthorized")

	// Two more refused replies: the channel's dead letters, retried at once.
	fake.FailNext("sendMessage", 2, 400, "Bad Request: chat not found", 0)
	for _, text := range []string{"one", "two"} {
		if _, err := c.Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: text, Metadata: m.Metadata}); err != nil {
			t.Fatal(err)
		}
	}
	var dead struct {
		Deliveries []struct{ ResponseID, ChannelID, LastError string }
	}
	waitFor(t, "two dead letters", func() bool {
		adminGet(t, r, admin, "/admin/dead-letters?channelId="+reg.ChannelID+"&error=CHAT+NOT+FOUND", &dead)
		return len(dead.Deliveries) == 2
	})
	expectError(t, send(t, http.MethodPost, r.URL+"/admin/channels/"+reg.ChannelID+"/retry", nil,
		map[string]string{"Cookie": admin["Cookie"], "Origin": "https://evil.example"}), 403, "Forbidden")
	expectError(t, send(t, http.MethodPost, r.URL+"/admin/channels/nope/retry", nil, admin), 404, "Channel not found")
	expect(t, send(t, http.MethodPost, r.URL+"/admin/channels/"+reg.ChannelID+"/retry", nil, admin), 200,
		`{"ok":true,"channelId":"`+reg.ChannelID+`","retried":2}`)
	waitFor(t, "the dead letters delivered", func() bool {
		adminGet(t, r, admin, "/admin/dead-letters", &dead)
		return len(dead.Deliveries) == 0
	})

	// The charts count the traffic of the minute (or of the last two).
	var charts struct {
		Windows []struct {
			Name   string
			Charts []struct {
				ID     string
				Series []struct {
					Name   string
					Values []float64
					Path   string
				}
			}
		}
	}
	sum := func(chart, series string) float64 {
		for _, ch := range charts.Windows[0].Charts {
			for _, s := range ch.Series {
				if ch.ID == chart && s.Name == series {
					total := 0.0
					for _, v := range s.Values {
						total += v
					}
					if !strings.HasPrefix(s.Path, "M0,") {
						t.Fatalf("%s %s: path %q", chart, series, s.Path)
					}
					return total
				}
			}
		}
		t.Fatalf("no series %s %s", chart, series)
		return 0
	}
	// (An outcome is counted just after its record commits.)
	waitFor(t, "1 message in, 3 replies out and 3 failed attempts in the charts", func() bool {
		adminGet(t, r, admin, "/admin/charts", &charts)
		return sum("traffic", "in") == 1 && sum("traffic", "out") == 3 && sum("failures", "failures") == 3
	})

	// The gauges in /metrics, behind the metrics token when one is set.
	line := `relay_channel_last_inbound_timestamp_seconds{channel_id="` + reg.ChannelID + `"}`
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.metric(t, line); v != strconv.FormatFloat(float64(at.UnixMilli())/1000, 'g', -1, 64) {
		t.Fatalf("%s = %q, want the message's time %s", line, v, stamp)
	}
	waitFor(t, "a lag sample", func() bool {
		n, _ := strconv.Atoi(r.metric(t, "relay_websocket_lag_messages_count"))
		return n > 0
	})
	if v := r.metric(t, `relay_websocket_lag_messages_bucket{le="0"}`); v == "" || v == "0" {
		t.Fatalf("lag samples at 0: %q", v)
	}

	// The client closes: the record keeps how.
	if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the closed socket", func() bool {
		adminGet(t, r, admin, "/admin/connections?userId="+c.UserID, &conns)
		return len(conns.Connections) == 1 && conns.Connections[0].State == "closed"
	})
	if cl := conns.Connections[0]; cl.ID != sock.ID || cl.CloseCode != 1000 || cl.CloseReason != "bye" || cl.ClosedBy != "client" {
		t.Fatalf("closed socket %+v", cl)
	}

	// Deleting the channel ends its gauge.
	if err := c.DeleteChannel(bg, reg.ChannelID); err != nil {
		t.Fatal(err)
	}
	if v := r.metric(t, line); v != "" {
		t.Fatalf("gauge of a deleted channel: %s", v)
	}
}

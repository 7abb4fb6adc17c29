package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/gorilla/websocket"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/ratelimit"
)

// frame is a server → client WebSocket frame.
type frame struct {
	Type        string         `json:"type"`
	Since       string         `json:"since"`
	LostUntil   string         `json:"lostUntil"`
	Message     client.Message `json:"message"`
	Error       string         `json:"error"`
	OK          bool           `json:"ok"`
	ResponseID  string         `json:"responseId"`
	ChannelType string         `json:"channelType"`
	ChannelID   string         `json:"channelId"`
}

// dialWS opens /ws for c, with since when not empty.
func (r *relay) dialWS(t *testing.T, c *client.Client, since string, dialer *websocket.Dialer) *websocket.Conn {
	t.Helper()
	q := url.Values{"token": {c.APIKey}}
	if since != "" {
		q.Set("since", since)
	}
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	conn, resp, err := dialer.Dial(strings.Replace(r.URL, "http", "ws", 1)+"/ws?"+q.Encode(), nil)
	if err != nil {
		t.Fatalf("dial /ws: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// dialWSQuery opens /ws for c with a raw query added to the token.
func (r *relay) dialWSQuery(t *testing.T, c *client.Client, query string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(strings.Replace(r.URL, "http", "ws", 1)+"/ws?token="+url.QueryEscape(c.APIKey)+"&"+query, nil)
	if err != nil {
		t.Fatalf("dial /ws: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// readFrame reads one frame within 10 s.
func readFrame(t *testing.T, conn *websocket.Conn) frame {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// readMessages reads n message frames.
func readMessages(t *testing.T, conn *websocket.Conn, n int) []client.Message {
	t.Helper()
	out := make([]client.Message, 0, n)
	for len(out) < n {
		f := readFrame(t, conn)
		if f.Type != "message" {
			t.Fatalf("frame type %q, want message", f.Type)
		}
		out = append(out, f.Message)
	}
	return out
}

// closeCode reads until the connection closes and returns the close error.
func closeCode(t *testing.T, conn *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func postN(t *testing.T, hook string, n int, prefix string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := client.PostWebhook(bg, nil, hook, "text/plain", []byte(fmt.Sprintf("%s%d", prefix, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func noLimits(c *app.Config) { c.RateLimits.Disabled = true }

func TestWSHandshakeErrors(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	ws := strings.Replace(r.URL, "http", "ws", 1) + "/ws"
	upgrade := map[string]string{"Connection": "Upgrade", "Upgrade": "WebSocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	expectError(t, send(t, http.MethodGet, r.URL+"/ws?token="+c.APIKey, nil, nil), 400, "WebSocket upgrade required")
	expectError(t, send(t, http.MethodGet, r.URL+"/ws", nil, upgrade), 401, "Missing token query parameter")
	expectError(t, send(t, http.MethodGet, r.URL+"/ws?token=", nil, upgrade), 401, "Missing token query parameter")
	expectError(t, send(t, http.MethodGet, r.URL+"/ws?token=nope", nil, upgrade), 401, "Invalid token")
	expectError(t, send(t, http.MethodGet, r.URL+"/ws?token="+c.APIKey+"&since=yesterday", nil, upgrade), 400, "Invalid since parameter")
	// The extension connects from a chrome-extension:// origin.
	h := http.Header{"Origin": {"chrome-extension://abcdef"}}
	conn, _, err := websocket.DefaultDialer.Dial(ws+"?token="+c.APIKey+"&since=", h)
	if err != nil {
		t.Fatalf("dial with an extension origin and an empty since: %v", err)
	}
	conn.Close()
}

func TestWSLiveDeliveryAndReplay(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits)
	c := r.register(t, true)
	ch, hook := webhookChannel(t, c, client.NewChannel{Name: "n"})
	before := postN(t, hook, 3, "old")

	// Without since: the whole replay window, then live.
	conn := r.dialWS(t, c, "", nil)
	got := readMessages(t, conn, 3)
	for i, m := range got {
		if m.ID != before[i] {
			t.Fatalf("replayed %s, want %s", m.ID, before[i])
		}
	}
	live := postN(t, hook, 1, "live")[0]
	m := readMessages(t, conn, 1)[0]
	if m.ID != live || m.UserID != c.UserID || m.ChannelID != ch.ID || m.ChannelType != "webhook" || m.From != "webhook" || m.Content != "live0" {
		t.Fatalf("live message %+v", m)
	}
	if m.Metadata["channelDirection"] != "inbound" || m.Metadata["channelName"] != "n" {
		t.Fatalf("metadata %v", m.Metadata)
	}

	// With since: exactly what came after it.
	conn2 := r.dialWS(t, c, got[1].Timestamp, nil)
	rest := readMessages(t, conn2, 2)
	if rest[0].ID != before[2] || rest[1].ID != live {
		t.Fatalf("resume after %s gave %s, %s", got[1].Timestamp, rest[0].ID, rest[1].ID)
	}
	// Both connections of the user get the next message once.
	next := postN(t, hook, 1, "both")[0]
	for _, cn := range []*websocket.Conn{conn, conn2} {
		if m := readMessages(t, cn, 1)[0]; m.ID != next {
			t.Fatalf("fan-out gave %s, want %s", m.ID, next)
		}
	}
	waitFor(t, "health to count 2 sockets", func() bool {
		var h struct{ Websockets int }
		decode(t, send(t, http.MethodGet, r.URL+"/health", nil, nil), &h)
		return h.Websockets == 2
	})
}

func TestWSClientFrames(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.RateLimits.Reply = ratelimit.Rate{N: 3, Per: time.Hour} })
	c := r.register(t, false)
	other := r.register(t, false)
	ch, _ := webhookChannel(t, c, client.NewChannel{})
	theirs, _ := webhookChannel(t, other, client.NewChannel{})
	conn := r.dialWS(t, c, "", nil)
	write := func(s string) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	want := func(f frame, typ, errText string) {
		t.Helper()
		if f.Type != typ || f.Error != errText {
			t.Fatalf("frame %+v, want type %q error %q", f, typ, errText)
		}
	}
	write(`{"type":"ping"}`)
	want(readFrame(t, conn), "pong", "")
	write(`not json`)
	want(readFrame(t, conn), "error", "Invalid JSON")
	write(`[1,2]`)
	want(readFrame(t, conn), "error", "Invalid JSON")
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	write(`{"type":"mcp-response","id":1}`)
	write(`{"type":"something-new"}`)
	write(`{"type":"reply","channelId":"` + ch.ID + `"}`)
	want(readFrame(t, conn), "error", "Missing channelId or content") // binary and unknown frames were ignored
	write(`{"type":"reply","channelId":"` + theirs.ID + `","content":"x"}`)
	want(readFrame(t, conn), "error", "Channel not found")
	write(`{"type":"reply","channelId":"` + ch.ID + `","content":"<b>done</b>","channelType":"telegram"}`)
	ack := readFrame(t, conn)
	if ack.Type != "reply_ack" || !ack.OK || ack.ResponseID == "" || ack.ChannelType != "webhook" || ack.ChannelID != ch.ID {
		t.Fatalf("reply_ack %+v", ack)
	}
	page, err := client.Responses(bg, nil, r.URL, ch.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Responses) != 1 || page.Responses[0].ID != ack.ResponseID || page.Responses[0].Content != "done" {
		t.Fatalf("responses %+v", page.Responses)
	}
	// The bucket is shared with POST /reply: the two tokens are used up.
	write(`{"type":"reply","channelId":"` + ch.ID + `","content":"again"}`)
	want(readFrame(t, conn), "error", "Too many reply requests. Try again later.")
	if _, err := c.Reply(bg, client.Reply{ChannelID: ch.ID, Content: "http"}); apiError(t, err).Status != 429 {
		t.Fatalf("HTTP reply after WS replies: %v", err)
	}
}

// clientFrame is a masked client frame with a zero mask key (so the payload
// goes as it is): fin and opcode in the first byte, a payload under 126 bytes.
func clientFrame(first byte, payload string) []byte {
	return append([]byte{first, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// TestWSFramesInOneSegment sends several frames in one TCP write: the relay's
// reader must answer all of them without waiting for more bytes, which holds
// only while gorilla reads through the buffer the relay can see (hijacker) and
// the relay's own handling of pings and pongs between messages leaves the
// rest in that buffer.
func TestWSFramesInOneSegment(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	conn := r.dialWS(t, r.register(t, false), "", nil)
	pongs := make(chan string, 2)
	conn.SetPongHandler(func(data string) error { pongs <- data; return nil })
	ping := clientFrame(0x81, `{"type":"ping"}`)
	segment := slices.Concat(ping, clientFrame(0x8a, "unsolicited pong"), clientFrame(0x89, "hi"), ping, ping)
	if _, err := conn.NetConn().Write(segment); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if f := readFrame(t, conn); f.Type != "pong" {
			t.Fatalf("frame %+v, want pong", f)
		}
	}
	select {
	case data := <-pongs: // read by readFrame, which handles control frames
		if data != "hi" {
			t.Fatalf("protocol pong %q, want the ping's payload \"hi\"", data)
		}
	default:
		t.Fatal("no protocol pong for the client's ping")
	}
}

// TestWSMalformedControlFrame: a control frame the relay does not take itself
// (here unmasked) still meets gorilla's checks: a 1002 close.
func TestWSMalformedControlFrame(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	conn := r.dialWS(t, r.register(t, false), "", nil)
	if _, err := conn.NetConn().Write([]byte{0x89, 0x02, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	if ce := closeCode(t, conn); ce.Code != websocket.CloseProtocolError {
		t.Fatalf("close %d, want %d", ce.Code, websocket.CloseProtocolError)
	}
}

func TestWSConnectionCap(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.WS.MaxConnPerUser = 2 })
	c := r.register(t, false)
	first := r.dialWS(t, c, "", nil)
	second := r.dialWS(t, c, "", nil)
	third := r.dialWS(t, c, "", nil)
	ce := closeCode(t, first)
	if ce.Code != 4001 || ce.Text != "Too many connections for this session" {
		t.Fatalf("oldest closed with %d %q", ce.Code, ce.Text)
	}
	// The evicted connection no longer counts (it was evicted before its close
	// frame was sent).
	var health struct{ WebSockets int }
	if a := send(t, http.MethodGet, r.URL+"/health", nil, nil); json.Unmarshal([]byte(a.body), &health) != nil || health.WebSockets != 2 {
		t.Fatalf("health after an eviction: %s", a.body)
	}
	for _, conn := range []*websocket.Conn{second, third} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if f := readFrame(t, conn); f.Type != "pong" {
			t.Fatalf("newer connection answered %+v", f)
		}
	}
}

func TestWSFrameLimit(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.WS.MaxFrameBytes = 1024 })
	c := r.register(t, false)
	conn := r.dialWS(t, c, "", nil)
	ok := `{"type":"ping","pad":"` + strings.Repeat("x", 1024-len(`{"type":"ping","pad":""}`)) + `"}`
	if err := conn.WriteMessage(websocket.TextMessage, []byte(ok)); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, conn); f.Type != "pong" {
		t.Fatalf("a frame at the limit: %+v", f)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(ok+" ")); err != nil {
		t.Fatal(err)
	}
	if ce := closeCode(t, conn); ce.Code != 1009 || ce.Text != "Message too big" {
		t.Fatalf("closed with %d %q", ce.Code, ce.Text)
	}
}

func TestWSKeepalive(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) {
		c.WS.PingInterval = 20 * time.Millisecond
		// Long enough that a client stalled for a moment by the whole
		// suite's load is not taken for a silent one.
		c.WS.PongTimeout = time.Second
	})
	c := r.register(t, false)
	// A reading client answers protocol pings and stays.
	pings := make(chan struct{}, 100)
	alive := r.dialWS(t, c, "", nil)
	alive.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for range 75 { // 75 pings = 1.5 s, past the pong timeout
		select {
		case <-pings:
		case <-time.After(10 * time.Second):
			t.Fatal("no protocol ping")
		}
	}
	// A silent client (never reads, so never answers) is dropped without a close frame.
	silent := r.dialWS(t, c, "", nil)
	waitFor(t, "the silent socket to be dropped", func() bool {
		var h struct{ Websockets int }
		decode(t, send(t, http.MethodGet, r.URL+"/health", nil, nil), &h)
		return h.Websockets == 1
	})
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := silent.ReadMessage()
		if err == nil {
			continue // pings are handled inside ReadMessage; frames are not expected
		}
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok && ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("silent socket got a close frame %d", ce.Code)
		}
		break
	}
}

func TestWSGracefulShutdown(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(*app.Config) {})
	c := r.register(t, false)
	conn := r.dialWS(t, c, "", nil)
	done := make(chan *websocket.CloseError, 1)
	go func() { done <- closeCode(t, conn) }()
	r.stop()
	ce := <-done
	if ce.Code != 1001 || ce.Text != "Server shutting down" {
		t.Fatalf("closed with %d %q", ce.Code, ce.Text)
	}
}

// TestWSResumeUnderLoad: a client disconnects and reconnects many times with
// since while writers keep ingesting; it sees every message once, in order.
func TestWSResumeUnderLoad(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits)
	c := r.register(t, false)
	_, hook := webhookChannel(t, c, client.NewChannel{})
	const writers, each = 4, 75
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := client.PostWebhook(bg, nil, hook, "text/plain", []byte(fmt.Sprintf("%d-%03d", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var got []client.Message
	since := client.FormatTime(time.Now().Add(-time.Hour))
	for reconnects := 0; len(got) < writers*each; reconnects++ {
		conn := r.dialWS(t, c, since, nil)
		for range 1 + reconnects%7 { // a few frames per connection
			if len(got) == writers*each {
				break
			}
			m := readMessages(t, conn, 1)[0]
			got = append(got, m)
			since = m.Timestamp
		}
		conn.Close()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, m := range got {
		if seen[m.ID] {
			t.Fatalf("%s delivered twice", m.Content)
		}
		seen[m.ID] = true
		if i > 0 && m.Timestamp <= got[i-1].Timestamp {
			t.Fatalf("out of order at %d", i)
		}
	}
	// Nothing more arrives after the last one.
	conn := r.dialWS(t, c, since, nil)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, conn); f.Type != "pong" {
		t.Fatalf("extra frame after the last message: %+v", f)
	}
}

// TestWSEverySocketOfAUserGetsEveryMessage: sockets of one user share their
// store reads (hub.sharedPage); under concurrent posts each socket must still
// receive every message once, in order, and nothing after the last.
func TestWSEverySocketOfAUserGetsEveryMessage(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits)
	c := r.register(t, false)
	_, hook := webhookChannel(t, c, client.NewChannel{})
	since := client.FormatTime(time.Now().Add(-time.Hour))
	conns := make([]*websocket.Conn, 4)
	for i := range conns {
		conns[i] = r.dialWS(t, c, since, nil)
	}
	const writers, each = 4, 50
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		posted = map[string]bool{}
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id, err := client.PostWebhook(bg, nil, hook, "text/plain", []byte(fmt.Sprintf("%d-%03d", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				posted[id] = true
				mu.Unlock()
			}
		})
	}
	got := make([][]client.Message, len(conns))
	var readers sync.WaitGroup
	for i, conn := range conns {
		readers.Go(func() {
			for len(got[i]) < writers*each {
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, data, err := conn.ReadMessage()
				if err != nil {
					t.Errorf("socket %d after %d messages: %v", i, len(got[i]), err)
					return
				}
				var f frame
				if err := json.Unmarshal(data, &f); err != nil || f.Type != "message" {
					t.Errorf("socket %d: frame %s", i, data)
					return
				}
				got[i] = append(got[i], f.Message)
			}
		})
	}
	wg.Wait()
	readers.Wait()
	if t.Failed() {
		return
	}
	for i, msgs := range got {
		seen := map[string]bool{}
		for j, m := range msgs {
			if seen[m.ID] || !posted[m.ID] {
				t.Fatalf("socket %d: %s delivered twice or never posted", i, m.Content)
			}
			seen[m.ID] = true
			if j > 0 && m.Timestamp <= msgs[j-1].Timestamp {
				t.Fatalf("socket %d: out of order at %d", i, j)
			}
		}
		if err := conns[i].WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if f := readFrame(t, conns[i]); f.Type != "pong" {
			t.Fatalf("socket %d: extra frame after the last message: %+v", i, f)
		}
	}
}

// TestWSSlowConsumer: a socket that stops reading is closed with 1013 once
// more than RELAY_WS_SEND_QUEUE messages wait for it, and another user keeps
// receiving meanwhile.
func TestWSSlowConsumer(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) {
		noLimits(c)
		c.WS.SendQueue = 8
		c.WS.WriteTimeout = time.Minute // the 1013 here comes from the queue bound
	})
	slowUser, other := r.register(t, false), r.register(t, false)
	_, slowHook := webhookChannel(t, slowUser, client.NewChannel{})
	_, otherHook := webhookChannel(t, other, client.NewChannel{})
	slow := r.dialWS(t, slowUser, "", nil)
	fast := r.dialWS(t, other, "", nil)

	big := strings.Repeat("x", 60_000)
	const sent = 300 // 18 MB: far beyond what the socket buffers hold
	for i := range sent {
		if _, err := client.PostWebhook(bg, nil, slowHook, "text/plain", []byte(fmt.Sprint(i, big))); err != nil {
			t.Fatal(err)
		}
	}
	// The other user is not held up by the stalled socket.
	id := postN(t, otherHook, 1, "fast")[0]
	if m := readMessages(t, fast, 1)[0]; m.ID != id {
		t.Fatalf("other user got %s", m.ID)
	}
	// The stalled client resumes reading: some messages, then 1013.
	n := 0
	_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			n++
			continue
		}
		ce, ok := errors.AsType[*websocket.CloseError](err)
		if !ok || ce.Code != 1013 || ce.Text != "Slow consumer: reconnect with since" {
			t.Fatalf("after %d messages: %v, want close 1013", n, err)
		}
		break
	}
	if n >= sent {
		t.Fatalf("received all %d messages: never cut off", n)
	}
}

// TestWSFloodOfFramesIsCut: a client that sends frames and does not read the
// answers is a slow consumer like any other. What waits for its socket is
// bounded by RELAY_WS_SEND_QUEUE, pongs and error frames included, and past
// it the socket is closed with 1013; before, the queue of answers grew
// without limit (1.69 GB in 30 s from one socket) and was never cut.
func TestWSFloodOfFramesIsCut(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) {
		noLimits(c)
		c.WS.SendQueue = 8
		c.WS.WriteTimeout = time.Minute // the cut must come from the bound, not from a write timing out
	})
	conn := r.dialWS(t, r.register(t, false), "", nil)
	frames := [][]byte{[]byte(`{"type":"ping"}`), []byte(`not json`)}
	deadline := time.Now().Add(30 * time.Second)
	_ = conn.SetWriteDeadline(deadline)
	for sent := 0; ; sent++ {
		err := conn.WriteMessage(websocket.TextMessage, frames[sent%2])
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("the relay kept reading after %d frames whose answers were never read", sent)
		}
		if err != nil {
			break // the relay closed the socket
		}
	}
	waitFor(t, "the close counted as 1013", func() bool {
		return strings.Contains(send(t, http.MethodGet, r.URL+"/metrics", nil, nil).body, `relay_websocket_closed_total{code="1013"} 1`)
	})
}

// TestWSClientCloseIsCountedWithItsCode: a client's normal close is counted
// under its own code, not as a dropped connection (1006).
func TestWSClientCloseIsCountedWithItsCode(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits)
	conn := r.dialWS(t, r.register(t, false), "", nil)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ce := closeCode(t, conn); ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("the relay answered the close with %d, want 1000", ce.Code)
	}
	waitFor(t, "the close counted as 1000", func() bool {
		body := send(t, http.MethodGet, r.URL+"/metrics", nil, nil).body
		return strings.Contains(body, `relay_websocket_closed_total{code="1000"} 1`) && !strings.Contains(body, `code="1006"`)
	})
}

// TestNoGoroutineLeft: after the relay stops, none of its goroutines remain.
func TestNoGoroutineLeft(t *testing.T) {
	r := newRelay(t, noLimits)
	c := r.register(t, false)
	_, hook := webhookChannel(t, c, client.NewChannel{})
	conns := []*websocket.Conn{r.dialWS(t, c, "", nil), r.dialWS(t, c, "", nil)}
	postN(t, hook, 5, "m")
	for _, conn := range conns {
		readMessages(t, conn, 5)
	}
	r.stop()
	waitFor(t, "relay goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "chaos-relay/relay/server") || strings.Contains(g, "chaos-relay/relay/storage/") ||
				strings.Contains(g, "net/http.(*conn).serve") {
				if !strings.Contains(g, "TestNoGoroutineLeft") && !strings.Contains(g, "server_test.") {
					return false
				}
			}
		}
		return true
	})
}

// TestSubscribeAcrossRestart: the client package's subscription reconnects
// after the relay restarts and resumes with since: every message once, in order.
func TestSubscribeAcrossRestart(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits)
	c := r.register(t, true)
	_, hook := webhookChannel(t, c, client.NewChannel{})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	got := make(chan client.Message, 100)
	done := make(chan error, 1)
	sub := *c
	go func() { done <- sub.Subscribe(ctx, func(m client.Message) error { got <- m; return nil }) }()
	want := postN(t, hook, 20, "a")
	for _, id := range want[:10] {
		if m := <-got; m.ID != id {
			t.Fatalf("got %s, want %s", m.ID, id)
		}
	}
	r.restart(t)
	want = append(want, postN(t, hook, 20, "b")...)
	for _, id := range want[10:] {
		select {
		case m := <-got:
			if m.ID != id {
				t.Fatalf("got %s, want %s", m.ID, id)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("subscription did not resume")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v", err)
	}
	select {
	case m := <-got:
		t.Fatalf("extra message %s", m.ID)
	default:
	}
}

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// WebSocket close codes and reasons (PROTOCOL §6.9).
const (
	closeGoingAway   = websocket.CloseGoingAway // 1001
	closeSessionGone = websocket.ClosePolicyViolation
	closeTooBig      = websocket.CloseMessageTooBig // 1009
	closeSlow        = websocket.CloseTryAgainLater // 1013
	closeTooMany     = 4001

	reasonShutdown = "Server shutting down"
	reasonTooBig   = "Message too big"
	reasonSlow     = "Slow consumer: reconnect with since"
	reasonTooMany  = "Too many connections for this session"
)

// replayPage is how many messages a writer reads from the store at a time.
const replayPage = 100

// ws handles GET /ws (PROTOCOL §6.1): checks happen before the upgrade, so a
// refused handshake gets an ordinary JSON error.
func (s *Server) ws(c *echo.Context) error {
	r := c.Request()
	if r.Method == http.MethodHead {
		c.Response().Header().Set("Allow", "OPTIONS, GET")
		return newError(http.StatusMethodNotAllowed, msgMethod)
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return badRequest("WebSocket upgrade required")
	}
	q := r.URL.Query()
	token := q.Get("token")
	if token == "" {
		return newError(http.StatusUnauthorized, "Missing token query parameter")
	}
	user, err := s.store.UserByAPIKeyHash(r.Context(), hashAPIKey(token))
	if errors.Is(err, storage.ErrNotFound) {
		s.metrics.authFailures.WithLabelValues("bearer").Inc()
		return newError(http.StatusUnauthorized, "Invalid token")
	}
	if err != nil {
		return err
	}
	cursor := s.now().Add(-s.cfg.WS.ReplayWindow)
	if v := q.Get("since"); v != "" {
		t, ok := storage.ParseTime(v)
		if !ok {
			return badRequest("Invalid since parameter")
		}
		cursor = t
	}
	hj := &hijacker{ResponseWriter: c.Response()}
	seq := s.hub.seq.Add(1) // before the 101: the order clients see (hub.add)
	conn, err := s.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	wc := &wsConn{s: s, ws: conn, br: hj.br, conn: hj.conn, user: user, cursor: cursor, seq: seq}
	evicted, ok := s.hub.add(wc, s.cfg.WS.MaxConnPerUser)
	if !ok {
		wc.close(closeGoingAway, reasonShutdown)
		return nil
	}
	go wc.readLoop()
	for _, old := range evicted {
		s.hub.closeAsync(old, closeTooMany, reasonTooMany)
	}
	wc.wake() // replay
	return nil
}

// newUpgrader accepts every Origin: the extension connects from a
// chrome-extension:// origin, and the token, not the origin, authenticates.
// Write buffers come from a pool, so an idle socket holds none. The read
// buffer is the hijacker's (ReadBufferSize 0 makes gorilla adopt it).
func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
	}
}

// wsConn is one client WebSocket. Its reader goroutine lives as long as the
// socket; its writer goroutine runs only while there is something to send
// (PROTOCOL §6.8), so an idle connection costs little.
type wsConn struct {
	s    *Server
	ws   *websocket.Conn
	br   *bufio.Reader // ws's read buffer (see hijacker)
	conn *batchConn    // ws's connection
	user storage.User
	seq  uint64 // age among the user's connections (hub.add)

	// cursor is the timestamp of the last message sent; owned by the writer.
	cursor time.Time

	mu      sync.Mutex
	running bool         // a writer goroutine exists
	dirty   bool         // the store may hold messages after cursor
	closing bool         // no more writers
	control []outFrame   // pongs, acks, errors, pings
	unread  atomic.Int64 // messages committed since replay and not yet written
	caught  atomic.Bool  // replay complete: the writer has caught up once
	slow    atomic.Bool  // over the send queue: close with 1013
	once    sync.Once    // close
}

// outFrame is a frame other than a message.
type outFrame struct {
	kind int // websocket.TextMessage or websocket.PingMessage
	data []byte
}

// committed is called after a message of the user committed.
func (c *wsConn) committed() {
	if c.caught.Load() && c.unread.Add(1) > int64(c.s.cfg.WS.SendQueue) {
		c.slow.Store(true)
	}
	c.wake()
}

// wake marks the connection dirty and starts its writer if none runs.
func (c *wsConn) wake() { c.enqueue(nil) }

// enqueue adds a control frame (nil: none, just wake) and starts the writer
// if needed. The writer is counted in the hub's WaitGroup under c.mu, so it is
// never added after close began.
func (c *wsConn) enqueue(f *outFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if f == nil {
		c.dirty = true
	} else {
		c.control = append(c.control, *f)
	}
	if !c.running {
		c.running = true
		c.s.hub.wg.Add(1)
		go c.writeLoop()
	}
}

func (c *wsConn) sendJSON(v any) {
	b, err := rawjson.Marshal(v)
	if err != nil {
		c.s.log.Error("encode frame", "component", "ws", "err", err)
		return
	}
	c.enqueue(&outFrame{kind: websocket.TextMessage, data: b})
}

// writeLoop sends control frames and new messages until there is nothing
// left, then exits. The dirty flag is cleared before each store read and
// checked again before exiting, so a commit that lands in between is never
// left behind (level-triggered).
func (c *wsConn) writeLoop() {
	defer c.s.hub.wg.Done()
	for {
		c.mu.Lock()
		ctl, dirty := c.control, c.dirty
		c.control, c.dirty = nil, false
		if c.closing || len(ctl) == 0 && !dirty {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !c.writeControl(ctl) || dirty && !c.drain() {
			c.mu.Lock()
			c.running = false
			c.mu.Unlock()
			return
		}
	}
}

func (c *wsConn) writeControl(frames []outFrame) bool {
	for _, f := range frames {
		deadline := time.Now().Add(c.s.cfg.WS.WriteTimeout)
		var err error
		if f.kind == websocket.PingMessage {
			err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
		} else {
			_ = c.ws.SetWriteDeadline(deadline)
			err = c.ws.WriteMessage(f.kind, f.data)
		}
		if err != nil {
			c.fail(err)
			return false
		}
	}
	return true
}

// drain sends every stored message after the cursor, one page at a time. The
// read transaction ends before any socket write.
func (c *wsConn) drain() bool {
	ctx := context.Background()
	for {
		msgs, more, err := c.read(ctx)
		if err != nil {
			c.s.log.Error("read messages for websocket", "component", "ws", "err", err)
			c.close(websocket.CloseInternalServerErr, "")
			return false
		}
		if !c.writePage(msgs) {
			return false
		}
		if !more {
			c.caught.Store(true)
			return true
		}
	}
}

// read returns the stored messages after the cursor: a page another socket
// of the user just read when it holds every commit this one must see (see
// sharedPage), else a page from the store. The caller has cleared dirty.
func (c *wsConn) read(ctx context.Context) (msgs []storage.Message, more bool, err error) {
	h := c.s.hub
	gen := h.commits.Load()
	if msgs, ok := h.sharedRead(c.user.ID, c.cursor, gen); ok {
		return msgs, false, nil
	}
	msgs, more, err = c.s.store.MessagesAfter(ctx, c.user.ID, c.cursor, replayPage)
	if err == nil && !more {
		h.share(c.user.ID, c.cursor, gen, msgs)
	}
	return msgs, more, err
}

// writePage sends msgs as batched frames (a write per 64 KiB, each with the
// full write timeout) and moves the cursor past them.
func (c *wsConn) writePage(msgs []storage.Message) bool {
	deadline := func() time.Time { return time.Now().Add(c.s.cfg.WS.WriteTimeout) }
	c.conn.hold()
	for _, m := range msgs {
		if c.slow.Load() {
			_ = c.conn.flush(deadline())
			c.close(closeSlow, reasonSlow)
			return false
		}
		frame, err := c.s.hub.frames.get(m)
		if err != nil {
			c.s.log.Error("encode message frame", "component", "ws", "err", err)
			continue
		}
		_ = c.ws.SetWriteDeadline(deadline())
		if err := c.ws.WritePreparedMessage(frame); err != nil {
			_ = c.conn.flush(deadline())
			c.fail(err)
			return false
		}
	}
	if err := c.conn.flush(deadline()); err != nil {
		c.fail(err)
		return false
	}
	if n := len(msgs); n > 0 {
		c.cursor = msgs[n-1].Timestamp
		if c.caught.Load() {
			c.unread.Add(-int64(n))
		}
	}
	return true
}

type messageFrame struct {
	Type    string      `json:"type"`
	Message messageJSON `json:"message"`
}

// fail ends a connection whose write failed.
func (c *wsConn) fail(err error) { c.close(failure(err)) }

// failure is how a connection whose write failed ends: a write that timed
// out is a slow consumer (1013); otherwise the peer is gone.
func failure(err error) (code int, reason string) {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return closeSlow, reasonSlow
	}
	return websocket.CloseAbnormalClosure, ""
}

// close sends a close frame (best effort, bounded) and closes the socket. The
// reader then sees the error and unregisters the connection.
func (c *wsConn) close(code int, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		if code != websocket.CloseAbnormalClosure {
			msg := websocket.FormatCloseMessage(code, reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		_ = c.ws.Close()
		c.s.metrics.wsClosed.WithLabelValues(strconv.Itoa(code)).Inc()
	})
}

// readLoop reads client frames until the socket fails or goes silent for
// the pong timeout. Any frame, pongs included, counts as liveness.
func (c *wsConn) readLoop() {
	defer c.s.hub.wg.Done()
	defer func() {
		c.close(websocket.CloseAbnormalClosure, "")
		c.s.hub.remove(c)
	}()
	limit := c.s.cfg.WS.MaxFrameBytes
	c.ws.SetPongHandler(func(string) error { c.alive(); return nil })
	c.ws.SetPingHandler(c.ping)
	for {
		c.alive()
		// Park on the socket itself rather than inside NextReader: the short
		// call chain keeps an idle reader's stack at the 2 KiB minimum.
		if c.br.Buffered() == 0 && waitReadable(c.conn.Conn) != nil {
			return
		}
		if handled, err := c.controlFrame(); err != nil {
			return
		} else if handled {
			continue
		}
		kind, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		c.alive()
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return
		}
		if int64(len(data)) > limit {
			c.close(closeTooBig, reasonTooBig)
			return
		}
		if kind == websocket.TextMessage {
			c.handle(data)
		}
	}
}

// alive extends the read deadline by the pong timeout.
func (c *wsConn) alive() { _ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.WS.PongTimeout)) }

// ping answers a client's protocol ping.
func (c *wsConn) ping(data string) error {
	c.alive()
	err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}

// handle dispatches one client frame (PROTOCOL §6.5). Unknown types are
// ignored, so new frame types can be added without protocol changes.
func (c *wsConn) handle(data []byte) {
	var f map[string]json.RawMessage
	if err := decodeObject(data, &f); err != nil {
		c.sendJSON(errorFrame{Type: "error", Error: "Invalid JSON"})
		return
	}
	var typ string
	_ = json.Unmarshal(f["type"], &typ)
	switch typ {
	case "ping":
		c.sendJSON(struct {
			Type string `json:"type"`
		}{"pong"})
	case "reply":
		c.reply(f)
	}
}

type errorFrame struct {
	Type  string `json:"type"`
	Error string `json:"error"`
}

type replyAck struct {
	Type        string `json:"type"`
	OK          bool   `json:"ok"`
	ResponseID  string `json:"responseId"`
	ChannelType string `json:"channelType"`
	ChannelID   string `json:"channelId"`
}

// reply runs the reply pipeline of §7.2 for a frame, rate limit included.
func (c *wsConn) reply(f map[string]json.RawMessage) {
	if _, ok := c.s.limits.Allow(ratelimit.Reply, c.user.ID); !ok {
		c.s.metrics.rateLimited.WithLabelValues(string(ratelimit.Reply)).Inc()
		c.sendJSON(errorFrame{Type: "error", Error: msgReplyLimited})
		return
	}
	r, err := c.s.acceptReply(context.Background(), c.user, f, "ws")
	var ae *apiError
	switch {
	case err == nil:
		c.sendJSON(replyAck{Type: "reply_ack", OK: true, ResponseID: r.ID, ChannelType: r.ChannelType, ChannelID: r.ChannelID})
	case errors.As(err, &ae) && ae.status < 500:
		c.sendJSON(errorFrame{Type: "error", Error: ae.msg})
	default:
		c.s.log.Error("websocket reply", "component", "ws", "err", err)
		c.sendJSON(errorFrame{Type: "error", Error: "Internal error"})
	}
}

// pingAll sends a protocol ping to every connection (each PingInterval).
func (s *Server) pingAll() {
	for _, c := range s.hub.all() {
		c.sendPing()
	}
}

// pingWriteTimeout bounds a ping written by the ping loop: an idle socket
// takes two bytes at once, and one that cannot within a second is a slow
// consumer.
const pingWriteTimeout = time.Second

// sendPing pings an idle connection directly, without starting its writer:
// a round over 10,000 idle sockets would otherwise start 10,000 goroutines at
// once. A connection whose writer runs gets the ping queued behind its frames.
func (c *wsConn) sendPing() {
	c.mu.Lock()
	busy := c.running || c.closing
	c.mu.Unlock()
	if busy {
		c.enqueue(&outFrame{kind: websocket.PingMessage})
		return
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(pingWriteTimeout)); err != nil {
		code, reason := failure(err)
		c.s.hub.closeAsync(c, code, reason)
	}
}

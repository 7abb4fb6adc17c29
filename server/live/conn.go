package live

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
)

// replayPage is how many messages a writer reads from the store at a time.
const replayPage = 100

// Conn is one client WebSocket. Its reader goroutine lives as long as the
// socket; its writer goroutine runs only while there is something to send
// (PROTOCOL §6.8), so an idle connection costs little.
type Conn struct {
	h    *Hub
	ws   *websocket.Conn
	br   *bufio.Reader // ws's read buffer (see hijacker)
	conn *batchConn    // ws's connection
	user storage.User
	seq  uint64 // age among the user's connections (Hub.add)

	// cursor is the timestamp of the last message sent; owned by the writer.
	cursor time.Time
	// shown is cursor for the admin (Unix ms: a since far in the past fits),
	// id what the admin's records keep of the socket (state.go), retired
	// whether they have its final state.
	shown   atomic.Int64
	id      *identity
	retired atomic.Bool

	mu      sync.Mutex
	retry   *time.Timer  // a read to try again after the store failed
	running bool         // a writer goroutine exists
	dirty   bool         // the store may hold messages after cursor
	closing bool         // no more writers
	control []outFrame   // frames other than messages, bounded by SendQueue
	unread  atomic.Int64 // messages committed since replay and not yet written
	caught  atomic.Bool  // replay complete: the writer has caught up once
	slow    atomic.Bool  // over the send queue: close with 1013
	once    sync.Once    // close

	// How the socket closed, for the admin (state.go); set once, under mu.
	closeCode   int
	closeReason string
	closedBy    string // "relay" or "client"
	closedAt    time.Time
}

// outFrame is a frame other than a message.
type outFrame struct {
	kind int // websocket.TextMessage or websocket.PingMessage
	data []byte
}

// User is the session the socket belongs to.
func (c *Conn) User() storage.User { return c.user }

// Send queues a text frame. A socket with SendQueue frames already waiting
// is a slow consumer: it is closed with 1013 and the frame dropped.
func (c *Conn) Send(frame []byte) { c.enqueue(&outFrame{kind: websocket.TextMessage, data: frame}) }

// SendJSON queues v as a JSON text frame.
func (c *Conn) SendJSON(v any) {
	b, err := rawjson.Marshal(v)
	if err != nil {
		c.h.log.Error("encode frame", "err", err)
		return
	}
	c.Send(b)
}

// committed is called after a message of the user committed.
func (c *Conn) committed() {
	if c.caught.Load() && c.unread.Add(1) > int64(c.h.cfg.SendQueue) {
		c.slow.Store(true)
	}
	c.wake()
}

// wake marks the connection dirty and starts its writer if none runs.
func (c *Conn) wake() { c.enqueue(nil) }

// enqueue adds a frame (nil: none, just wake) and starts the writer if
// needed. The writer is counted in the hub's WaitGroup under c.mu, so it is
// never added after close began. Frames past the send queue close the socket
// instead: a client that sends frames faster than it reads the answers must
// not grow the relay's memory.
func (c *Conn) enqueue(f *outFrame) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if f != nil && len(c.control) >= c.h.cfg.SendQueue {
		c.closing = true // nothing more is queued or started
		c.mu.Unlock()
		c.h.closeAsync(c, CloseSlow, ReasonSlow)
		return
	}
	if f == nil {
		c.dirty = true
	} else {
		c.control = append(c.control, *f)
	}
	if !c.running {
		c.running = true
		c.h.wg.Add(1)
		go c.writeLoop()
	}
	c.mu.Unlock()
}

// writeLoop sends queued frames and new messages until there is nothing
// left, then exits. The dirty flag is cleared before each store read and
// checked again before exiting, so a commit that lands in between is never
// left behind (level-triggered).
func (c *Conn) writeLoop() {
	defer c.h.wg.Done()
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

func (c *Conn) writeControl(frames []outFrame) bool {
	for _, f := range frames {
		deadline := time.Now().Add(c.h.cfg.WriteTimeout)
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
func (c *Conn) drain() bool {
	ctx := context.Background()
	for {
		msgs, more, err := c.read(ctx)
		if err != nil {
			// The store may come back (a NATS connection reconnects): the
			// socket stays open and reads again from its cursor.
			c.h.log.Warn("read messages for websocket; retrying", "err", err, "in", readRetry)
			c.retryLater()
			return true
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

// readRetry is how long a socket waits to read again after the store failed.
const readRetry = time.Second

// retryLater wakes the writer again after readRetry, unless the socket
// closes first. The timer is owned like the writer: counted in the hub's
// WaitGroup until it has fired or been stopped.
func (c *Conn) retryLater() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.retry != nil {
		return
	}
	c.h.wg.Add(1)
	c.retry = time.AfterFunc(readRetry, func() {
		defer c.h.wg.Done()
		c.mu.Lock()
		c.retry = nil
		c.mu.Unlock()
		c.wake()
	})
}

// read returns the stored messages after the cursor: a page another socket
// of the user just read when it holds every commit this one must see (see
// sharedPage), else a page from the store. The caller has cleared dirty.
func (c *Conn) read(ctx context.Context) (msgs []storage.Message, more bool, err error) {
	h := c.h
	gen := h.commits.Load()
	if msgs, ok := h.sharedRead(c.user.ID, c.cursor, gen); ok {
		return msgs, false, nil
	}
	msgs, more, err = h.msgs.MessagesAfter(ctx, c.user.ID, c.cursor, replayPage)
	if err == nil && !more {
		h.share(c.user.ID, c.cursor, gen, msgs)
	}
	return msgs, more, err
}

// writePage sends msgs as batched frames (a write per 64 KiB, each with the
// full write timeout) and moves the cursor past them.
func (c *Conn) writePage(msgs []storage.Message) bool {
	deadline := func() time.Time { return time.Now().Add(c.h.cfg.WriteTimeout) }
	c.conn.hold()
	for _, m := range msgs {
		if c.slow.Load() {
			_ = c.conn.flush(deadline())
			c.close(CloseSlow, ReasonSlow)
			return false
		}
		frame, err := c.h.frames.get(m)
		if err != nil {
			c.h.log.Error("encode message frame", "err", err)
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
		from := c.cursor
		c.cursor = msgs[n-1].Timestamp
		if c.caught.Load() {
			c.unread.Add(-int64(n))
		}
		c.shown.Store(c.cursor.UnixMilli())
		if c.id != nil {
			c.h.writes.add(c.id, from, c.cursor, time.Now())
		}
	}
	return true
}

// fail ends a connection whose write failed.
func (c *Conn) fail(err error) { c.close(failure(err)) }

// failure is how a connection whose write failed ends: a write that timed
// out is a slow consumer (1013); otherwise the peer is gone.
func failure(err error) (code int, reason string) {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return CloseSlow, ReasonSlow
	}
	return websocket.CloseAbnormalClosure, ""
}

// close sends a close frame (best effort, bounded) and closes the socket. The
// reader then sees the error and unregisters the connection.
func (c *Conn) close(code int, reason string) {
	c.once.Do(func() {
		c.stopRetry()
		c.mu.Lock()
		c.closing = true
		c.closed(code, reason, "relay")
		c.mu.Unlock()
		if code != websocket.CloseAbnormalClosure {
			msg := websocket.FormatCloseMessage(code, reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		_ = c.ws.Close()
		c.h.metrics.closed(code)
	})
}

// closedByPeer ends a connection whose client sent a close frame (gorilla
// has answered it): it is counted under the client's code.
func (c *Conn) closedByPeer(code int, reason string) {
	c.once.Do(func() {
		c.stopRetry()
		c.mu.Lock()
		c.closing = true
		c.closed(code, reason, "client")
		c.mu.Unlock()
		_ = c.ws.Close()
		c.h.metrics.closed(code)
	})
}

// stopRetry marks the socket closing and stops a pending read retry.
func (c *Conn) stopRetry() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	if c.retry != nil && c.retry.Stop() {
		c.retry = nil
		c.h.wg.Done() // it will not fire
	}
}

// readLoop reads client frames until the socket fails or goes silent for
// the pong timeout. Any frame, pongs included, counts as liveness.
func (c *Conn) readLoop() {
	defer c.h.wg.Done()
	var err error
	defer func() {
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
			c.closedByPeer(ce.Code, ce.Text)
		}
		c.close(websocket.CloseAbnormalClosure, "")
		c.h.remove(c)
	}()
	limit := c.h.cfg.MaxFrameBytes
	c.ws.SetPongHandler(func(string) error { c.alive(); return nil })
	c.ws.SetPingHandler(c.ping)
	for {
		c.alive()
		// Park on the socket itself rather than inside NextReader: the short
		// call chain keeps an idle reader's stack at the 2 KiB minimum.
		if c.br.Buffered() == 0 && waitReadable(c.conn.Conn) != nil {
			return
		}
		var handled bool
		if handled, err = c.controlFrame(); err != nil {
			return
		} else if handled {
			continue
		}
		var (
			kind int
			r    io.Reader
		)
		if kind, r, err = c.ws.NextReader(); err != nil {
			return
		}
		c.alive()
		var data []byte
		if data, err = io.ReadAll(io.LimitReader(r, limit+1)); err != nil {
			return
		}
		if int64(len(data)) > limit {
			var ok bool
			if data, ok, err = c.readGranted(r, data); err != nil {
				return
			} else if !ok {
				c.close(CloseTooBig, ReasonTooBig)
				return
			}
		}
		if kind == websocket.TextMessage && c.h.handler != nil {
			c.h.handler.HandleFrame(c, data)
		}
	}
}

// readGranted reads the rest of a frame over the frame limit, of which head
// is read, when an open grant of the user (Hub.Grant) may cover it; ok is
// false when none does: the socket is then closed with 1009.
func (c *Conn) readGranted(r io.Reader, head []byte) (data []byte, ok bool, err error) {
	limit := c.h.grantedMax(c.user.ID)
	if limit <= int64(len(head)) {
		return nil, false, nil
	}
	rest, err := io.ReadAll(io.LimitReader(r, limit+1-int64(len(head))))
	if err != nil {
		return nil, false, err
	}
	data = append(head, rest...)
	return data, int64(len(data)) <= limit && c.h.granted(c.user.ID, data), nil
}

// alive extends the read deadline by the pong timeout.
func (c *Conn) alive() { _ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.PongTimeout)) }

// ping answers a client's protocol ping.
func (c *Conn) ping(data string) error {
	c.alive()
	err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}

// pingWriteTimeout bounds a ping written by the ping loop: an idle socket
// takes two bytes at once, and one that cannot within a second is a slow
// consumer.
const pingWriteTimeout = time.Second

// sendPing pings an idle connection directly, without starting its writer:
// a round over 10,000 idle sockets would otherwise start 10,000 goroutines at
// once. A connection whose writer runs gets the ping queued behind its frames.
func (c *Conn) sendPing() {
	c.mu.Lock()
	busy := c.running || c.closing
	c.mu.Unlock()
	if busy {
		c.enqueue(&outFrame{kind: websocket.PingMessage})
		return
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(pingWriteTimeout)); err != nil {
		code, reason := failure(err)
		c.h.closeAsync(c, code, reason)
	}
}

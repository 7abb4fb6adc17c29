// The connection plumbing under gorilla: the hijacked socket, its read buffer,
// batched writes, and the control frames the reader takes itself.

package live

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsReadBuffer is the size of a socket's read buffer, which an idle socket
// keeps: small, because client frames are small and gorilla reads large
// payloads past the buffer. It must exceed 256 for gorilla to adopt it, and
// 288 is a malloc size class.
const wsReadBuffer = 288

// hijacker takes over the upgraded connection for the relay's two needs:
//
//   - a read buffer the relay can see: gorilla adopts a hijacked reader larger
//     than 256 bytes when the upgrader's ReadBufferSize is 0. Knowing whether
//     it holds unread bytes lets the reader park on the socket (waitReadable)
//     instead of inside gorilla. TestWSFramesInOneSegment fails if gorilla
//     stops adopting it.
//   - a connection that can batch writes (batchConn), which gorilla writes to.
type hijacker struct {
	http.ResponseWriter
	br   *bufio.Reader
	conn *batchConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: conn}
	if brw.Reader.Buffered() == 0 { // otherwise gorilla refuses the handshake
		h.br = bufio.NewReaderSize(h.conn, wsReadBuffer)
		brw.Reader = h.br
	}
	return h.conn, brw, nil
}

// batchMax bounds what a batch holds before it is written out.
const batchMax = 64 << 10

var batchPool = sync.Pool{New: func() any { return new([]byte) }}

// batchConn is the connection gorilla writes to. Between hold and flush it
// collects whole frames and sends them in one write, so a socket catching up
// on a page of messages costs one syscall instead of one per message. Writes
// from other goroutines (a pong, a close frame) join the batch in order.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // non-nil while holding
}

// Write writes p, or adds it to the batch while one is held. Gorilla calls
// it once per frame, under its own write lock.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return b.Conn.Write(p)
	}
	if len(*b.buf) > 0 && len(*b.buf)+len(p) > batchMax {
		if err := b.writeBatch(); err != nil {
			return 0, err
		}
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// hold starts a batch.
func (b *batchConn) hold() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		b.buf = batchPool.Get().(*[]byte)
	}
}

// flush writes the batch by deadline and ends it.
func (b *batchConn) flush(deadline time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return nil
	}
	_ = b.Conn.SetWriteDeadline(deadline)
	err := b.writeBatch()
	if cap(*b.buf) <= batchMax {
		batchPool.Put(b.buf)
	}
	b.buf = nil
	return err
}

// writeBatch writes what the batch holds and empties it; b.mu is held.
func (b *batchConn) writeBatch() error {
	if len(*b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}

// Close sends what a batch holds (a close frame, typically) within a second,
// then closes the connection.
func (b *batchConn) Close() error {
	_ = b.flush(time.Now().Add(time.Second))
	return b.Conn.Close()
}

// controlFrame handles a ping or pong that starts the read buffer, between
// messages. Gorilla's NextReader consumes control frames in a loop and then
// waits for the next frame deep in its own call chain, so a socket answering
// the relay's pings would park there for good, on a 4 KiB stack. Only the
// common well-formed case is taken here (final, no RSV bits, masked, at most
// 125 bytes, complete in the buffer); anything else is left to gorilla,
// which validates it.
func (c *Conn) controlFrame() (handled bool, err error) {
	if _, err := c.br.Peek(1); err != nil || c.br.Buffered() < 2 {
		return false, nil // gorilla reads (and reports) the rest
	}
	head, _ := c.br.Peek(2)
	opcode := head[0] & 0x0f
	if head[0]&0xf0 != 0x80 || opcode != websocket.PingMessage && opcode != websocket.PongMessage ||
		head[1]&0x80 == 0 || head[1]&0x7f > 125 {
		return false, nil
	}
	size := 6 + int(head[1]&0x7f) // header, mask key, payload
	if c.br.Buffered() < size {
		return false, nil
	}
	if opcode == websocket.PongMessage {
		_, _ = c.br.Discard(size)
		c.alive()
		return true, nil
	}
	frame, _ := c.br.Peek(size)
	payload := make([]byte, size-6)
	for i := range payload {
		payload[i] = frame[6+i] ^ frame[2+i%4]
	}
	_, _ = c.br.Discard(size)
	return true, c.ping(string(payload))
}

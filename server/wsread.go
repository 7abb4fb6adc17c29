package server

import (
	"bufio"
	"net"
	"net/http"
)

// wsReadBuffer is the size of a socket's read buffer, which an idle socket
// keeps: small, because client frames are small and gorilla reads large
// payloads past the buffer. It must exceed 256 for gorilla to adopt it, and
// 288 is a malloc size class.
const wsReadBuffer = 288

// hijacker gives gorilla a read buffer the relay can see: gorilla adopts a
// hijacked reader larger than 256 bytes when the upgrader's ReadBufferSize is
// 0. Knowing whether that buffer holds unread bytes is what lets the reader
// park on the socket (waitReadable) instead of inside gorilla.
// TestWebSocketFramesInOneSegment fails if gorilla stops adopting it.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.br = brw.Reader
	if brw.Reader.Buffered() == 0 { // otherwise gorilla refuses the handshake
		h.br = bufio.NewReaderSize(conn, wsReadBuffer)
		brw.Reader = h.br
	}
	return conn, brw, nil
}

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/chaos-relay/relay/client"
)

// socket is one WebSocket of a session, read by its own goroutine. It
// reports every message frame as it arrives (duplicates included: it does
// not de-duplicate, so the scenarios can count what the relay repeats). With
// reconnect set, an unexpected close is followed by a new connection with
// since = the last timestamp received, as a real client resumes (PROTOCOL
// §6.3): a slow-consumer close (1013) then costs time, not messages. With
// nodes set it reconnects to the next node, as a client behind a load
// balancer lands on a node that still serves.
type socket struct {
	c           *client.Client
	onMessage   func(content string) // nil: frames are read and dropped
	reconnect   bool
	nodes       []*client.Client // the session on each node, c among them; nil: stay on c
	at          int              // c's index in nodes
	pause       time.Duration    // before each reconnection attempt; 0: reconnectPause
	onReconnect func()           // after a reconnection, before its first frame; may be nil

	// Owned by the reader; read them after run has returned.
	last       string      // timestamp of the last message frame
	reconnects int         // connections opened after the first
	closes     map[int]int // close codes received, by code (1006: dropped without a close frame)
	pings      int         // protocol pings received (and answered)
	err        error       // why the socket ended before ctx did, if it did
}

// Reconnect bounds: a socket that keeps failing gives up rather than spin.
const (
	maxReconnects  = 50
	reconnectPause = 20 * time.Millisecond
	closeWait      = time.Second
)

// dial opens the socket's first connection; since is "" (the replay window).
func (s *socket) dial(ctx context.Context) (*websocket.Conn, error) {
	return s.c.DialWS(ctx, "")
}

// run reads conn, and its successors, until ctx is done. It then closes the
// connection with 1000.
func (s *socket) run(ctx context.Context, conn *websocket.Conn) {
	s.closes = map[int]int{}
	for {
		err := s.read(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		code := websocket.CloseAbnormalClosure
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
			code = ce.Code
		}
		s.closes[code]++
		if !s.reconnect || s.reconnects >= maxReconnects {
			s.err = err
			return
		}
		if conn, err = s.redial(ctx); err != nil {
			if ctx.Err() == nil {
				s.err = err
			}
			return
		}
		s.reconnects++
		if s.onReconnect != nil {
			s.onReconnect()
		}
	}
}

// redial resumes after the last message received, retrying briefly; with
// nodes, each attempt goes to the next node.
func (s *socket) redial(ctx context.Context) (*websocket.Conn, error) {
	pause := cmp.Or(s.pause, reconnectPause)
	var err error
	for range 5 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		if len(s.nodes) > 0 {
			s.at = (s.at + 1) % len(s.nodes)
			s.c = s.nodes[s.at]
		}
		var conn *websocket.Conn
		if conn, err = s.c.DialWS(ctx, s.last); err == nil {
			return conn, nil
		}
	}
	return nil, err
}

// read handles one connection until it fails or ctx is done.
func (s *socket) read(ctx context.Context, conn *websocket.Conn) error {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
		_ = conn.Close()
	})
	defer func() {
		if stop() {
			_ = conn.Close()
		} else {
			<-closed
		}
	}()
	answer := conn.PingHandler() // gorilla's default: a pong
	conn.SetPingHandler(func(data string) error {
		s.pings++
		return answer(data)
	})
	var frame bytes.Buffer // reused: fanout reads a frame per delivery
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		frame.Reset()
		if _, err := frame.ReadFrom(r); err != nil {
			return err
		}
		var f struct {
			Type    string `json:"type"`
			Message struct {
				Content   string `json:"content"`
				Timestamp string `json:"timestamp"`
			} `json:"message"`
		}
		if json.Unmarshal(frame.Bytes(), &f) != nil || f.Type != "message" {
			continue
		}
		if f.Message.Timestamp > s.last {
			s.last = f.Message.Timestamp
		}
		if s.onMessage != nil {
			s.onMessage(f.Message.Content)
		}
	}
}

// socketSet is a group of sockets being read.
type socketSet struct {
	socks  []*socket
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// dialConcurrency is how many WebSocket handshakes run at once.
const dialConcurrency = 64

// openSockets dials every socket (its first connection, without since) and
// starts its reader. On a dial failure it closes what it opened.
func openSockets(ctx context.Context, socks []*socket) (*socketSet, error) {
	conns := make([]*websocket.Conn, len(socks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(dialConcurrency)
	for i, s := range socks {
		g.Go(func() error {
			conn, err := s.dial(gctx)
			if err != nil {
				return fmt.Errorf("socket %d: %w", i, err)
			}
			conns[i] = conn
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	set := &socketSet{socks: socks, cancel: cancel}
	for i, s := range socks {
		set.wg.Go(func() { s.run(rctx, conns[i]) })
	}
	return set, nil
}

// close closes every socket and waits for its reader.
func (ss *socketSet) close() {
	ss.cancel()
	ss.wg.Wait()
}

// summary counts, after close, the reconnections, the close codes the relay
// sent, and the sockets that ended early; failure is one of their errors.
func (ss *socketSet) summary() (reconnects int, closes map[int]int, ended int, failure error) {
	closes = map[int]int{}
	for _, s := range ss.socks {
		reconnects += s.reconnects
		for code, n := range s.closes {
			closes[code] += n
		}
		if s.err != nil {
			ended++
			if failure == nil {
				failure = s.err
			}
		}
	}
	return reconnects, closes, ended, failure
}

// closeCodes renders close counts as "1013×3 1006×1", for notes.
func closeCodes(closes map[int]int) string {
	codes := slices.Sorted(maps.Keys(closes))
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, closes[c]))
	}
	return strings.Join(parts, " ")
}

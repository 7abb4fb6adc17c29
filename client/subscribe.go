package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// ErrSessionDeleted is returned by Subscribe when the relay closes the socket
// with 1008: the session no longer exists, so reconnecting cannot help.
var ErrSessionDeleted = errors.New("client: session deleted")

// Back-off between reconnects: it starts small, doubles, and is reset by a
// connection that delivered something.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// DialWS opens the session's WebSocket (/ws). since, when not empty, resumes
// after that message timestamp; otherwise the relay replays its recent window.
// With OnGap set, the relay is asked for a gap frame (§6.6) before the replay.
func (c *Client) DialWS(ctx context.Context, since string) (*websocket.Conn, error) {
	if c.APIKey == "" {
		return nil, errors.New("client: dial ws: no apiKey")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("client: dial ws: %w", err)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = strings.TrimRight(u.Path, "/") + "/ws"
	q := url.Values{"token": {c.APIKey}}
	if since != "" {
		q.Set("since", since)
		if c.OnGap != nil {
			q.Set("gaps", "1")
		}
	}
	u.RawQuery = q.Encode()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			return nil, newError(resp) // the relay refused the handshake
		}
		return nil, fmt.Errorf("client: dial ws: %w", redactErr(err, u))
	}
	return conn, nil
}

// Subscribe delivers the session's messages to fn, in order and each once,
// until ctx is done or fn fails. Messages that retention deleted before they
// could be delivered are reported to OnGap, when it is set. It starts after c.Cursor (the relay's replay
// window when empty), advances c.Cursor after each message fn accepted, and
// after any disconnect reconnects with back-off and resumes from c.Cursor, so
// nothing is lost or repeated. It returns ctx's error, fn's error,
// ErrSessionDeleted, or an *Error when the relay refuses the handshake with a
// 4xx. Subscribe and Poll share c.Cursor: use one of them at a time.
func (c *Client) Subscribe(ctx context.Context, fn func(Message) error) error {
	backoff := minBackoff
	for {
		progressed, fnErr, err := c.subscribeOnce(ctx, fn)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case fnErr != nil:
			return fnErr
		case errors.Is(err, ErrSessionDeleted):
			return err
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests {
			return err
		}
		if progressed {
			backoff = minBackoff
		}
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64()/2))
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// subscribeOnce runs one connection until it ends. progressed reports whether
// it delivered anything; fnErr is fn's error; err is why the connection ended.
func (c *Client) subscribeOnce(ctx context.Context, fn func(Message) error) (progressed bool, fnErr, err error) {
	conn, err := c.DialWS(ctx, c.Cursor)
	if err != nil {
		return false, nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ce, ok := errors.AsType[*websocket.CloseError](err); ok && ce.Code == websocket.ClosePolicyViolation {
				return progressed, nil, ErrSessionDeleted
			}
			return progressed, nil, err
		}
		var f struct {
			Type    string  `json:"type"`
			Message Message `json:"message"`
			Gap
		}
		if err := decodeJSON(bytes.NewReader(data), &f); err != nil {
			continue
		}
		if f.Type == "gap" && c.OnGap != nil {
			c.OnGap(f.Gap)
			continue
		}
		if f.Type != "message" {
			continue // pongs, acks and frames of newer protocol versions
		}
		if c.Cursor != "" && f.Message.Timestamp <= c.Cursor {
			continue // already delivered (a conforming relay never repeats)
		}
		if err := fn(f.Message); err != nil {
			return progressed, err, nil
		}
		c.Cursor = f.Message.Timestamp
		progressed = true
	}
}

// redactErr removes the query (it holds the apiKey) from a dial error's text.
func redactErr(err error, u *url.URL) error {
	return errors.New(strings.ReplaceAll(err.Error(), u.RawQuery, "…"))
}

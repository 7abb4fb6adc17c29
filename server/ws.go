package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/storage"
)

// ws handles GET /ws (PROTOCOL §6.1): checks happen before the upgrade, so a
// refused handshake gets an ordinary JSON error; the hub serves the socket.
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
	var first [][]byte
	if v := q.Get("since"); v != "" {
		t, ok := storage.ParseTime(v)
		if !ok {
			return badRequest("Invalid since parameter")
		}
		cursor = t
		if q.Get("gaps") == "1" { // only for clients that asked: older ones may not ignore new frame types
			g, err := s.gap(r.Context(), user.ID, t)
			if err != nil {
				return err
			}
			if g != nil {
				frame, _ := rawjson.Marshal(gapFrame{Type: "gap", Since: g.Since, LostUntil: g.LostUntil})
				first = append(first, frame)
			}
		}
	}
	s.hub.Serve(c.Response(), r, user, cursor, s.clientInfo(r), first...)
	return nil
}

type gapFrame struct {
	Type      string `json:"type"`
	Since     string `json:"since"`
	LostUntil string `json:"lostUntil"`
}

type messageFrame struct {
	Type    string      `json:"type"`
	Message messageJSON `json:"message"`
}

// encodeMessageFrame is the frame of a stored message (PROTOCOL §6.6).
func encodeMessageFrame(m storage.Message) ([]byte, error) {
	return rawjson.Marshal(messageFrame{Type: "message", Message: toMessageJSON(m)})
}

// frames handles the frames clients send (PROTOCOL §6.5).
type frames struct{ s *Server }

var _ live.Handler = frames{}

// HandleFrame dispatches one client frame. Unknown types are ignored, so new
// frame types can be added without protocol changes.
func (h frames) HandleFrame(c *live.Conn, data []byte) {
	var f map[string]json.RawMessage
	if err := decodeObject(data, &f); err != nil {
		c.SendJSON(errorFrame{Type: "error", Error: "Invalid JSON"})
		return
	}
	var typ string
	_ = json.Unmarshal(f["type"], &typ)
	switch typ {
	case "ping":
		c.SendJSON(struct {
			Type string `json:"type"`
		}{"pong"})
	case "reply":
		h.reply(c, f)
	case "mcp-response":
		h.s.mcpLocal.Resolve(c.User().ID, data) // only the requesting user's sockets may answer
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
func (h frames) reply(c *live.Conn, f map[string]json.RawMessage) {
	s, user := h.s, c.User()
	if _, ok := s.limits.Allow(ratelimit.Reply, user.ID); !ok {
		s.metrics.rateLimited.WithLabelValues(string(ratelimit.Reply)).Inc()
		c.SendJSON(errorFrame{Type: "error", Error: msgReplyLimited})
		return
	}
	r, err := s.acceptReply(context.Background(), user, f, "ws")
	var ae *apiError
	switch {
	case err == nil:
		c.SendJSON(replyAck{Type: "reply_ack", OK: true, ResponseID: r.ID, ChannelType: r.ChannelType, ChannelID: r.ChannelID})
	case errors.As(err, &ae) && ae.status < 500:
		c.SendJSON(errorFrame{Type: "error", Error: ae.msg})
	default:
		s.log.Error("websocket reply", "err", err)
		c.SendJSON(errorFrame{Type: "error", Error: "Internal error"})
	}
}

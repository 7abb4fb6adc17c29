package admin

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// connectionJSON is a WebSocket in /admin/connections: state "open" or
// "closed"; the close members only for closed ones.
type connectionJSON struct {
	ID          uint64 `json:"id"`
	UserID      string `json:"userId"`
	Node        string `json:"node"`
	RemoteAddr  string `json:"remoteAddr"`
	UserAgent   string `json:"userAgent"`
	ConnectedAt string `json:"connectedAt"`
	Cursor      string `json:"cursor"`
	Lag         int64  `json:"lag"`
	Replaying   bool   `json:"replaying"`
	State       string `json:"state"`
	ClosedAt    string `json:"closedAt,omitempty"`
	CloseCode   int    `json:"closeCode,omitempty"`
	CloseReason string `json:"closeReason,omitempty"`
	ClosedBy    string `json:"closedBy,omitempty"`
}

// pollerJSON is a session that polls, in /admin/connections.
type pollerJSON struct {
	UserID     string `json:"userId"`
	Node       string `json:"node"`
	RemoteAddr string `json:"remoteAddr"`
	UserAgent  string `json:"userAgent"`
	LastPoll   string `json:"lastPoll"`
	Cursor     string `json:"cursor"`
	Polls      int    `json:"polls"`
}

type connectionsJSON struct {
	Connections []connectionJSON `json:"connections"`
	Pollers     []pollerJSON     `json:"pollers"`
}

// maxConnectionUsers bounds the sessions one /admin/connections request
// names (the dashboard asks for the sessions of its page).
const maxConnectionUsers = 200

// connections is GET /admin/connections?userId=, this relay's addition to
// PROTOCOL §9: every WebSocket open now or closed within the last hour,
// newest first, and every session that polls, newest poll first; with
// userId (repeated for several, at most maxConnectionUsers), of those
// sessions only. The records are in memory: an unknown userId gives empty
// lists, not a 404.
func (h *Handler) connections(c *echo.Context) error {
	users := c.QueryParams()["userId"]
	if len(users) == 0 {
		users = []string{""} // every session
	}
	if len(users) > maxConnectionUsers {
		return httpError(http.StatusBadRequest, msgTooManyUsers)
	}
	out := connectionsJSON{Connections: []connectionJSON{}, Pollers: []pollerJSON{}}
	seen := map[string]bool{}
	for _, user := range users {
		if seen[user] {
			continue
		}
		seen[user] = true
		for _, cn := range h.relay.Connections(user) {
			out.Connections = append(out.Connections, connectionEntry(cn))
		}
		for _, p := range h.relay.Pollers(user) {
			out.Pollers = append(out.Pollers, pollerEntry(p))
		}
	}
	return writeJSON(c, http.StatusOK, out)
}

func connectionEntry(cn Connection) connectionJSON {
	e := connectionJSON{ID: cn.ID, UserID: cn.UserID, Node: cn.Node, RemoteAddr: cn.RemoteAddr, UserAgent: cn.UserAgent,
		ConnectedAt: formatTime(cn.ConnectedAt), Cursor: formatTime(cn.Cursor), Lag: cn.Lag, Replaying: cn.Replaying, State: "open"}
	if cn.Closed {
		e.State, e.ClosedAt, e.CloseCode, e.CloseReason, e.ClosedBy = "closed", formatTime(cn.ClosedAt), cn.CloseCode, cn.CloseReason, cn.ClosedBy
	}
	return e
}

func pollerEntry(p Poller) pollerJSON {
	return pollerJSON{UserID: p.UserID, Node: p.Node, RemoteAddr: p.RemoteAddr, UserAgent: p.UserAgent,
		LastPoll: formatTime(p.LastPoll), Cursor: formatTime(p.Cursor), Polls: p.Polls}
}

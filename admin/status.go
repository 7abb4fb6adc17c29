package admin

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
)

const (
	// statusSessions is the most sessions one /admin/status answer holds;
	// offset pages further (PROTOCOL §9).
	statusSessions = 200
	// recentCount is how many messages and responses recentMessages holds.
	recentCount = 30
)

// statusJSON is the /admin/status answer; members in PROTOCOL §9 order.
type statusJSON struct {
	Status         string             `json:"status"`
	Version        string             `json:"version"`
	KV             bool               `json:"kv"`
	Storage        string             `json:"storage"`
	QueryMs        int64              `json:"queryMs"`
	WebSockets     int                `json:"websockets"`
	Uptime         int64              `json:"uptime"` // seconds
	SessionCount   int                `json:"sessionCount"`
	Deliveries     deliveryCountsJSON `json:"deliveries"`
	Sessions       []sessionJSON      `json:"sessions"`
	RecentMessages []recentJSON       `json:"recentMessages"`
	// MessagesLastHour is this relay's addition (after the documented
	// members): inbound messages stored in the last hour.
	MessagesLastHour int `json:"messagesLastHour"`
	// Cluster is this relay's addition on a relay of several nodes
	// (cluster.go): every node, what it holds, and their sockets together.
	Cluster *clusterJSON `json:"cluster,omitempty"`
}

type deliveryCountsJSON struct {
	Pending int `json:"pending"`
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Stored  int `json:"stored"`
}

type sessionJSON struct {
	UserID        string        `json:"userId"`
	CreatedAt     string        `json:"createdAt"`
	Signed        bool          `json:"signed"`
	WSConnections int           `json:"wsConnections"`
	Channels      []channelJSON `json:"channels"`
	// MCP is this relay's addition (after the documented members), present
	// when the session has MCP sessions or calls in the last hour.
	MCP *mcpJSON `json:"mcp,omitempty"`
}

// mcpJSON is a session's use of the MCP bridge.
type mcpJSON struct {
	Sessions      int `json:"sessions"`      // live MCP sessions
	CallsLastHour int `json:"callsLastHour"` // calls forwarded to the extension
}

// channelJSON is a channel entry. The metadata members are copied as they are
// in the metadata, and only when it has them. Name is this relay's addition
// (present only when the channel has one), last so that the documented
// members keep their order.
type channelJSON struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	AgentID        string          `json:"agentId"`
	Enabled        bool            `json:"enabled"`
	BotUsername    json.RawMessage `json:"botUsername,omitempty"`
	AllowedUsers   json.RawMessage `json:"allowedUsers,omitempty"`
	AllowedSenders json.RawMessage `json:"allowedSenders,omitempty"`
	InboundAddress json.RawMessage `json:"inboundAddress,omitempty"`
	Verified       json.RawMessage `json:"verified,omitempty"`
	HasPairingCode bool            `json:"hasPairingCode"`
	Gateway        string          `json:"gateway,omitempty"`
	Name           string          `json:"name,omitempty"`
	Label          string          `json:"label,omitempty"`
	Details        []string        `json:"details,omitempty"`
	// LastInbound is this relay's addition: when the channel last stored an
	// inbound message, absent when it has not since the relay started.
	LastInbound string `json:"lastInbound,omitempty"`
	// GatewayNode is this relay's addition on a relay of several nodes: the
	// node holding the channel's platform session (a Discord bot's gateway,
	// for its newest channel), absent when none does.
	GatewayNode string `json:"gatewayNode,omitempty"`
}

// recentJSON is a recentMessages entry: user and channel ids cut to 8
// characters, content to a preview; responses add their delivery status.
// FullUserID and FullChannelID are this relay's additions, last: the ids
// uncut, so that the dashboard shows every id the same way (shortID) and
// its filter finds them.
type recentJSON struct {
	ID          string `json:"id"`
	UserID      string `json:"userId"`
	ChannelType string `json:"channelType"`
	ChannelID   string `json:"channelId"`
	From        string `json:"from"`
	Direction   string `json:"direction"`
	Content     string `json:"content"`
	Timestamp   string `json:"timestamp"`
	Delivery    string `json:"delivery,omitempty"`

	FullUserID    string `json:"fullUserId"`
	FullChannelID string `json:"fullChannelId"`
}

// status is GET /admin/status?offset=.
func (h *Handler) status(c *echo.Context) error {
	offset, ok := parseOffset(c.QueryParam("offset"))
	if !ok {
		return httpError(http.StatusBadRequest, msgInvalidOffset)
	}
	st, err := h.buildStatus(c.Request().Context(), offset)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, st)
}

// parseOffset reads a non-negative integer ("" is 0). One too large for an
// int is still a valid offset, beyond every session.
func parseOffset(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return math.MaxInt, true
	}
	return n, true
}

// buildStatus reads the summary from the store (never from a cache): the
// session count, one page of sessions newest first with their channels, the
// delivery counts and the newest messages and responses.
func (h *Handler) buildStatus(ctx context.Context, offset int) (statusJSON, error) {
	start := h.now()
	health := h.store.Health()
	st := statusJSON{
		Status:         "ok",
		Version:        h.relay.Version(),
		KV:             health.Open,
		Storage:        health.Engine, // "bolt" or "nats", as /health names it
		WebSockets:     h.relay.WebSockets(),
		Uptime:         int64(h.relay.Uptime().Seconds()),
		Sessions:       []sessionJSON{},
		RecentMessages: []recentJSON{},
	}
	if !health.Open || health.Degraded {
		st.Status = "degraded"
	}
	var err error
	if st.SessionCount, err = h.store.CountUsers(ctx); err != nil {
		return st, err
	}
	if st.MessagesLastHour, err = h.store.CountMessagesSince(ctx, start.Add(-time.Hour)); err != nil {
		return st, err
	}
	cs, err := h.loadCluster(ctx)
	if err != nil {
		return st, err
	}
	if cs != nil {
		st.Cluster = h.clusterEntry(cs, start)
	}
	if offset < st.SessionCount {
		users, err := h.store.UsersNewestFirst(ctx, offset, statusSessions)
		if err != nil {
			return st, err
		}
		for _, u := range users {
			s, err := h.sessionEntry(ctx, u, cs)
			if err != nil {
				return st, err
			}
			st.Sessions = append(st.Sessions, s)
		}
	}
	counts, err := h.store.DeliveryCounts(ctx)
	if err != nil {
		return st, err
	}
	st.Deliveries = deliveryCountsJSON{
		Pending: counts[storage.StatusPending], Sent: counts[storage.StatusSent],
		Failed: counts[storage.StatusFailed], Stored: counts[storage.StatusStored],
	}
	items, err := h.store.RecentItems(ctx, recentCount)
	if err != nil {
		return st, err
	}
	for _, it := range items {
		st.RecentMessages = append(st.RecentMessages, recentEntry(it))
	}
	st.QueryMs = h.now().Sub(start).Milliseconds()
	return st, nil
}

// sessionEntry is a session with its channels; cs is the cluster (nil on a
// single relay).
func (h *Handler) sessionEntry(ctx context.Context, u storage.User, cs *clusterState) (sessionJSON, error) {
	chans, err := h.store.Channels(ctx, u.ID)
	if err != nil {
		return sessionJSON{}, err
	}
	s := sessionJSON{
		UserID:        u.ID,
		CreatedAt:     formatTime(u.CreatedAt),
		Signed:        u.PublicKey != nil,
		WSConnections: h.relay.UserWebSockets(u.ID),
		Channels:      make([]channelJSON, 0, len(chans)),
	}
	if n, calls := h.relay.UserMCP(u.ID); n > 0 || calls > 0 {
		s.MCP = &mcpJSON{Sessions: n, CallsLastHour: calls}
	}
	for _, ch := range chans {
		s.Channels = append(s.Channels, h.channelEntry(ch, cs))
	}
	return s, nil
}

// channelMetadata is the part of a channel's metadata that the admin shows.
type channelMetadata struct {
	BotUsername    json.RawMessage `json:"botUsername"`
	PairingCode    json.RawMessage `json:"pairingCode"`
	AllowedUsers   json.RawMessage `json:"allowedUsers"`
	AllowedSenders json.RawMessage `json:"allowedSenders"`
	InboundAddress json.RawMessage `json:"inboundAddress"`
	Verified       json.RawMessage `json:"verified"`
}

func (h *Handler) channelEntry(ch storage.Channel, cs *clusterState) channelJSON {
	var md channelMetadata
	_ = json.Unmarshal(ch.Metadata, &md) // stored metadata is a JSON object; anything else shows nothing
	e := channelJSON{
		ID:             ch.ID,
		Type:           ch.Type,
		AgentID:        ch.AgentID,
		Enabled:        ch.Enabled,
		BotUsername:    present(md.BotUsername),
		AllowedUsers:   present(md.AllowedUsers),
		AllowedSenders: present(md.AllowedSenders),
		InboundAddress: present(md.InboundAddress),
		Verified:       present(md.Verified),
		HasPairingCode: present(md.PairingCode) != nil && string(md.PairingCode) != `""`,
		Name:           ch.Name,
	}
	if e.AgentID == "" {
		e.AgentID = "(default)"
	}
	if state, ok := h.relay.SessionState(ch); ok {
		// Present for every channel of a type with sessions (Discord's
		// gateway), and never "" (PROTOCOL §1.3); "off" passes through.
		if e.Gateway = state; e.Gateway == "" {
			e.Gateway = "disconnected"
		}
	}
	e.Label, e.Details = h.relay.Badge(ch)
	e.LastInbound = formatTime(h.relay.LastInbound(ch.ID))
	if node := cs.holder(ch.ID); node != "" && e.Gateway != "" {
		e.GatewayNode = node
		e.Details = replaceDetail(e.Details, "gateway "+e.Gateway, gatewayDetail(e.Gateway, node, node == cs.self))
	}
	return e
}

// replaceDetail is details with old replaced by repl, or repl added when
// old is not among them.
func replaceDetail(details []string, old, repl string) []string {
	out := slices.Clone(details)
	if i := slices.Index(out, old); i >= 0 {
		out[i] = repl
		return out
	}
	return append(out, repl)
}

// present is a metadata value in compact form with minimal escaping (no
// HTML escapes, PROTOCOL §1.3), or nil when the member is absent or null.
func present(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	out, err := rawjson.Compact(raw)
	if err != nil {
		return nil // not from a JSON object: cannot happen for stored metadata
	}
	return out
}

func recentEntry(it storage.Item) recentJSON {
	r := recentJSON{
		ID:          it.ID,
		UserID:      first8(it.UserID),
		ChannelType: it.ChannelType,
		ChannelID:   first8(it.ChannelID),
		From:        it.From,
		Direction:   direction(it),
		Content:     preview(it.Content),
		Timestamp:   formatTime(it.Timestamp),

		FullUserID:    it.UserID,
		FullChannelID: it.ChannelID,
	}
	if it.Out && it.Delivery != nil {
		r.Delivery = it.Delivery.Status
	}
	return r
}

// first8 is an id truncated to its first 8 characters, as PROTOCOL §9 has
// recentMessages carry them. The dashboard shows ids with shortID instead.
func first8(id string) string {
	n := 0
	for i := range id {
		if n == 8 {
			return id[:i]
		}
		n++
	}
	return id
}

// direction is "in" for inbound messages and "out" for responses.
func direction(it storage.Item) string {
	if it.Out {
		return "out"
	}
	return "in"
}

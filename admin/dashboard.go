package admin

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

const (
	// sessionsPerPage and messagesPerPage are the dashboard's page sizes (§9).
	sessionsPerPage = 10
	messagesPerPage = 20
	// deliveriesPerPage is how many delivery records the dashboard lists
	// before "Load more".
	deliveriesPerPage = 20
)

// dashboardView is the dashboard's view model. The page shows the first page
// of every list; the script then pages, filters and refreshes them from the
// JSON routes.
type dashboardView struct {
	Nonce         string
	Status        statusJSON
	StorageOK     bool
	UptimeMinutes int64
	Sessions      []sessionView
	SessionsInfo  string
	Recent        []recentJSON
	RecentInfo    string
	Deliveries    []deliveryJSON
}

// sessionView is a session card.
type sessionView struct {
	ID           string
	ShortID      string
	CreatedAt    string
	Connection   string // "N connected" or "disconnected"
	Connected    bool
	Signed       bool
	ChannelCount string
	Badges       []badgeView
	MCP          string // "MCP: 1 session open · 3 calls in the last hour", or ""
}

// badgeView is a channel badge (PROTOCOL §9 "Dashboard contents").
type badgeView struct {
	Type     string
	ID       string
	ShortID  string
	Name     string
	Label    string   // "@bot", the inbound address, or ""
	Details  []string // "awaiting pairing", "2 users", "gateway connected", …
	Disabled bool
}

// dashboard is GET /admin: the dashboard for a valid session, else a
// redirect to the login page.
func (h *Handler) dashboard(c *echo.Context) error {
	if !h.authenticated(c) {
		return c.Redirect(http.StatusFound, "/admin/login")
	}
	ctx := c.Request().Context()
	st, err := h.buildStatus(ctx, 0)
	if err != nil {
		return err
	}
	list, err := h.store.Deliveries(ctx, "", "", deliveriesPerPage)
	if err != nil {
		return err
	}
	v := dashboardView{
		Nonce:         newNonce(),
		Status:        st,
		StorageOK:     st.Status == "ok",
		UptimeMinutes: st.Uptime / 60,
	}
	for _, s := range st.Sessions[:min(len(st.Sessions), sessionsPerPage)] {
		v.Sessions = append(v.Sessions, sessionCard(s))
	}
	v.SessionsInfo = rangeInfo(len(v.Sessions), st.SessionCount, "session")
	v.Recent = st.RecentMessages[:min(len(st.RecentMessages), messagesPerPage)]
	v.RecentInfo = rangeInfo(len(v.Recent), len(st.RecentMessages), "message")
	for _, d := range list {
		v.Deliveries = append(v.Deliveries, deliveryEntry(d))
	}
	return h.render(c, http.StatusOK, h.pages.dashboard, v.Nonce, v)
}

// rangeInfo is a pager caption such as "1–10 of 42 sessions".
func rangeInfo(shown, total int, noun string) string {
	if shown == 0 {
		return "No " + noun + "s"
	}
	return "1–" + strconv.Itoa(shown) + " of " + plural(total, noun)
}

func sessionCard(s sessionJSON) sessionView {
	v := sessionView{
		ID:           s.UserID,
		ShortID:      shortID(s.UserID),
		CreatedAt:    s.CreatedAt,
		Connection:   "disconnected",
		Connected:    s.WSConnections > 0,
		Signed:       s.Signed,
		ChannelCount: plural(len(s.Channels), "channel"),
	}
	if v.Connected {
		v.Connection = strconv.Itoa(s.WSConnections) + " connected"
	}
	if m := s.MCP; m != nil { // as web/static/admin.js, sessionEl
		v.MCP = "MCP: " + plural(m.Sessions, "session") + " open · " + plural(m.CallsLastHour, "call") + " in the last hour"
	}
	for _, ch := range s.Channels {
		v.Badges = append(v.Badges, channelBadge(ch))
	}
	return v
}

// channelBadge describes a channel the way the dashboard script does
// (web/static/admin.js, channelBadge): keep the two in step.
func channelBadge(ch channelJSON) badgeView {
	b := badgeView{Type: ch.Type, ID: ch.ID, ShortID: shortID(ch.ID), Name: ch.Name, Disabled: !ch.Enabled}
	switch ch.Type {
	case storage.TypeTelegram, storage.TypeDiscord:
		if u := rawString(ch.BotUsername); u != "" {
			b.Label = "@" + u
		}
		switch n := rawLen(ch.AllowedUsers); {
		case ch.HasPairingCode:
			b.Details = append(b.Details, "awaiting pairing")
		case n > 0:
			b.Details = append(b.Details, plural(n, "user"))
		default:
			b.Details = append(b.Details, "locked")
		}
		if ch.Type == storage.TypeDiscord {
			b.Details = append(b.Details, "gateway "+ch.Gateway)
		}
	case storage.TypeEmail:
		b.Label = rawString(ch.InboundAddress)
		if rawBool(ch.Verified) {
			b.Details = append(b.Details, "verified")
		} else {
			b.Details = append(b.Details, "unverified")
		}
		if n := rawLen(ch.AllowedSenders); n > 0 {
			b.Details = append(b.Details, plural(n, "sender"))
		} else {
			b.Details = append(b.Details, "all senders")
		}
	}
	return b
}

// plural is "1 user", "2 users".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func rawString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s) // not a string: ""
	return s
}

func rawBool(raw json.RawMessage) bool {
	var b bool
	_ = json.Unmarshal(raw, &b) // not a bool: false
	return b
}

func rawLen(raw json.RawMessage) int {
	var a []json.RawMessage
	_ = json.Unmarshal(raw, &a) // not an array: 0
	return len(a)
}

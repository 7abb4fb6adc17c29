package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/labstack/echo/v5"
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
	// Cluster is the relay's nodes (dashboard_cluster.go); nil on a single
	// relay, which has no Cluster panel.
	Cluster *clusterView
	// The operator views (dashboard_ops.go).
	Charts      chartsJSON
	DeadLetters []deliveryJSON
	DeadMore    bool // a cursor to load more from
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
	Conns        []connLine
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
	Last     string // "last message 3 h ago", or ""
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
		Cluster:       clusterPanel(st.Cluster),
	}
	now := h.now()
	for _, s := range st.Sessions[:min(len(st.Sessions), sessionsPerPage)] {
		card := sessionCard(s, now)
		card.Conns = h.connLines(s.UserID)
		v.Sessions = append(v.Sessions, card)
	}
	v.SessionsInfo = rangeInfo(len(v.Sessions), st.SessionCount, "session")
	v.Recent = st.RecentMessages[:min(len(st.RecentMessages), messagesPerPage)]
	v.RecentInfo = rangeInfo(len(v.Recent), len(st.RecentMessages), "message")
	for _, d := range list {
		v.Deliveries = append(v.Deliveries, deliveryEntry(d))
	}
	if err := h.opsView(c, &v); err != nil {
		return err
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

func sessionCard(s sessionJSON, now time.Time) sessionView {
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
		b := channelBadge(ch)
		b.Last = lastMessage(ch.LastInbound, now)
		v.Badges = append(v.Badges, b)
	}
	return v
}

// channelBadge is a channel's badge as its platform describes it; the
// dashboard script draws the same from the status JSON.
func channelBadge(ch channelJSON) badgeView {
	return badgeView{Type: ch.Type, ID: ch.ID, ShortID: shortID(ch.ID), Name: ch.Name, Disabled: !ch.Enabled,
		Label: ch.Label, Details: ch.Details}
}

// plural is "1 user", "2 users".
func plural(n int, noun string) string { return channels.Plural(n, noun) }

// Package admin serves the relay's admin part (PROTOCOL §9): the login page
// and login/logout actions, the server-rendered dashboard, and the JSON routes
// it refreshes from. Pages are html/template views embedded from package web;
// there is one file per page or action.
//
// Every route is under /admin. Apart from the login routes, logout and the
// static assets, they need a valid admin session: a cookie holding a random
// token whose SHA-256 the store keeps, sealed, with its creation time.
//
//	GET    /admin                                dashboard.go: the dashboard, or 302 /admin/login
//	GET    /admin/login                          login_page.go (503 without a key)
//	POST   /admin/login                          login.go: JSON or form login
//	POST   /admin/logout                         logout.go
//	GET    /admin/status?offset=                 status.go
//	GET    /admin/sessions/:userId/messages      session_messages.go (limit, cursor)
//	DELETE /admin/sessions/:userId               session_delete.go
//	GET    /admin/deliveries                     deliveries_list.go (status, limit, cursor)
//	POST   /admin/deliveries/:responseId/retry   delivery_retry.go (an addition to §9)
//	GET    /admin/kv?prefix=&limit=              kv_browse.go
//	GET    /admin/kv/prefixes                    kv_prefixes.go
//	GET    /admin/connections?userId=            connections.go (an addition)
//	GET    /admin/messages/:id                   message_timeline.go (an addition)
//	GET    /admin/dead-letters                   dead_letters.go (channelType, channelId, error, limit, cursor; an addition)
//	POST   /admin/channels/:channelId/retry      channel_retry.go (an addition)
//	GET    /admin/charts                         charts.go (an addition)
//	GET    /admin/static/*                       static.go: web/static, no session needed
//
// Where PROTOCOL leaves a choice, this package decides as follows. Channel
// entries of /admin/status add "name" (when set) after the documented
// members, so that the dashboard can show channel names; recentMessages
// entries add "fullUserId" and "fullChannelId" last, the ids that PROTOCOL
// cuts to 8 characters, so that the dashboard shows every id alike (shortID:
// the part that differs, the whole id as the title). Message content is
// shown as a 100-character preview in every admin view (§11.6). On a relay
// of several nodes the status adds "cluster", every node with what it holds,
// and Discord channels "gatewayNode" (cluster.go). The retry
// route answers 200 {"ok":true,"retried":"<id>"}, 404 "Delivery not found"
// or 409 "Only failed deliveries can be retried". The operator views
// (ops.go) answer 404 "Message not found" for an unknown message timeline
// and 404 "Channel not found" for the retry of an unknown channel's
// deliveries. Bad list parameters are
// 400 "Invalid limit parameter", "Invalid cursor parameter", "Invalid status
// parameter" or "Invalid prefix parameter"; an unknown bucket is 404 "Prefix
// not found". The CSRF check accepts "Origin: null" with Sec-Fetch-Site:
// same-origin (see csrf).
package admin

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// Relay is what the admin needs from the running relay besides the store.
type Relay interface {
	Operations // the operator views (ops.go)

	// Version is the relay's version string.
	Version() string
	// Uptime is how long the relay has been running.
	Uptime() time.Duration
	// WebSockets is the number of open WebSockets in total.
	WebSockets() int
	// UserWebSockets is the number of a user's open WebSockets.
	UserWebSockets(userID string) int
	// UserMCP is a user's live MCP sessions and the MCP calls forwarded to
	// its extension in the last hour.
	UserMCP(userID string) (sessions, callsLastHour int)
	// SessionState is the state of a channel's platform session, and
	// whether its type keeps sessions at all (Discord's gateway: one of
	// channels/discord's states, "off" when the relay runs without gateway
	// sessions, or "" when the channel has none, shown as "disconnected").
	SessionState(ch storage.Channel) (state string, ok bool)
	// Badge is what the dashboard shows of a channel beside its type, name
	// and id, as its platform describes it (channels.Describer).
	Badge(ch storage.Channel) (label string, details []string)
	// Nodes are the nodes of a relay of several (server/cluster), this one
	// included, each with the leases it holds; nil on a single relay.
	Nodes() []Node
	// SessionLeases maps the lease of each platform session that a node of
	// a relay of several may hold (channels.Sessions: a Discord bot's
	// gateway) to the channel the session runs for.
	SessionLeases(ctx context.Context) (map[string]storage.Channel, error)
	// DeleteSession deletes a session and everything it owns, closes its
	// WebSockets with 1008 and releases its platform resources;
	// storage.ErrNotFound when the session is unknown.
	DeleteSession(ctx context.Context, userID string) error
	// RetryDelivery makes a failed delivery pending again and wakes the
	// outbox; storage.ErrNotFound when the delivery is unknown,
	// storage.ErrConflict when it is not failed.
	RetryDelivery(ctx context.Context, responseID string) error
	// AllowLogin applies the admin-login rate limit (PROTOCOL §8) to a client.
	AllowLogin(clientIP string) (retryAfter time.Duration, ok bool)
	// ClientIP is the request's client address (PROTOCOL §1.9).
	ClientIP(r *http.Request) string
	// PublicOrigin is the relay's public origin for the request, such as
	// "https://relay.example.com", without a path (PROTOCOL §1.1).
	PublicOrigin(r *http.Request) string
}

// Config configures the admin part.
type Config struct {
	// Key is the admin password (RELAY_ADMIN_KEY); "" means the admin is not
	// configured: the login routes answer 503 and nobody is authenticated.
	Key string
	// Now is the clock for session lifetimes and query timings (default time.Now).
	Now func() time.Time
}

// SessionTTL is the lifetime of an admin login (PROTOCOL §9). It is checked on
// every request; the relay's sweeper deletes expired records.
const SessionTTL = 24 * time.Hour

// cookieName is the admin session cookie.
const cookieName = "chaos_admin"

// Error texts of the admin routes. The ones from PROTOCOL §9 and §8 are exact.
const (
	msgNotConfiguredPage = "Admin not configured (set CHAOS_ADMIN_KEY env var)"
	msgNotConfigured     = "Admin not configured"
	msgInvalidBody       = "Invalid request body"
	msgInvalidPassword   = "Invalid password"
	msgTooManyLogins     = "Too many login attempts. Try again later."
	msgUnauthorized      = "Unauthorized"
	msgForbidden         = "Forbidden"
	msgInvalidOffset     = "Invalid offset parameter"
	msgSessionNotFound   = "Session not found"
	msgTooLarge          = "Request body too large"
	// Texts of this implementation's own choices (PROTOCOL leaves them open).
	msgInvalidLimit     = "Invalid limit parameter"
	msgInvalidCursor    = "Invalid cursor parameter"
	msgInvalidStatus    = "Invalid status parameter"
	msgInvalidPrefix    = "Invalid prefix parameter"
	msgPrefixNotFound   = "Prefix not found"
	msgDeliveryNotFound = "Delivery not found"
	msgNotRetryable     = "Only failed deliveries can be retried"
	msgMessageNotFound  = "Message not found"
	msgChannelNotFound  = "Channel not found"
	msgTooManyUsers     = "Too many userId parameters"
)

// Handler serves the /admin routes.
type Handler struct {
	key   string
	now   func() time.Time
	store storage.Store
	relay Relay
	log   *slog.Logger
	pages pages
}

// pages are the parsed views, one per page.
type pages struct {
	login     *template.Template
	dashboard *template.Template
}

// New returns the admin handler. It parses the embedded templates and panics
// if they are broken, which the package's tests rule out.
func New(cfg Config, store storage.Store, relay Relay, log *slog.Logger) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := parsePages()
	if err != nil {
		panic(err)
	}
	return &Handler{key: cfg.Key, now: cfg.Now, store: store, relay: relay, log: log, pages: p}
}

// Register adds every /admin route of PROTOCOL §9 to e, plus this relay's
// additions (the retries, the operator views) and the static assets under
// /admin/static/. Every answer carries Cache-Control: no-store; POST and
// DELETE routes are guarded against cross-site requests.
func (h *Handler) Register(e *echo.Echo) {
	hdr := h.headers
	csrf := h.csrf
	auth := h.requireSession

	e.GET("/admin", h.dashboard, hdr)
	e.GET("/admin/login", h.loginPage, hdr)
	e.POST("/admin/login", h.login, hdr, csrf)
	e.POST("/admin/logout", h.logout, hdr, csrf)
	e.GET("/admin/status", h.status, hdr, auth)
	e.GET("/admin/sessions/:userId/messages", h.sessionMessages, hdr, auth)
	e.DELETE("/admin/sessions/:userId", h.deleteSession, hdr, csrf, auth)
	e.GET("/admin/deliveries", h.deliveries, hdr, auth)
	e.POST("/admin/deliveries/:responseId/retry", h.retryDelivery, hdr, csrf, auth)
	e.GET("/admin/kv", h.kvBrowse, hdr, auth)
	e.GET("/admin/kv/prefixes", h.kvPrefixes, hdr, auth)
	e.GET("/admin/export", h.export, hdr, auth)
	e.GET("/admin/connections", h.connections, hdr, auth)
	e.GET("/admin/messages/:id", h.messageTimeline, hdr, auth)
	e.GET("/admin/dead-letters", h.deadLetters, hdr, auth)
	e.POST("/admin/channels/:channelId/retry", h.retryChannel, hdr, csrf, auth)
	e.GET("/admin/charts", h.charts, hdr, auth)
	e.GET("/admin/static/*", h.static, hdr)
}

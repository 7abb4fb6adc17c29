package channels

import (
	"context"
	"net/http"
	"time"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// Platform is one kind of channel (generic webhooks, Telegram, Discord,
// email): one package implements it, and one line of cmd/relay registers it.
// The server knows platforms only through this interface and the optional
// capabilities below (Sender, Typer, Releaser, Runner, Switcher, Linker,
// Describer, Sessions), so adding a platform touches no switch on channel types.
type Platform interface {
	// Type is the channel type the platform serves ("telegram").
	Type() string
	// Traits say how POST /channels creates the platform's channels and what
	// the relay adds to their inbound messages.
	Traits() Traits
	// Routes are the platform's HTTP routes: registration and inbound
	// callbacks. The server authenticates, rate-limits, reads the body and
	// finds the channel as each route's Kind says, then calls Handle.
	Routes(h Host) []Route
	// Plan decides a new reply's delivery from the channel as it stands in
	// the reply's transaction (and the reply's metadata): its target, or why
	// it fails at once (PROTOCOL §7.5). It must not block or write.
	Plan(v storage.ChannelView, reply *rawjson.Object) storage.Delivery
}

// Traits describe a platform's channels.
type Traits struct {
	// Direction is a new channel's direction unless the request gives one.
	Direction string
	// InboundSecret: POST /channels gives the channel a webhookSecret when
	// none is supplied, so that every inbound route is authenticated.
	InboundSecret bool
	// HintName, HintPrompt: inbound metadata carries channelName and
	// channelPrompt (PROTOCOL §3.7).
	HintName, HintPrompt bool
	// PublicResponses: GET /responses/:channelId serves the channel's replies.
	PublicResponses bool
}

// Typer shows a typing indicator in a channel (POST /typing), best effort.
type Typer interface {
	Typing(ctx context.Context, st storage.Store, ch storage.Channel) error
}

// Releaser frees what a channel holds on its platform once it is deleted
// (Telegram's webhook). PrepareRelease runs before the deletion commits,
// while the channel's secrets still exist; an error aborts the deletion. The
// returned release runs after the commit, in the background, and retries as
// it sees fit within its context.
type Releaser interface {
	PrepareRelease(ctx context.Context, st storage.Store, ch storage.Channel) (release func(ctx context.Context), err error)
}

// Runner has work of its own (Discord's gateway sessions): Run blocks until
// ctx is done, and then until that work has stopped.
type Runner interface {
	Run(ctx context.Context, h Host) error
}

// Switcher hears that a PATCH /channels set a channel's enabled flag (to a
// new value or the same), after the commit. It must not wait for platform
// I/O: the request is answered after it (Host.Background is for that).
type Switcher interface {
	Switched(h Host, ch storage.Channel)
}

// Linker adds the URL of a channel created by POST /channels to the answer
// (webhookUrl).
type Linker interface {
	WebhookURL(origin string, ch storage.Channel) string
}

// Describer says what the admin's dashboard shows of a channel beside its
// type, name and id: a label (the bot's name, the inbound address) and short
// details (pairing, verification, the gateway session's state).
type Describer interface {
	Badge(ch storage.Channel) (label string, details []string)
}

// Sessions is a platform that keeps a session per channel (Discord's
// gateway), for the admin views. A platform with metrics of its own
// implements prometheus.Collector too.
type Sessions interface {
	// SessionState is the state of a channel's session on this node ("" when
	// it has none).
	SessionState(channelID string) string
	// SessionLeases names, on a relay of several nodes, the lease under which
	// the session of each of chans would run (Host.Lease): lease name →
	// channel id, for the channels that would have one (Discord: one
	// session per bot, for its newest channel). For the admin dashboard,
	// which shows the node holding each.
	SessionLeases(chans []storage.Channel) map[string]string
}

// Host is what the relay offers its platforms.
type Host interface {
	// Store is the relay's store.
	Store() storage.Store
	// Ingest runs the common inbound pipeline (PROTOCOL §4.1 steps 6–9):
	// sanitise, fit to the budget, store durably, wake the owner's sockets.
	// Refusals are storage.ErrInboxFull and storage.ErrDuplicate (wrapped);
	// the server answers them as the protocol says if they are returned.
	Ingest(ctx context.Context, in Inbound) (storage.Message, error)
	// Allow takes a token from a rate limit's bucket, counting a refusal.
	Allow(name ratelimit.Name, key string) bool
	// Dropped counts an inbound update acknowledged without being stored.
	Dropped(channelType, reason string)
	// Background runs a best-effort task that an answer must not wait for
	// (a notice, a webhook removal). Shutdown cancels and waits for it.
	Background(task func(ctx context.Context))
	// PublicOrigin is the relay's public origin for a request (PROTOCOL §1.1).
	PublicOrigin(r *http.Request) string
	// Now is the relay's clock.
	Now() time.Time
	// Lease is a named lease held by one node of a relay at a time (a
	// Discord bot's gateway session); on a relay of one node it is always
	// this node's.
	Lease(name string) Lease
}

// Lease is held by one relay node at a time, while the node lives: a node
// that dies loses it within the lease's lifetime, one that stops gives it up
// at once.
type Lease interface {
	// TryAcquire takes the lease if no node holds it; it is then kept
	// until Release or loss.
	TryAcquire(ctx context.Context) (bool, error)
	// Held reports whether this node holds the lease.
	Held() bool
	// Release gives the lease up.
	Release(ctx context.Context) error
	// Run campaigns for the lease until ctx ends and, while this node holds
	// it, runs fn with a context that ends when the lease is lost.
	Run(ctx context.Context, fn func(ctx context.Context))
}

// Inbound is what a platform extracted from an update, before the common
// pipeline sanitises, fits and stores it.
type Inbound struct {
	Channel      storage.Channel
	From         string
	Content      string
	Meta         *rawjson.Object
	DedupeKey    string // provider id: a retried update is acknowledged, not stored again
	ReplyTarget  string // where the channel's replies go from now on
	AcceptSender string // an email sender the channel accepted (replies may go back to it)
}

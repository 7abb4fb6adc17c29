// Package discord is the relay's Discord channel: bot registration, gateway sessions, signed interactions, forwarded payloads and reply delivery.
//
// REST calls (registration, replies, notices, typing) are plain net/http requests against
// Config.APIURL, so every answer's status, Discord's error message and retry_after are seen as they
// are, each call has its own timeout, and no error text ever holds the token (PROTOCOL §10.4).
//
// Receiving uses one discordgo Session per registered bot (gateway.go). discordgo computes its
// Endpoint* variables once at init and uses them for the gateway lookup, so New sets all of them
// from Config.APIURL: they are process-global, and only one Discord API base can be used per
// process. Tests start one fake Discord per test binary for the same reason.
//
// Inbound HTTP payloads (signed interactions and forwarded gateway events) are decoded here with
// encoding/json; the secret check, storage and HTTP answers stay in the server. Pairing and the
// allowlist are pure functions (pairing.go).
package discord

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/apihttp"
)

// DefaultAPIURL is the REST base used when Config.APIURL is empty.
const DefaultAPIURL = "https://discord.com/api/v10"

// DefaultTimeout bounds every REST call when Config.Timeout is zero (PROTOCOL §7.5).
const DefaultTimeout = 10 * time.Second

// MaxPartUnits is the longest message content Discord accepts (PROTOCOL §7.5).
const MaxPartUnits = 2000

// Intents are the gateway intents of every session (PROTOCOL §4.4): GUILD_MESSAGES |
// DIRECT_MESSAGES | MESSAGE_CONTENT = 37376.
const Intents = discordgo.IntentsGuildMessages | discordgo.IntentsDirectMessages | discordgo.IntentsMessageContent

// Config configures the adapter.
type Config struct {
	APIURL  string        // RELAY_DISCORD_API_URL, default "https://discord.com/api/v10"
	Timeout time.Duration `setting:"-"` // per REST call, default 10s
	HTTP    *http.Client  `setting:"-"` // optional base client; copied, with Timeout capped and redirects kept on the host
	Gateway bool          // false: no gateway sessions (interactions-only deployments)
}

// Adapter talks to Discord for every Discord channel. It is safe for concurrent use.
//
// Lock order: Adapter.mu before gwSession.mu.
type Adapter struct {
	apiURL  string
	timeout time.Duration
	client  *http.Client
	gateway bool
	log     *slog.Logger

	// Reconnect back-off of gateway sessions; fields so that tests can shorten them.
	minBackoff, maxBackoff time.Duration

	endpointsChecked sync.Once // warned if discordgo's endpoints point elsewhere

	mu       sync.Mutex
	sessions map[string]*gwSession // by relay channel id
	closed   bool
	wg       sync.WaitGroup // supervisors, of live sessions and of those still closing

	camps *campaigns // the sessions this node wants (campaigns.go)
}

var _ channels.Sender = (*Adapter)(nil)

// New returns an adapter. It makes no network call and starts no goroutine. A nil log discards.
//
// The first gateway session of the process sets discordgo's process-global Endpoint* variables
// from cfg.APIURL (discordgo uses them to find the gateway): only one Discord API base can be used
// for gateway sessions per process, and the first session's adapter decides it.
func New(cfg Config, log *slog.Logger) *Adapter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	api := strings.TrimRight(cfg.APIURL, "/")
	return &Adapter{
		apiURL:     api,
		timeout:    cfg.Timeout,
		client:     apihttp.NewClient(cfg.HTTP, cfg.Timeout),
		gateway:    cfg.Gateway,
		log:        log,
		minBackoff: time.Second,
		maxBackoff: 2 * time.Minute,
		sessions:   make(map[string]*gwSession),
		camps:      newCampaigns(),
	}
}

// MaxPartUnits implements channels.Sender: Discord messages hold at most 2000 characters.
func (a *Adapter) MaxPartUnits() int { return MaxPartUnits }

// endpointsOnce sets discordgo's globals once per process: discordgo reads them without locks from
// its gateway goroutines, so writing them again while a session runs would be a data race.
var (
	endpointsOnce sync.Once
	endpointsBase string
)

// setEndpoints points every discordgo Endpoint* variable at api (with a trailing slash), the first
// time it is called, and returns the base they point at. discordgo derives them from
// EndpointDiscord at init, so setting one changes nothing else.
func setEndpoints(api string) string {
	endpointsOnce.Do(func() { writeEndpoints(api) })
	return endpointsBase
}

func writeEndpoints(api string) {
	endpointsBase = api
	discordgo.EndpointAPI = api
	discordgo.EndpointGuilds = api + "guilds/"
	discordgo.EndpointChannels = api + "channels/"
	discordgo.EndpointUsers = api + "users/"
	discordgo.EndpointGateway = api + "gateway"
	discordgo.EndpointGatewayBot = discordgo.EndpointGateway + "/bot"
	discordgo.EndpointWebhooks = api + "webhooks/"
	discordgo.EndpointStickers = api + "stickers/"
	discordgo.EndpointStageInstances = api + "stage-instances"
	discordgo.EndpointSKUs = api + "skus"
	discordgo.EndpointVoice = api + "/voice/" // sic: discordgo's own value has the double slash
	discordgo.EndpointVoiceRegions = discordgo.EndpointVoice + "regions"
	discordgo.EndpointApplications = api + "applications"
	discordgo.EndpointOAuth2 = api + "oauth2/"
	discordgo.EndpointOAuth2Applications = discordgo.EndpointOAuth2 + "applications"
	discordgo.EndpointOauth2 = discordgo.EndpointOAuth2
	discordgo.EndpointOauth2Applications = discordgo.EndpointOAuth2Applications
}

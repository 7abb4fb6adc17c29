// Package telegram talks to the Telegram Bot API for the relay: registration, inbound update parsing, and reply delivery.
//
// API calls go through github.com/go-telegram/bot, one *bot.Bot per token, created without a network
// call or a goroutine and kept in a small cache. The library drops HTTP statuses and turns a non-JSON
// answer (an HTML 502 from a proxy) into a decode error, so every call runs with a recording HTTP
// client (client.go) and errors are built from the recorded status and body, never from the library's
// error texts: those may quote response bodies, and bot tokens live in Telegram URLs (PROTOCOL §10.4).
//
// Inbound updates are decoded here with encoding/json (ParseUpdate), not by the library: its webhook
// handler answers a wrong secret with an empty 200 and only feeds a channel drained by StartWebhook.
// The secret check and storage stay in the server; pairing and the allowlist are pure functions here.
package telegram

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/apihttp"
)

// DefaultAPIURL is the Bot API base used when Config.APIURL is empty.
const DefaultAPIURL = "https://api.telegram.org"

// DefaultTimeout bounds every Bot API call when Config.Timeout is zero (PROTOCOL §7.5).
const DefaultTimeout = 10 * time.Second

// MaxPartUnits is the longest sendMessage text Telegram accepts, in UTF-16 units.
const MaxPartUnits = 4096

// maxBots bounds the bot cache. Registration attempts with bad tokens also create bots, so the
// cache must not grow without limit; a bot is cheap to rebuild, so eviction is arbitrary.
const maxBots = 1024

// Config configures the adapter.
type Config struct {
	APIURL  string        // RELAY_TELEGRAM_API_URL, default "https://api.telegram.org"
	Timeout time.Duration `setting:"-"` // per call, default 10s
	HTTP    *http.Client  `setting:"-"` // optional base client (tests); copied, with Timeout capped and redirects kept on the host
}

// Adapter calls the Bot API on behalf of every Telegram channel. It is safe for concurrent use.
type Adapter struct {
	apiURL  string
	timeout time.Duration
	client  recordingClient
	log     *slog.Logger

	mu   sync.Mutex
	bots map[string]*bot.Bot // by token
}

var _ channels.Sender = (*Adapter)(nil)

// New returns an adapter. It makes no network call. A nil log discards.
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
	return &Adapter{
		apiURL:  strings.TrimRight(cfg.APIURL, "/"),
		timeout: cfg.Timeout,
		client:  recordingClient{c: apihttp.NewClient(cfg.HTTP, cfg.Timeout)},
		log:     log,
		bots:    make(map[string]*bot.Bot),
	}
}

// MaxPartUnits implements channels.Sender: Telegram texts hold at most 4096 UTF-16 units.
func (a *Adapter) MaxPartUnits() int { return MaxPartUnits }

// errEmptyToken is returned for an empty or blank token, which bot.New refuses.
var errEmptyToken = errors.New("empty bot token")

// bot returns the cached bot for token, creating it without a network call or a goroutine.
// The library puts the token into the URL path as is; escaping it keeps a malformed token (with
// "/", "?" or "#") from addressing another path. Real tokens ("123:AA-z_") are unchanged.
func (a *Adapter) bot(token string) (*bot.Bot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b, ok := a.bots[token]; ok {
		return b, nil
	}
	b, err := bot.New(url.PathEscape(token),
		bot.WithServerURL(a.apiURL),
		bot.WithSkipGetMe(),
		bot.WithHTTPClient(a.timeout, a.client),
		bot.WithUpdatesChannelCap(0),
		bot.WithNotAsyncHandlers(),
		// The relay never runs the library's update loop; these keep its log.Printf defaults
		// (which would print whole updates) from ever firing.
		bot.WithDefaultHandler(func(context.Context, *bot.Bot, *models.Update) {}),
		bot.WithDebugHandler(func(string, ...any) {}),
		bot.WithErrorsHandler(func(err error) {
			a.log.Debug("bot library error", "err", scrub(err.Error(), token))
		}),
	)
	if err != nil {
		// Only an empty token fails here; the library's text is not used, it could name the token.
		return nil, errEmptyToken
	}
	if len(a.bots) >= maxBots {
		for k := range a.bots {
			delete(a.bots, k)
			break
		}
	}
	a.bots[token] = b
	return b, nil
}

// scrub removes token (as given and as escaped into URLs) from s, so that no text built from a
// library or server message can leak it.
func scrub(s, token string) string {
	return apihttp.Scrub(s, token, "<token>")
}

package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/server/outbox"
)

// Defaults of PROTOCOL §10.3. Each is the original relay's behaviour or the
// smallest value that keeps its clients working.
const (
	DefaultHost              = "127.0.0.1" // loopback: production sits behind a TLS proxy
	DefaultPort              = 8787
	DefaultDataDir           = "./data"
	DefaultMaxBodyBytes      = 1 << 20 // 1 MiB: far above any chat message, bounds memory per request
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultRetention         = 24 * time.Hour
	DefaultSweepInterval     = 10 * time.Minute
	DefaultMaxBacklog        = 100_000
	DefaultStoreBatchMaxSize = 64
	DefaultTelegramAPIURL    = "https://api.telegram.org"
	DefaultDiscordAPIURL     = "https://discord.com/api/v10"
	DefaultResendAPIURL      = "https://api.resend.com"
)

// Config is every setting of PROTOCOL §10.3. cmd/relay fills it from flags and
// the environment; tests build it with DefaultConfig and change what they need.
type Config struct {
	Host            string
	Port            int
	DataDir         string
	BaseURL         string // public origin without a trailing slash; "" = from the request
	TrustedProxies  []netip.Prefix
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration

	RootKey    string `secret:"true"` // base64; "" = <DataDir>/root.key
	NewRootKey string `secret:"true"` // read only by rotate-root-key
	AdminKey   string `secret:"true"`

	EmailDomain         string
	ResendAPIKey        string `secret:"true"`
	ResendWebhookSecret string `secret:"true"`

	WS live.Config

	// MCP is the /mcp bridge (PROTOCOL §13.9); its rate limit is
	// RateLimits.MCP.
	MCP mcp.Config

	Retention         time.Duration
	SweepInterval     time.Duration
	MaxBacklogPerUser int

	RateLimits ratelimit.Config

	Delivery outbox.Config

	StoreBatchMaxSize int

	LogLevel  string // debug, info, warn, error
	LogFormat string // text, json

	MetricsToken string `secret:"true"`

	TelegramAPIURL string
	DiscordAPIURL  string
	ResendAPIURL   string

	// DiscordGateway turns the Discord gateway sessions on (an addition to
	// PROTOCOL §10.3: deployments that only want interactions switch it off).
	DiscordGateway bool

	// DebugAddr, when set, serves net/http/pprof there (an addition to
	// PROTOCOL §10.3 for profiling; keep it on loopback).
	DebugAddr string
}

// DefaultConfig returns the configuration of a relay with nothing configured.
func DefaultConfig() Config {
	return Config{
		Host:              DefaultHost,
		Port:              DefaultPort,
		DataDir:           DefaultDataDir,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		ShutdownTimeout:   DefaultShutdownTimeout,
		WS:                live.DefaultConfig(),
		MCP:               mcp.DefaultConfig(),
		Retention:         DefaultRetention,
		SweepInterval:     DefaultSweepInterval,
		MaxBacklogPerUser: DefaultMaxBacklog,
		RateLimits:        ratelimit.DefaultConfig(),
		Delivery:          outbox.DefaultConfig(),
		StoreBatchMaxSize: DefaultStoreBatchMaxSize,
		LogLevel:          "info",
		LogFormat:         "text",
		TelegramAPIURL:    DefaultTelegramAPIURL,
		DiscordAPIURL:     DefaultDiscordAPIURL,
		ResendAPIURL:      DefaultResendAPIURL,
		DiscordGateway:    true,
	}
}

// Validate checks the cross-field and range rules; its error names the setting.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, name, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
		}
	}
	check(c.Port >= 0 && c.Port <= 65535, "RELAY_PORT", "must be 0-65535")
	check(c.DataDir != "", "RELAY_DATA_DIR", "must not be empty")
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
			(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "",
			"RELAY_BASE_URL", "must be an http(s) origin without a path, got %q", c.BaseURL)
	}
	check(c.MaxBodyBytes > 0, "RELAY_MAX_BODY_BYTES", "must be positive")
	check(c.ShutdownTimeout > 0, "RELAY_SHUTDOWN_TIMEOUT", "must be positive")
	if err := c.WS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.MCP.Validate(); err != nil {
		errs = append(errs, err)
	}
	check(c.Retention > 0, "RELAY_RETENTION", "must be positive")
	check(c.SweepInterval > 0, "RELAY_SWEEP_INTERVAL", "must be positive")
	check(c.MaxBacklogPerUser > 0, "RELAY_MAX_BACKLOG_PER_USER", "must be positive")
	if err := c.Delivery.Validate(); err != nil {
		errs = append(errs, err)
	}
	check(c.StoreBatchMaxSize > 0, "RELAY_STORE_BATCH_MAX_SIZE", "must be positive")
	check(oneOf(c.LogLevel, "debug", "info", "warn", "error"), "RELAY_LOG_LEVEL", "must be debug, info, warn or error")
	check(oneOf(c.LogFormat, "text", "json"), "RELAY_LOG_FORMAT", "must be text or json")
	for name, v := range map[string]string{"RELAY_TELEGRAM_API_URL": c.TelegramAPIURL, "RELAY_DISCORD_API_URL": c.DiscordAPIURL, "RELAY_RESEND_API_URL": c.ResendAPIURL} {
		u, err := url.Parse(v)
		check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", name, "must be an http(s) URL")
	}
	if err := c.RateLimits.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Addr is the listen address.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

func oneOf(v string, options ...string) bool { return slices.Contains(options, v) }

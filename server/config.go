package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/server/outbox"
)

// Defaults of the server's settings (PROTOCOL §10.3). Each is the original
// relay's behaviour or the smallest value that keeps its clients working.
const (
	DefaultHost            = "127.0.0.1" // loopback: production sits behind a TLS proxy
	DefaultPort            = 8787
	DefaultMaxBodyBytes    = 1 << 20 // 1 MiB: far above any chat message, bounds memory per request
	DefaultShutdownTimeout = 10 * time.Second
	DefaultRetention       = 24 * time.Hour
	DefaultMaxRetention    = 720 * time.Hour // a month: the longest a channel may keep its messages
	DefaultSweepInterval   = 10 * time.Minute
	DefaultMaxBacklog      = 100_000
)

// Config is the server's part of the relay's configuration: HTTP, the
// WebSocket hub, the reply outbox and retention. The process's whole
// configuration (cmd/relay/app) embeds it.
type Config struct {
	Host            string
	Port            int
	BaseURL         string // public origin without a trailing slash; "" = from the request
	TrustedProxies  []netip.Prefix
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration

	AdminKey     string `secret:"true"`
	MetricsToken string `secret:"true"`
	// MetricsChannelIDs exports relay_channel_last_inbound_timestamp_seconds,
	// labelled by channel id (RELAY_METRICS_CHANNEL_IDS, an addition to
	// PROTOCOL §10.2, whose labels otherwise carry no channel ids).
	MetricsChannelIDs bool

	WS       live.Config
	Delivery outbox.Config

	// MCP is the /mcp bridge (PROTOCOL §13.9); its rate limit is
	// RateLimits.MCP.
	MCP mcp.Config

	Retention         time.Duration
	MaxRetention      time.Duration // the longest retention a channel may set
	SweepInterval     time.Duration
	MaxBacklogPerUser int

	// DebugAddr, when set, serves net/http/pprof there (an addition to
	// PROTOCOL §10.3 for profiling; keep it on loopback).
	DebugAddr string
}

// DefaultConfig returns the server configuration of a relay with nothing
// configured.
func DefaultConfig() Config {
	return Config{
		Host:              DefaultHost,
		Port:              DefaultPort,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		ShutdownTimeout:   DefaultShutdownTimeout,
		WS:                live.DefaultConfig(),
		Delivery:          outbox.DefaultConfig(),
		MCP:               mcp.DefaultConfig(),
		Retention:         DefaultRetention,
		MaxRetention:      DefaultMaxRetention,
		SweepInterval:     DefaultSweepInterval,
		MaxBacklogPerUser: DefaultMaxBacklog,
	}
}

// Validate checks the cross-field and range rules; its errors name the
// variables.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, name, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
		}
	}
	check(c.Port >= 0 && c.Port <= 65535, "RELAY_PORT", "must be 0-65535")
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
			(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "",
			"RELAY_BASE_URL", "must be an http(s) origin without a path, got %q", c.BaseURL)
	}
	check(c.MaxBodyBytes > 0, "RELAY_MAX_BODY_BYTES", "must be positive")
	check(c.ShutdownTimeout > 0, "RELAY_SHUTDOWN_TIMEOUT", "must be positive")
	check(c.Retention > 0, "RELAY_RETENTION", "must be positive")
	check(c.MaxRetention >= minChannelRetention, "RELAY_MAX_RETENTION", "must be at least %s", minChannelRetention)
	check(c.SweepInterval > 0, "RELAY_SWEEP_INTERVAL", "must be positive")
	check(c.MaxBacklogPerUser > 0, "RELAY_MAX_BACKLOG_PER_USER", "must be positive")
	errs = append(errs, c.WS.Validate(), c.Delivery.Validate(), c.MCP.Validate())
	return errors.Join(errs...)
}

// Addr is the listen address.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

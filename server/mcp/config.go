package mcp

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Defaults of the RELAY_MCP_* settings (PROTOCOL §13.9).
const (
	DefaultRequestTimeout     = 30 * time.Second // TypeScript SDK clients give up after 60 s
	DefaultDisconnectGrace    = 10 * time.Second // the extension reconnects after 5 s at first
	DefaultMaxInflight        = 16
	DefaultMaxResponseBytes   = 4 << 20
	DefaultSessionTTL         = 30 * time.Minute // the original's
	DefaultMaxSessionsPerUser = 64

	// MinRequestTimeout and MaxRequestTimeout bound RELAY_MCP_REQUEST_TIMEOUT.
	MinRequestTimeout = time.Second
	MaxRequestTimeout = 10 * time.Minute
)

// Config is the MCP bridge's part of the relay's configuration. The rate
// limit (RELAY_RATE_MCP) is with the other limits, in ratelimit.Config.
type Config struct {
	// Enabled serves /mcp (RELAY_MCP); off, every /mcp path is 404.
	Enabled bool
	// AllowedOrigins, when not empty, are the only Origin values accepted
	// (exact scheme://host[:port]); requests without Origin are accepted.
	AllowedOrigins []string
	// RequestTimeout is how long a forwarded request waits for its answer.
	RequestTimeout time.Duration
	// DisconnectGrace is how long a forwarded request waits once the user
	// has no socket left.
	DisconnectGrace time.Duration
	// MaxInflight bounds the forwarded requests of one user.
	MaxInflight int
	// MaxResponseBytes is the largest mcp-response frame a socket reads while
	// its user has a forwarded request pending.
	MaxResponseBytes int64
	// SessionTTL is an MCP session's idle lifetime.
	SessionTTL time.Duration
	// MaxSessionsPerUser bounds a user's live sessions; the least recently
	// used is evicted beyond it.
	MaxSessionsPerUser int
}

// DefaultConfig is the bridge's configuration with nothing set: enabled,
// any Origin.
func DefaultConfig() Config {
	return Config{
		Enabled:            true,
		RequestTimeout:     DefaultRequestTimeout,
		DisconnectGrace:    DefaultDisconnectGrace,
		MaxInflight:        DefaultMaxInflight,
		MaxResponseBytes:   DefaultMaxResponseBytes,
		SessionTTL:         DefaultSessionTTL,
		MaxSessionsPerUser: DefaultMaxSessionsPerUser,
	}
}

// Validate checks the ranges; its error names the variable.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, name, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
		}
	}
	check(c.RequestTimeout >= MinRequestTimeout && c.RequestTimeout <= MaxRequestTimeout,
		"RELAY_MCP_REQUEST_TIMEOUT", "must be between %s and %s", MinRequestTimeout, MaxRequestTimeout)
	check(c.DisconnectGrace > 0, "RELAY_MCP_DISCONNECT_GRACE", "must be positive")
	check(c.MaxInflight > 0, "RELAY_MCP_MAX_INFLIGHT", "must be positive")
	check(c.MaxResponseBytes > 0, "RELAY_MCP_MAX_RESPONSE_BYTES", "must be positive")
	check(c.SessionTTL > 0, "RELAY_MCP_SESSION_TTL", "must be positive")
	check(c.MaxSessionsPerUser > 0, "RELAY_MCP_MAX_SESSIONS_PER_USER", "must be positive")
	for _, o := range c.AllowedOrigins {
		check(isOrigin(o), "RELAY_MCP_ALLOWED_ORIGINS", "%q is not an origin (scheme://host[:port])", o)
	}
	return errors.Join(errs...)
}

// isOrigin reports whether o is a serialized origin: a scheme and a host,
// with neither a path, a query, a fragment nor user info.
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && u.Scheme != "" && u.Host != "" && u.Path == "" && u.RawQuery == "" &&
		u.Fragment == "" && u.User == nil && u.Opaque == ""
}

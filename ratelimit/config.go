package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Name identifies one limit of PROTOCOL §8.
type Name string

// The limits of PROTOCOL §8. The comments give the key each limit is
// counted by; the server builds it and passes it to [Limiters.Allow].
const (
	Register     Name = "register"      // POST /auth/register, per client IP
	Messages     Name = "messages"      // GET /messages, per user
	Reply        Name = "reply"         // POST /reply and WebSocket replies, per user
	Webhook      Name = "webhook"       // every inbound webhook route and Discord gateway events, per channel
	EmailInbound Name = "email-inbound" // POST /email/inbound, one global bucket
	Channels     Name = "channels"      // POST /channels and the three register routes, per user
	AdminLogin   Name = "admin-login"   // POST /admin/login, per client IP
	MCP          Name = "mcp"           // every authenticated /mcp request, per user
)

// Config is every limit of §8 plus the off switch.
type Config struct {
	// Disabled turns every limit off (RELAY_RATE_LIMITS=off). It exists for
	// benchmarks and for conformance suites that register from one IP
	// more often than the default allows.
	Disabled bool

	Register     Rate // RELAY_RATE_REGISTER
	Messages     Rate // RELAY_RATE_MESSAGES
	Reply        Rate // RELAY_RATE_REPLY
	Webhook      Rate // RELAY_RATE_WEBHOOK
	EmailInbound Rate // RELAY_RATE_EMAIL_INBOUND
	Channels     Rate // RELAY_RATE_CHANNELS
	AdminLogin   Rate // RELAY_RATE_ADMIN_LOGIN
	MCP          Rate // RELAY_RATE_MCP
}

// DefaultConfig returns the defaults of PROTOCOL §8. (Rate is a struct, so
// the defaults cannot be constants, and package variables could be changed
// by anyone; a function hands out a fresh copy.)
func DefaultConfig() Config {
	return Config{
		Register:     Rate{N: 100, Per: time.Hour},
		Messages:     Rate{N: 120, Per: time.Minute}, // two polls a second, sustained
		Reply:        Rate{N: 30, Per: time.Minute},
		Webhook:      Rate{N: 60, Per: time.Minute}, // one message a second per channel
		EmailInbound: Rate{N: 60, Per: time.Minute},
		Channels:     Rate{N: 100, Per: time.Hour},
		AdminLogin:   Rate{N: 10, Per: 15 * time.Minute}, // 40 password guesses an hour per IP
		MCP:          Rate{N: 120, Per: time.Minute},     // the original's 120 per minute
	}
}

// namedRate pairs a limit with its rate, so that Validate and New walk one list.
type namedRate struct {
	name Name
	rate Rate
}

// rates lists every limit of c in the order of PROTOCOL §8.
func (c Config) rates() [numLimits]namedRate {
	return [...]namedRate{
		{Register, c.Register},
		{Messages, c.Messages},
		{Reply, c.Reply},
		{Webhook, c.Webhook},
		{EmailInbound, c.EmailInbound},
		{Channels, c.Channels},
		{AdminLogin, c.AdminLogin},
		{MCP, c.MCP},
	}
}

// Validate reports every rate that cannot be a token bucket (a count below 1
// or a duration that is not positive), such as a zero Rate left unset. A
// disabled Config uses no rate, so it is always valid.
func (c Config) Validate() error {
	if c.Disabled {
		return nil
	}
	var errs []error
	for _, nr := range c.rates() {
		if err := nr.rate.validate(); err != nil {
			errs = append(errs, fmt.Errorf("ratelimit: %s rate %s: %w", nr.name, nr.rate, err))
		}
	}
	return errors.Join(errs...)
}

package ratelimit

import (
	"fmt"
	"time"
)

// emailInboundKey is the one key of the global email-inbound limit.
const emailInboundKey = "email-inbound"

// numLimits is the number of Name constants.
const numLimits = 8

// index maps a Name to its slot in Limiters.keyed.
func index(name Name) (int, bool) {
	switch name {
	case Register:
		return 0, true
	case Messages:
		return 1, true
	case Reply:
		return 2, true
	case Webhook:
		return 3, true
	case EmailInbound:
		return 4, true
	case Channels:
		return 5, true
	case AdminLogin:
		return 6, true
	case MCP:
		return 7, true
	}
	return 0, false
}

// Limiters is every limit of a Config. A nil *Limiters or a disabled Config
// admits everything. It is safe for concurrent use.
type Limiters struct {
	disabled bool
	keyed    [numLimits]*Keyed // by index(name); all nil when disabled
}

// New returns the limiters of cfg; now == nil means time.Now. It panics if
// cfg is not valid: call cfg.Validate first.
func New(cfg Config, now func() time.Time) *Limiters {
	if cfg.Disabled {
		return &Limiters{disabled: true}
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	l := &Limiters{}
	for _, nr := range cfg.rates() {
		i, _ := index(nr.name)
		l.keyed[i] = NewKeyed(nr.rate, now)
	}
	return l
}

// Allow takes a token from limit name's bucket for key (e.g. a user id,
// channel id or IP; the email-inbound limit uses one global key, so key is
// ignored for EmailInbound). When the bucket is empty it takes nothing and
// returns ok=false and the time until a token will be available (> 0).
//
// Allow panics on a name that is not one of the Name constants: that is a
// bug in the caller, which any test of the route finds.
func (l *Limiters) Allow(name Name, key string) (retryAfter time.Duration, ok bool) {
	if l == nil || l.disabled {
		return 0, true
	}
	i, known := index(name)
	if !known {
		panic(fmt.Sprintf("ratelimit: unknown limit %q", name))
	}
	if name == EmailInbound {
		key = emailInboundKey
	}
	return l.keyed[i].Reserve(key)
}

// Prune prunes every limit and returns how many keys were removed in all.
// Call it periodically: keys are otherwise never forgotten.
func (l *Limiters) Prune() int {
	if l == nil || l.disabled {
		return 0
	}
	n := 0
	for _, k := range l.keyed {
		n += k.Prune()
	}
	return n
}

// Disabled reports whether l admits everything: it is nil or was built from
// a disabled Config.
func (l *Limiters) Disabled() bool {
	return l == nil || l.disabled
}

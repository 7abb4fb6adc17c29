package outbox

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the RELAY_DELIVERY_* settings (PROTOCOL §7.5, §10.3).
const (
	// DefaultWorkers is how many channels are attempted at once: replies of
	// one channel go out one at a time, so more workers only help with many
	// busy channels.
	DefaultWorkers = 4
	// DefaultMaxAttempts with the backoff cap keeps retrying for about a day.
	DefaultMaxAttempts = 200
	// DefaultMaxAge fails a reply that could not be delivered within a day:
	// later, it would answer a conversation that has moved on.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxBackoff caps the exponential delay between attempts.
	DefaultMaxBackoff = 10 * time.Minute
)

// Config is the reply outbox's part of the relay's configuration.
type Config struct {
	Workers     int
	MaxAttempts int
	MaxAge      time.Duration
	MaxBackoff  time.Duration
}

// DefaultConfig is the outbox of a relay with nothing configured.
func DefaultConfig() Config {
	return Config{Workers: DefaultWorkers, MaxAttempts: DefaultMaxAttempts, MaxAge: DefaultMaxAge, MaxBackoff: DefaultMaxBackoff}
}

// Validate checks the ranges; its error names the variable.
func (c Config) Validate() error {
	var errs []error
	for _, v := range []struct {
		ok   bool
		name string
	}{
		{c.Workers > 0, "RELAY_DELIVERY_WORKERS"},
		{c.MaxAttempts > 0, "RELAY_DELIVERY_MAX_ATTEMPTS"},
		{c.MaxAge > 0, "RELAY_DELIVERY_MAX_AGE"},
		{c.MaxBackoff > 0, "RELAY_DELIVERY_MAX_BACKOFF"},
	} {
		if !v.ok {
			errs = append(errs, fmt.Errorf("%s: must be positive", v.name))
		}
	}
	return errors.Join(errs...)
}

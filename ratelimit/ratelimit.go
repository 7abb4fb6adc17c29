// Package ratelimit holds the relay's token-bucket limiters, keyed by user,
// channel or client IP (PROTOCOL §8).
//
// Each limit "N per window" is a token bucket built on golang.org/x/time/rate:
// a burst of N, refilled continuously at N per window. An admitted request
// takes one token; a refused request takes nothing and learns how long to
// wait. Buckets live in memory and idle keys are forgotten once their bucket
// is full again, because such a bucket behaves exactly like a new one.
//
// The package knows nothing about HTTP: the server derives keys, calls
// [Limiters.Allow], and turns a refusal into [ErrLimited], which its error
// handler maps to 429 with a Retry-After header of [RetryAfterSeconds].
package ratelimit

import (
	"errors"
	"time"
)

// ErrLimited is the sentinel the HTTP layer maps to 429.
var ErrLimited = errors.New("ratelimit: limit exceeded")

// RetryAfterSeconds is the Retry-After header value: whole seconds, rounded
// up, at least 1 (PROTOCOL §8). A client that waits that long is admitted.
func RetryAfterSeconds(d time.Duration) int {
	if d <= 0 {
		return 1
	}
	// Integer arithmetic: math.Ceil(d.Seconds()) would overflow for huge d.
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return int(max(s, 1))
}

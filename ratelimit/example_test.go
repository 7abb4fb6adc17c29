package ratelimit_test

import (
	"fmt"
	"time"

	"github.com/chaos-relay/relay/ratelimit"
)

func ExampleParseRate() {
	r, err := ratelimit.ParseRate("100/h")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.N, r.Per, r)
	// Output: 100 1h0m0s 100/1h
}

func ExampleLimiters_Allow() {
	cfg := ratelimit.DefaultConfig() // admin login: 10 per 15 minutes
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l := ratelimit.New(cfg, func() time.Time { return start })

	for range 10 {
		l.Allow(ratelimit.AdminLogin, "203.0.113.7")
	}
	if d, ok := l.Allow(ratelimit.AdminLogin, "203.0.113.7"); !ok {
		fmt.Printf("429, Retry-After: %d\n", ratelimit.RetryAfterSeconds(d))
	}
	// Output: 429, Retry-After: 90
}

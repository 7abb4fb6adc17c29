package ratelimit

import (
	"math"
	"testing"
	"time"
)

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 1},
		{0, 1},
		{1, 1},
		{200 * time.Millisecond, 1},
		{time.Second, 1},
		{1010 * time.Millisecond, 2},
		{59500 * time.Millisecond, 60},
		{time.Minute, 60},
		{90 * time.Second, 90},
		{math.MaxInt64, math.MaxInt64/int(time.Second) + 1},
	}
	for _, tt := range tests {
		equal(t, "RetryAfterSeconds("+tt.d.String()+")", RetryAfterSeconds(tt.d), tt.want)
	}
}

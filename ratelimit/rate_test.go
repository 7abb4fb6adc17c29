package ratelimit

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
	}{
		{"100/1h", Rate{100, time.Hour}},
		{"120/1m", Rate{120, time.Minute}},
		{"10/15m", Rate{10, 15 * time.Minute}},
		{"100/h", Rate{100, time.Hour}},
		{"60/s", Rate{60, time.Second}},
		{"5/ms", Rate{5, time.Millisecond}},
		{"1/m", Rate{1, time.Minute}},
		{"30/90s", Rate{30, 90 * time.Second}},
		{"30/1h30m", Rate{30, 90 * time.Minute}},
		{"30/1.5h", Rate{30, 90 * time.Minute}},
		{"007/1m", Rate{7, time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			noErr(t, err)
			equal(t, "ParseRate", got, tt.want)
		})
	}
}

func TestParseRateInvalid(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"0/1m", "count 0 must be at least 1"},
		{"-1/1m", "not a whole number"},
		{"+1/1m", "not a whole number"},
		{" 1/1m", "not a whole number"},
		{"abc/1m", "not a whole number"},
		{"/1m", "not a whole number"},
		{"99999999999999999999/1m", "out of range"},
		{"10", "want <count>/<duration>"},
		{"", "want <count>/<duration>"},
		{"10/", "missing duration"},
		{"10/0s", "duration must be positive"},
		{"10/0", "duration must be positive"},
		{"10/-1m", "duration must be positive"},
		{"10/xyz", `unknown duration unit "xyz"`},
		{"10/1xyz", "duration: time: unknown unit"},
		{"10/1m/1m", `duration: time: unknown unit "m/"`},
		{"10/1m ", "duration: time: unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			errContains(t, err, `ratelimit: invalid rate "`+tt.in+`": `)
			errContains(t, err, tt.why)
			equal(t, "rate", got, Rate{})
		})
	}
}

func TestRateString(t *testing.T) {
	tests := []struct {
		r    Rate
		want string
	}{
		{Rate{100, time.Hour}, "100/1h"},
		{Rate{120, time.Minute}, "120/1m"},
		{Rate{10, 15 * time.Minute}, "10/15m"},
		{Rate{60, time.Second}, "60/1s"},
		{Rate{30, 90 * time.Second}, "30/90s"},
		{Rate{30, 90 * time.Minute}, "30/90m"},
		{Rate{5, 24 * time.Hour}, "5/24h"},
		{Rate{5, 1500 * time.Millisecond}, "5/1500ms"},
		{Rate{5, 3 * time.Microsecond}, "5/3us"},
		{Rate{5, 7}, "5/7ns"},
		{Rate{}, "0/0s"},
		{Rate{-1, -time.Minute}, "-1/-1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			equal(t, "String", tt.r.String(), tt.want)
			if tt.r.validate() != nil {
				return
			}
			back, err := ParseRate(tt.r.String())
			noErr(t, err)
			equal(t, "ParseRate(String)", back, tt.r)
		})
	}
}

// FuzzParseRate checks that every rate ParseRate accepts is valid and
// survives a round trip through String.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/1h", "10/15m", "100/h", "60/s", "1/1.5h", "0/1m", "10/xyz", "5/1h1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		noErr(t, r.validate())
		back, err := ParseRate(r.String())
		noErr(t, err)
		equal(t, "ParseRate(String)", back, r)
	})
}

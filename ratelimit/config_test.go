package ratelimit

import (
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	equal(t, "Disabled", c.Disabled, false)
	want := map[Name]string{
		Register:     "100/1h",
		Messages:     "120/1m",
		Reply:        "30/1m",
		Webhook:      "60/1m",
		EmailInbound: "60/1m",
		Channels:     "100/1h",
		AdminLogin:   "10/15m",
		MCP:          "120/1m",
	}
	rates := c.rates()
	equal(t, "number of limits", len(rates), len(want))
	for _, nr := range rates {
		equal(t, string(nr.name), nr.rate.String(), want[nr.name])
	}
	equal(t, "AdminLogin", c.AdminLogin, Rate{N: 10, Per: 15 * time.Minute})
	noErr(t, c.Validate())
}

func TestValidate(t *testing.T) {
	err := Config{}.Validate()
	for _, name := range []Name{Register, Messages, Reply, Webhook, EmailInbound, Channels, AdminLogin, MCP} {
		errContains(t, err, "ratelimit: "+string(name)+" rate 0/0s: count 0 must be at least 1")
	}

	c := DefaultConfig()
	c.Webhook = Rate{N: 60}
	err = c.Validate()
	errContains(t, err, "ratelimit: webhook rate 60/0s: duration must be positive")
	equal(t, "error", err.Error(), "ratelimit: webhook rate 60/0s: duration must be positive")

	c = DefaultConfig()
	c.Reply.Per = -time.Second
	errContains(t, c.Validate(), "reply rate")

	// A disabled Config uses no rate, so even the zero rates are fine.
	noErr(t, Config{Disabled: true}.Validate())
}

package live

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the RELAY_WS_* settings (PROTOCOL §6, §10.3): each is the
// original relay's behaviour or the smallest value that keeps its clients
// working.
const (
	DefaultMaxConnPerUser = 5
	DefaultPingInterval   = 30 * time.Second
	DefaultPongTimeout    = 60 * time.Second // two missed pings
	DefaultSendQueue      = 256
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxFrameBytes  = 64 << 10
	DefaultReplayWindow   = 5 * time.Minute // what the original replayed on connect
)

// Config is the WebSocket part of the relay's configuration.
type Config struct {
	MaxConnPerUser int
	PingInterval   time.Duration
	PongTimeout    time.Duration
	// SendQueue bounds what may wait for a socket: messages committed and not
	// yet written, plus queued frames of any other kind. Past it the socket is
	// a slow consumer and is closed with 1013.
	SendQueue     int
	WriteTimeout  time.Duration
	MaxFrameBytes int64
	ReplayWindow  time.Duration
}

// DefaultConfig is the WebSocket configuration of a relay with nothing set.
func DefaultConfig() Config {
	return Config{
		MaxConnPerUser: DefaultMaxConnPerUser,
		PingInterval:   DefaultPingInterval,
		PongTimeout:    DefaultPongTimeout,
		SendQueue:      DefaultSendQueue,
		WriteTimeout:   DefaultWriteTimeout,
		MaxFrameBytes:  DefaultMaxFrameBytes,
		ReplayWindow:   DefaultReplayWindow,
	}
}

// Validate checks the ranges; its error names the variable.
func (c Config) Validate() error {
	var errs []error
	for _, v := range []struct {
		ok   bool
		name string
	}{
		{c.MaxConnPerUser > 0, "RELAY_WS_MAX_CONN_PER_USER"},
		{c.PingInterval > 0, "RELAY_WS_PING_INTERVAL"},
		{c.PongTimeout > 0, "RELAY_WS_PONG_TIMEOUT"},
		{c.SendQueue > 0, "RELAY_WS_SEND_QUEUE"},
		{c.WriteTimeout > 0, "RELAY_WS_WRITE_TIMEOUT"},
		{c.MaxFrameBytes > 0, "RELAY_WS_MAX_FRAME_BYTES"},
	} {
		if !v.ok {
			errs = append(errs, fmt.Errorf("%s: must be positive", v.name))
		}
	}
	if c.ReplayWindow < 0 {
		errs = append(errs, errors.New("RELAY_WS_REPLAY_WINDOW: must not be negative"))
	}
	return errors.Join(errs...)
}

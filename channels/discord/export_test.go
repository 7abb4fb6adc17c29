package discord

import "time"

// SetBackoff shortens the gateway reconnect back-off for tests.
func SetBackoff(a *Adapter, lo, hi time.Duration) {
	a.minBackoff, a.maxBackoff = lo, hi
}

// SessionClosed is closed once the session of channelID has closed.
func SessionClosed(a *Adapter, channelID string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[channelID].done
}

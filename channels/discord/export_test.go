package discord

import "time"

// SetBackoff shortens the gateway reconnect back-off for tests.
func SetBackoff(a *Adapter, lo, hi time.Duration) {
	a.minBackoff, a.maxBackoff = lo, hi
}

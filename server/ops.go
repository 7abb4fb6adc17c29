package server

import (
	"net/http"

	"github.com/chaos-relay/relay/server/live"
)

// maxUserAgent is how much of a client's User-Agent the admin's records
// keep: enough to tell the extension's version, bounded for memory.
const maxUserAgent = 200

// clientInfo is what the admin is shown of a request's client: its IP as
// the rate limits see it (PROTOCOL §1.9) and its User-Agent.
func (s *Server) clientInfo(r *http.Request) live.ClientInfo {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return live.ClientInfo{RemoteAddr: clientIP(r, s.cfg.TrustedProxies), UserAgent: ua}
}

package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the address rate limits are keyed by (PROTOCOL §1.9): the TCP
// peer, unless the peer is a trusted proxy; then the right-most address of
// X-Forwarded-For that is not a trusted proxy, else X-Real-IP. Unparseable
// values fall back to the peer.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddr(r)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		parts := strings.Split(strings.Join(xff, ","), ",")
		for i := len(parts) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
			if err != nil {
				return peer.String()
			}
			if a = a.Unmap(); !isTrusted(a, trusted) {
				return a.String()
			}
		}
		return peer.String()
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
		return a.Unmap().String()
	}
	return peer.String()
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// publicOrigin is the origin of absolute URLs the relay hands out (PROTOCOL
// §1.1): RELAY_BASE_URL when set, else the request's scheme and host, where
// X-Forwarded-Proto and X-Forwarded-Host count only from a trusted proxy.
func (s *Server) publicOrigin(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if peer := peerAddr(r); peer.IsValid() && isTrusted(peer, s.cfg.TrustedProxies) {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

// firstValue is the first entry of a comma-separated header.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.ToLower(strings.TrimSpace(v))
}

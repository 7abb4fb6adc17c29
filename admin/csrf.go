package admin

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"
)

var errForbidden = httpError(http.StatusForbidden, msgForbidden)

// csrf refuses cross-site POST and DELETE requests (PROTOCOL §9): an Origin
// header that differs from the public origin, or Sec-Fetch-Site: cross-site,
// gets 403 {"error":"Forbidden"}. The SameSite=Strict cookie already keeps
// browsers from sending the session cross-site; this also covers logins
// (login CSRF) and browsers that ignore SameSite.
//
// One refinement: the admin pages carry Referrer-Policy: no-referrer (§1.10),
// and under that policy browsers send "Origin: null" on their own same-origin
// form posts, so the login and logout forms would always be refused. An
// opaque origin is therefore accepted only together with Sec-Fetch-Site:
// same-origin, which browsers set themselves and pages cannot forge; a
// cross-site page (sandboxed or with its own no-referrer policy) sends
// cross-site there, and a client that sends neither is refused.
func (h *Handler) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		site := strings.ToLower(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site")))
		if site == "cross-site" {
			return errForbidden
		}
		if origins := r.Header.Values("Origin"); len(origins) > 0 {
			want, ok := normalizeOrigin(h.relay.PublicOrigin(r))
			if !ok {
				return errForbidden
			}
			for _, o := range origins {
				if strings.TrimSpace(o) == "null" && site == "same-origin" {
					continue
				}
				if got, ok := normalizeOrigin(o); !ok || got != want {
					return errForbidden
				}
			}
		}
		return next(c)
	}
}

// normalizeOrigin reduces an origin (or a URL) to scheme://host[:port],
// lower-cased, without the scheme's default port. It fails on anything that
// has no scheme and host, such as the opaque origin "null".
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

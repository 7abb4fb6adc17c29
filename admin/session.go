package admin

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// tokenHash is the store key of an admin session: SHA-256 of the token's
// ASCII bytes (PROTOCOL §9, §11.3). The token itself is never stored.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// sessionToken returns the request's admin cookie value, or "".
func sessionToken(r *http.Request) string {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return ck.Value
}

// authenticated reports whether the request carries a valid admin session:
// the admin is configured, the cookie names a stored session, and that
// session is younger than SessionTTL. A store failure counts as "no", so an
// unreadable store never opens the dashboard; it is logged.
func (h *Handler) authenticated(c *echo.Context) bool {
	token := sessionToken(c.Request())
	if h.key == "" || token == "" || len(token) > 64 {
		return false
	}
	created, err := h.store.AdminSession(c.Request().Context(), tokenHash(token))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.log.Error("read admin session", "err", err)
		}
		return false
	}
	return h.now().Sub(created) < SessionTTL
}

// requireSession guards the JSON routes: 401 {"error":"Unauthorized"}.
func (h *Handler) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if !h.authenticated(c) {
			return errUnauthorized
		}
		return next(c)
	}
}

// secure reports whether the admin cookie gets the Secure attribute: when
// the public origin is https (PROTOCOL §1.1, §9).
func (h *Handler) secure(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(h.relay.PublicOrigin(r)), "https:")
}

// sessionCookie is the cookie of a new login. maxAge -1 clears it (Go emits
// Max-Age=0 for it).
func (h *Handler) sessionCookie(r *http.Request, token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName,
		Value:    token,
		Path:     "/admin",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   h.secure(r),
		SameSite: http.SameSiteStrictMode,
	}
}

package admin

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
)

// headers sets what every admin answer carries, errors included (PROTOCOL
// §1.10): no caching, no sniffing, no framing, no referrer. HTML pages add
// their Content-Security-Policy when they render.
func (h *Handler) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// newNonce returns a fresh CSP nonce: 128 random bits in unpadded base64url,
// which needs no escaping in an HTML attribute.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// csp is the policy of the admin pages: only same-origin resources, scripts
// and style sheets also by nonce, no inline handlers or style attributes, no
// framing, no plugins, forms only to this origin.
func csp(nonce string) string {
	return "default-src 'self'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self' 'nonce-" + nonce + "'; " +
		"img-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 and never half a page.
func (h *Handler) render(c *echo.Context, status int, t *template.Template, nonce string, view any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, view); err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", csp(nonce))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// writeJSON answers compact JSON without HTML escaping (PROTOCOL §1.3).
func writeJSON(c *echo.Context, status int, v any) error {
	b, err := rawjson.Marshal(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Type", "application/json")
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(b)
	return err
}

// okJSON is {"ok":true}.
type okJSON struct {
	OK bool `json:"ok"`
}

// httpError is a 4xx answer with its exact protocol text; the server's error
// handler renders it as {"error":"<text>"}.
func httpError(status int, msg string) error { return echo.NewHTTPError(status, msg) }

var errUnauthorized = httpError(http.StatusUnauthorized, msgUnauthorized)

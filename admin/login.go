package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// maxLoginBody bounds a login body; it is the relay's default body limit
// (RELAY_MAX_BODY_BYTES), far above any real password.
const maxLoginBody = 1 << 20

// login is POST /admin/login (PROTOCOL §9). A form post (Content-Type
// containing application/x-www-form-urlencoded) follows Post/Redirect/Get: 303
// to /admin on success, or the login page again with its error line. Any other
// body is JSON {"password":…} and gets JSON answers.
func (h *Handler) login(c *echo.Context) error {
	if h.key == "" {
		return writeJSON(c, http.StatusServiceUnavailable, errorJSON{msgNotConfigured})
	}
	r := c.Request()
	form := strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded")
	// The limit comes before the body is read, so malformed attempts count too (§8).
	if wait, ok := h.relay.AllowLogin(h.relay.ClientIP(r)); !ok {
		c.Response().Header().Set("Retry-After", retryAfter(wait))
		if form {
			return h.renderLogin(c, http.StatusTooManyRequests, msgTooManyLogins)
		}
		return httpError(http.StatusTooManyRequests, msgTooManyLogins)
	}
	password, err := readPassword(c, form)
	if err != nil {
		return err
	}
	if !h.checkPassword(password) {
		h.log.Warn("admin login failed", "client_ip", h.relay.ClientIP(r))
		if form {
			return h.renderLogin(c, http.StatusUnauthorized, msgInvalidPassword)
		}
		return httpError(http.StatusUnauthorized, msgInvalidPassword)
	}
	token := storage.NewID()
	if err := h.store.PutAdminSession(r.Context(), tokenHash(token), h.now()); err != nil {
		return err
	}
	http.SetCookie(c.Response(), h.sessionCookie(r, token, int(SessionTTL/time.Second)))
	h.log.Info("admin login", "client_ip", h.relay.ClientIP(r))
	if form {
		return c.Redirect(http.StatusSeeOther, "/admin")
	}
	return writeJSON(c, http.StatusOK, okJSON{OK: true})
}

// checkPassword compares in constant time: both sides are hashed first, so
// neither the content nor the length of the key leaks through timing.
func (h *Handler) checkPassword(password string) bool {
	got := sha256.Sum256([]byte(password))
	want := sha256.Sum256([]byte(h.key))
	return password != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// readPassword reads the login body: the form field password, or the JSON
// object's member password. A missing or non-string password is "" (a wrong
// password); a body that does not parse is 400 Invalid request body.
func readPassword(c *echo.Context, form bool) (string, error) {
	r := c.Request()
	if r.ContentLength > maxLoginBody {
		return "", httpError(http.StatusRequestEntityTooLarge, msgTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxLoginBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return "", httpError(http.StatusRequestEntityTooLarge, msgTooLarge)
		}
		return "", httpError(http.StatusBadRequest, msgInvalidBody)
	}
	if form {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return "", httpError(http.StatusBadRequest, msgInvalidBody)
		}
		return values.Get("password"), nil
	}
	var v struct {
		Password any `json:"password"`
	}
	body = bytes.TrimSpace(body)
	dec := json.NewDecoder(bytes.NewReader(body))
	if len(body) == 0 || body[0] != '{' || dec.Decode(&v) != nil {
		return "", httpError(http.StatusBadRequest, msgInvalidBody)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", httpError(http.StatusBadRequest, msgInvalidBody)
	}
	s, _ := v.Password.(string)
	return s, nil
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

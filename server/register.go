package server

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

type registerResponse struct {
	UserID          string `json:"userId"`
	APIKey          string `json:"apiKey"`
	ServerPublicKey jwk    `json:"serverPublicKey"`
}

// register handles POST /auth/register (PROTOCOL §2.2): a new session, or
// the existing one of a known public key (reclaim) with the same apiKey.
func (s *Server) register(c *echo.Context) error {
	if err := s.limit(c, ratelimit.Register, s.clientIP(c), "Too many registration attempts. Try again later."); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	u := storage.User{ID: storage.NewID(), CreatedAt: s.now().UTC()}
	if raw := publicKeyMember(body); raw != nil {
		var k struct {
			Kty, Crv, X, Y any
		}
		if err := json.Unmarshal(raw, &k); err != nil || k.Kty != "EC" || k.Crv != "P-256" {
			return badRequest("Invalid publicKey")
		}
		x, okX := k.X.(string)
		y, okY := k.Y.(string)
		_, pk, ok := parsePublicKey(x, y)
		if !okX || !okY || !ok {
			return badRequest("Invalid publicKey")
		}
		u.PublicKey = &pk
	}
	id, err := s.identity(c.Request().Context())
	if err == nil {
		u, _, err = s.store.RegisterUser(c.Request().Context(), u, hashAPIKey(deriveAPIKey(id.apiKeySecret, u.ID)))
	}
	if err != nil {
		s.log.Error("register", "err", err)
		return newError(http.StatusServiceUnavailable, "Registration temporarily unavailable (storage error). Please retry.")
	}
	return writeJSON(c, http.StatusOK, registerResponse{
		UserID:          u.ID,
		APIKey:          deriveAPIKey(id.apiKeySecret, u.ID),
		ServerPublicKey: publicJWK(&id.serverKey.PublicKey),
	})
}

// publicKeyMember returns the body's publicKey member when the body is a JSON
// object and the member is truthy (not null, false, 0 or ""). A body that is
// absent or does not parse means a legacy registration, never an error.
func publicKeyMember(body []byte) json.RawMessage {
	var obj map[string]json.RawMessage
	if err := decodeObject(body, &obj); err != nil {
		return nil
	}
	raw := bytes.TrimSpace(obj["publicKey"])
	switch string(raw) {
	case "", "null", "false", `""`:
		return nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if f, err := n.Float64(); err == nil && f == 0 {
			return nil
		}
	}
	return raw
}

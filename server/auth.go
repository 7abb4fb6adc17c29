package server

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/storage"
)

const (
	// signatureWindow is how far X-Timestamp may be from now, either way.
	signatureWindow = 5 * time.Minute
	// nonceTTL covers the whole window of a timestamp dated up to 5 minutes
	// ahead (PROTOCOL §2.5 step 7).
	nonceTTL = 10 * time.Minute
	// maxNoncesPerUser bounds memory per user within nonceTTL.
	maxNoncesPerUser = 100_000
)

// emptyBodyHash is the SHA-256 of the empty body: GET and HEAD sign it.
const emptyBodyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const ctxUser = "relay.user"

// userOf is the authenticated user of a request that passed authenticate.
func userOf(c *echo.Context) storage.User {
	u, _ := c.Get(ctxUser).(storage.User)
	return u
}

// authenticate implements Bearer authentication and signed requests
// (PROTOCOL §2.4–2.5). Every failure gives the same 401, so a caller cannot
// tell which check failed; the reason is logged at debug level only.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		u, kind, reason, err := s.authorize(c)
		if err != nil {
			return err
		}
		if kind != "" {
			s.metrics.authFailures.WithLabelValues(kind).Inc()
			s.log.Debug("authentication failed", "reason", reason, "route", c.Path())
			return errUnauthorized
		}
		c.Set(ctxUser, u)
		return next(c)
	}
}

// authorize returns the user, or the failure kind and reason. err is for
// answers other than 401 (an oversized body, a nonce flood, a store failure).
func (s *Server) authorize(c *echo.Context) (u storage.User, kind, reason string, err error) {
	r := c.Request()
	key, ok := channels.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return u, "bearer", "missing or malformed Authorization", nil
	}
	u, err = s.store.UserByAPIKeyHash(r.Context(), hashAPIKey(key))
	if errors.Is(err, storage.ErrNotFound) {
		return u, "bearer", "unknown apiKey", nil
	}
	if err != nil {
		return u, "", "", err
	}
	ts, nonce, sig := r.Header.Get("X-Timestamp"), r.Header.Get("X-Nonce"), r.Header.Get("X-Signature")
	present := 0
	for _, v := range []string{ts, nonce, sig} {
		if v != "" {
			present++
		}
	}
	switch {
	case u.PublicKey == nil && present == 3:
		return u, "signature", "legacy session sent a signature", nil
	case u.PublicKey != nil && present < 3:
		return u, "signature", "signed session without signature headers", nil
	case u.PublicKey == nil:
		return u, "", "", nil
	}
	now := s.now()
	t, ok := storage.ParseTime(ts)
	if !ok || t.Sub(now).Abs() > signatureWindow {
		return u, "timestamp", "timestamp unparseable or outside the window", nil
	}
	if len(nonce) > 256 {
		return u, "signature", "nonce longer than 256 bytes", nil
	}
	bodyHash := emptyBodyHash
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		body, err := s.readBody(c)
		if err != nil {
			return u, "", "", err
		}
		h := sha256.Sum256(body)
		bodyHash = hex.EncodeToString(h[:])
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.EscapedPath()
	}
	pub, err := s.keys.get(u)
	if err != nil {
		return u, "signature", "stored public key unusable", nil
	}
	if !verifySignature(pub, sig, ts+"|"+nonce+"|"+path+"|"+bodyHash) {
		return u, "signature", "bad signature", nil
	}
	switch s.nonces.add(u.ID, nonce, now) {
	case nonceReplayed:
		return u, "nonce", "replayed nonce", nil
	case nonceFull:
		return u, "", "", &apiError{status: http.StatusTooManyRequests, msg: "Too many requests. Try again later.", retryAfter: 60}
	}
	if s.cluster != nil { // a replay may come through any node
		fresh, err := s.cluster.UseNonce(r.Context(), u.ID, hashNonce(nonce))
		if err != nil {
			return u, "", "", fmt.Errorf("%w: nonce: %w", storage.ErrUnavailable, err)
		}
		if !fresh {
			return u, "nonce", "replayed nonce", nil
		}
	}
	return u, "", "", nil
}

// verifySignature checks a WebCrypto-style signature: standard base64 of the
// 64-byte IEEE P1363 r||s, no whitespace, padding optional.
func verifySignature(pub *ecdsa.PublicKey, sig, payload string) bool {
	if strings.ContainsAny(sig, " \t\r\n") {
		return false
	}
	raw, err := base64.RawStdEncoding.DecodeString(trimPadding(sig))
	if err != nil || len(raw) != 64 {
		return false
	}
	digest := sha256.Sum256([]byte(payload))
	r, ss := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	return ecdsa.Verify(pub, digest[:], r, ss)
}

// keyCacheMax bounds the parsed-key cache: a parse costs about 20 µs, so a
// cache of the active signed sessions is worth keeping, and one of every
// session that ever signed is not.
const keyCacheMax = 10_000

// keyCache keeps parsed session public keys so that a signed request does
// not parse its key again. Keys never change for a user id; a deleted
// session's key is forgotten, and past keyCacheMax an arbitrary entry goes.
type keyCache struct {
	max  int
	mu   sync.RWMutex
	keys map[string]*ecdsa.PublicKey
}

func newKeyCache(max int) *keyCache { return &keyCache{max: max, keys: map[string]*ecdsa.PublicKey{}} }

func (k *keyCache) get(u storage.User) (*ecdsa.PublicKey, error) {
	k.mu.RLock()
	pub := k.keys[u.ID]
	k.mu.RUnlock()
	if pub != nil {
		return pub, nil
	}
	pub, _, ok := parsePublicKey(u.PublicKey.X, u.PublicKey.Y)
	if !ok {
		return nil, errors.New("server: stored public key is invalid")
	}
	k.mu.Lock()
	if len(k.keys) >= k.max {
		for id := range k.keys {
			delete(k.keys, id)
			break
		}
	}
	k.keys[u.ID] = pub
	k.mu.Unlock()
	return pub, nil
}

// forget drops a user's key (the session was deleted).
func (k *keyCache) forget(userID string) {
	k.mu.Lock()
	delete(k.keys, userID)
	k.mu.Unlock()
}

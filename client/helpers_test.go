package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test helpers shared by the client tests, and a checker that authenticates requests as the relay does.

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// specKey decodes the §2.6 JWK, d included, into a private key.
func specKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	d, err := base64.RawURLEncoding.DecodeString(specD)
	must(t, err)
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	must(t, err)
	return k
}

// specPublic parses the §2.6 public key from x and y, independently of JWK.PublicKey.
func specPublic(t *testing.T) *ecdsa.PublicKey {
	t.Helper()
	x, errX := base64.RawURLEncoding.DecodeString(specX)
	y, errY := base64.RawURLEncoding.DecodeString(specY)
	must(t, errors.Join(errX, errY))
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	must(t, err)
	return pub
}

// verifyP1363 checks an X-Signature the way §2.5 step 6 describes: standard base64 (padding
// optional, no whitespace), exactly 64 bytes of r||s, ECDSA-P256-SHA256 over payload.
func verifyP1363(pub *ecdsa.PublicKey, payload, xSignature string) bool {
	if strings.ContainsAny(xSignature, " \t\r\n") {
		return false
	}
	sig, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(xSignature, "="))
	if err != nil || len(sig) != 64 {
		return false
	}
	digest := sha256.Sum256([]byte(payload))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}

var (
	isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	hexNon  = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// authChecker verifies requests as the relay would (§2.4–2.5) and remembers nonces.
type authChecker struct {
	apiKey string
	pub    *ecdsa.PublicKey // nil: a legacy session
	now    time.Time

	mu     sync.Mutex
	nonces map[string]bool
}

// check returns why r would get a 401, or nil. It consumes r.Body.
func (a *authChecker) check(r *http.Request) error {
	if got := r.Header.Get("Authorization"); got != "Bearer "+a.apiKey {
		return fmt.Errorf("authorization %q", got)
	}
	ts, nonce, sig := r.Header.Get("X-Timestamp"), r.Header.Get("X-Nonce"), r.Header.Get("X-Signature")
	if a.pub == nil {
		if ts != "" || nonce != "" || sig != "" {
			return errors.New("legacy session sent signature headers")
		}
		return nil
	}
	if !isoTime.MatchString(ts) {
		return fmt.Errorf("timestamp %q not in protocol form", ts)
	}
	tt, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || tt.Sub(a.now).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q outside the window", ts)
	}
	if !hexNon.MatchString(nonce) {
		return fmt.Errorf("nonce %q is not 32 lowercase hex", nonce)
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.EscapedPath()
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		body = nil
	}
	sum := sha256.Sum256(body)
	payload := ts + "|" + nonce + "|" + path + "|" + hex.EncodeToString(sum[:])
	if !verifyP1363(a.pub, payload, sig) {
		return fmt.Errorf("signature does not verify over %q", payload)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nonces[nonce] {
		return errors.New("nonce replayed")
	}
	if a.nonces == nil {
		a.nonces = map[string]bool{}
	}
	a.nonces[nonce] = true
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var fixedNow = time.Date(2026, 11, 23, 10, 15, 30, 123_456_789, time.UTC)

func signedClient(t *testing.T, baseURL string) *Client {
	t.Helper()
	return &Client{BaseURL: baseURL, APIKey: specAPIKey, Key: specKey(t), Now: func() time.Time { return fixedNow }}
}

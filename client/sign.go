package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// timeLayout is the protocol's ISO time (§1.5). Its Z is a literal, so times are converted to
// UTC first; ".000" truncates below the millisecond, as the relay does.
const timeLayout = "2006-01-02T15:04:05.000Z"

// JWK is a P-256 public key as a JSON Web Key: the form that registration sends and that the
// relay returns as serverPublicKey. WebCrypto exports add key_ops and ext, which the relay ignores.
type JWK struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	KeyOps []string `json:"key_ops,omitempty"`
	Ext    bool     `json:"ext,omitempty"`
}

// PublicKey parses j as a P-256 public key. X and Y are base64url, padding tolerated,
// 32 bytes each, and must be a point on the curve (the relay's own rule, §2.2).
func (j JWK) PublicKey() (*ecdsa.PublicKey, error) {
	if j.Kty != "EC" || j.Crv != "P-256" {
		return nil, fmt.Errorf("client: jwk: want kty EC and crv P-256, got %q and %q", j.Kty, j.Crv)
	}
	x, errX := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.X, "="))
	y, errY := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.Y, "="))
	if err := errors.Join(errX, errY); err != nil {
		return nil, fmt.Errorf("client: jwk: %w", err)
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("client: jwk: coordinates are %d and %d bytes, want 32", len(x), len(y))
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("client: jwk: %w", err)
	}
	return pub, nil
}

// GenerateKey returns a new ECDSA P-256 key for a signed session.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client: generate key: %w", err)
	}
	return k, nil
}

// PublicJWK returns k as a JWK with x and y in unpadded base64url, each exactly 32 bytes
// (left-padded with zeros), which is what the relay requires. It returns the zero JWK when
// k is nil or not a valid P-256 key, which Register reports as an error.
func PublicJWK(k *ecdsa.PublicKey) JWK {
	if !isP256(k) {
		return JWK{}
	}
	// Bytes is the uncompressed point 0x04 || X || Y with fixed-width coordinates, so the
	// left padding comes for free and the deprecated big.Int fields are not needed.
	b, err := k.Bytes()
	if err != nil || len(b) != 65 {
		return JWK{}
	}
	return JWK{
		Kty: "EC",
		Crv: "P-256",
		X:   base64.RawURLEncoding.EncodeToString(b[1:33]),
		Y:   base64.RawURLEncoding.EncodeToString(b[33:65]),
	}
}

func isP256(k *ecdsa.PublicKey) bool {
	return k != nil && k.Curve != nil && k.Curve.Params().Name == "P-256"
}

// SignPayload returns the X-Signature value for a request: standard base64 (padded) of the
// 64-byte IEEE P1363 r||s ECDSA-P256-SHA256 signature over
// "<timestamp>|<nonce>|<path>|<hex sha256(body)>", as WebCrypto produces it (§2.5).
// path is the escaped request path without the query string; pass a nil body for GET and HEAD.
func SignPayload(key *ecdsa.PrivateKey, timestamp, nonce, path string, body []byte) (string, error) {
	if key == nil || !isP256(&key.PublicKey) {
		return "", errors.New("client: sign: need a P-256 private key")
	}
	digest := sha256.Sum256([]byte(signedPayload(timestamp, nonce, path, body)))
	// ecdsa.SignASN1 would produce DER, which the relay rejects; r and s are written as two
	// fixed-width big-endian halves instead.
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("client: sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return base64.StdEncoding.EncodeToString(sig), nil
}

// signedPayload is the string of §2.5 step 5.
func signedPayload(timestamp, nonce, path string, body []byte) string {
	sum := sha256.Sum256(body)
	return timestamp + "|" + nonce + "|" + path + "|" + hex.EncodeToString(sum[:])
}

// FormatTime renders t as the protocol's ISO time (UTC, millisecond, "2006-01-02T15:04:05.000Z").
func FormatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// newNonce returns 32 random lowercase hex characters, the form the extension sends.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/chaos-relay/relay/storage"
)

// newAPIKeySecret makes the 32-byte secret every apiKey is derived from. It
// never changes: changing it would change every apiKey (PROTOCOL §2.3).
func newAPIKeySecret() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

// deriveAPIKey computes a user's apiKey: the first 16 bytes of
// HMAC-SHA256(secret, userId), stamped as a UUIDv8. The relay stores only its
// hash, and recomputes the key when a session is reclaimed.
func deriveAPIKey(secret []byte, userID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(userID))
	var u [16]byte
	copy(u[:], m.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x80
	u[8] = (u[8] & 0x3f) | 0x80
	return storage.FormatUUID(u)
}

// hashAPIKey is the apiKey's index key in the store.
func hashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// identity is what the relay derives apiKeys with and hands clients as its
// public key. Both live in the store, so that every node of a relay on
// NATS uses the same ones.
type identity struct {
	apiKeySecret []byte
	serverKey    *ecdsa.PrivateKey
}

// identity loads the relay's identity on first use and keeps it. A store
// reached over the network may be unreachable when the server starts: until
// it answers, registration answers 503.
func (s *Server) identity(ctx context.Context) (*identity, error) {
	if id := s.ident.Load(); id != nil {
		return id, nil
	}
	s.identMu.Lock()
	defer s.identMu.Unlock()
	if id := s.ident.Load(); id != nil {
		return id, nil
	}
	secret, err := s.store.Secret(ctx, "apikey_secret", newAPIKeySecret)
	if err != nil {
		return nil, fmt.Errorf("api key secret: %w", err)
	}
	key, err := loadServerKey(ctx, s.store)
	if err != nil {
		return nil, fmt.Errorf("server key pair: %w", err)
	}
	id := &identity{apiKeySecret: secret, serverKey: key}
	s.ident.Store(id)
	return id, nil
}

// loadServerKey loads (or creates) the server's P-256 key pair. The relay
// signs nothing with it; clients only store its public half (PROTOCOL §2.2).
func loadServerKey(ctx context.Context, st storage.Store) (*ecdsa.PrivateKey, error) {
	raw, err := st.Secret(ctx, "server_keypair", func() ([]byte, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.Bytes()
	})
	if err != nil {
		return nil, err
	}
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
}

// jwk is a P-256 public key in the member order clients expect, as the
// original's WebCrypto (Deno) exported it: alg ES256 included.
type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Ext    bool     `json:"ext"`
}

func publicJWK(k *ecdsa.PublicKey) jwk {
	b, _ := k.Bytes() // uncompressed: 0x04 || x || y
	return jwk{Kty: "EC", Crv: "P-256",
		X: base64.RawURLEncoding.EncodeToString(b[1:33]), Y: base64.RawURLEncoding.EncodeToString(b[33:]),
		Alg: "ES256", KeyOps: []string{"verify"}, Ext: true}
}

// parsePublicKey validates JWK coordinates (base64url, padding tolerated, 32
// bytes each, a point on P-256) and returns the key and its canonical form.
func parsePublicKey(x, y string) (*ecdsa.PublicKey, storage.PublicKey, bool) {
	xb, errX := base64.RawURLEncoding.DecodeString(trimPadding(x))
	yb, errY := base64.RawURLEncoding.DecodeString(trimPadding(y))
	if errX != nil || errY != nil || len(xb) != 32 || len(yb) != 32 {
		return nil, storage.PublicKey{}, false
	}
	point := append(append([]byte{4}, xb...), yb...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, storage.PublicKey{}, false
	}
	return pub, storage.PublicKey{X: base64.RawURLEncoding.EncodeToString(xb), Y: base64.RawURLEncoding.EncodeToString(yb)}, true
}

func trimPadding(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

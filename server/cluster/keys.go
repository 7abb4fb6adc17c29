package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
)

// maxRawToken is the longest name kept as is in a key; longer ones are
// hashed, so that keys (NATS subjects) stay short.
const maxRawToken = 64

// token turns s into one KV key token (no dots). A name of [A-Za-z0-9_-]
// is kept as is, readable in `nats kv ls`; anything else becomes "=" and a
// hash. Raw tokens never contain "=", so the two forms never collide.
func token(s string) string {
	if isToken(s) && len(s) <= maxRawToken {
		return s
	}
	return hashToken(s)
}

// hashToken is "=" and 128 bits of SHA-256 of s, base64url: for keys that
// must not be stored in clear (client IPs) or cannot be.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "=" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// leaseKey is a lease's KV key: the name itself when it is a valid key of
// dot-separated tokens ("discord.1234", "sweep"), else its hash.
func leaseKey(name string) string {
	if len(name) > 4*maxRawToken {
		return hashToken(name)
	}
	for tok := range strings.SplitSeq(name, ".") {
		if !isToken(tok) {
			return hashToken(name)
		}
	}
	return name
}

// isToken reports whether s is non-empty and only [A-Za-z0-9_-]: safe as a
// KV key token, a subject token and a bucket name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// newID returns n random bytes as a token of lowercase base32 (8
// characters for 5 bytes): valid in keys and subjects, easy to read aloud.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	enc := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	return enc.EncodeToString(b)
}

package seal

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

const (
	// rootKeySize is the size of a root key in bytes.
	rootKeySize = 32
	// encodedLen is the length of a root key in padded standard base64.
	encodedLen = 44
)

// RootKey is the 32-byte root of envelope encryption. It wraps the data key of
// every sealed value. The zero value is not usable; get one from [NewRootKey],
// [GenerateRootKey], [ParseRootKey] or [LoadOrCreateKeyFile].
//
// A RootKey never prints its bytes: fmt (every verb, %#v included) and
// log/slog show only its id. Its methods are safe for concurrent use.
type RootKey struct {
	key  [rootKeySize]byte
	id   [idLen]byte
	aead cipher.AEAD // AES-256-GCM under key; safe for concurrent use
}

// NewRootKey returns a root key holding a copy of b, which must be exactly 32
// bytes long.
func NewRootKey(b []byte) (*RootKey, error) {
	if len(b) != rootKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrRootKey, len(b), rootKeySize)
	}
	k := &RootKey{}
	copy(k.key[:], b)
	sum := sha256.Sum256(k.key[:])
	copy(k.id[:], sum[:idLen])
	aead, err := newGCM(k.key[:])
	if err != nil {
		return nil, err
	}
	k.aead = aead
	return k, nil
}

// GenerateRootKey returns a new random root key.
func GenerateRootKey() (*RootKey, error) {
	var b [rootKeySize]byte
	defer clear(b[:])
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("seal: generate root key: %w", err)
	}
	return NewRootKey(b[:])
}

// ParseRootKey parses a root key written as standard base64 with padding
// (44 characters), as in RELAY_ROOT_KEY, RELAY_NEW_ROOT_KEY and the root key
// file. Surrounding whitespace is trimmed. Unpadded or URL-safe base64, and
// encodings of anything but 32 bytes, are rejected. Errors never quote s.
func ParseRootKey(s string) (*RootKey, error) {
	s = strings.TrimSpace(s)
	if len(s) != encodedLen {
		return nil, fmt.Errorf("%w: %d characters, want %d of padded standard base64", ErrRootKey, len(s), encodedLen)
	}
	// The decoder skips '\r' and '\n'; a key must not contain them.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: line break inside the key", ErrRootKey)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	defer clear(b)
	if err != nil {
		// err quotes only an offset, but keep the key text out of errors anyway.
		return nil, fmt.Errorf("%w: not padded standard base64", ErrRootKey)
	}
	if len(b) != rootKeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrRootKey, len(b), rootKeySize)
	}
	return NewRootKey(b)
}

// ID returns the key's public identifier: the lowercase hex of the first 8
// bytes of SHA-256 over the 32 raw key bytes. Sealed values record it, so a
// store can tell which key it needs without trying to decrypt.
func (k *RootKey) ID() string {
	return hex.EncodeToString(k.id[:])
}

// Encode returns the key as standard base64 with padding, the form that
// [ParseRootKey] reads. The result is secret.
func (k *RootKey) Encode() string {
	return base64.StdEncoding.EncodeToString(k.key[:])
}

// String returns a redacted description that names only the key id.
//
// String, GoString, Format and LogValue have value receivers so that a
// dereferenced RootKey is redacted too.
func (k RootKey) String() string {
	return "[redacted root key " + k.ID() + "]"
}

// GoString implements fmt.GoStringer (%#v) like String.
func (k RootKey) GoString() string { return k.String() }

// Format implements fmt.Formatter so that no verb (%d, %x, %+v, ...) falls
// back to printing the struct's fields.
func (k RootKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer: a root key logs as its redacted String.
func (k RootKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// check reports ErrRootKey for a nil or zero RootKey.
func (k *RootKey) check() error {
	if k == nil || k.aead == nil {
		return fmt.Errorf("%w: nil or zero RootKey", ErrRootKey)
	}
	return nil
}

// matches reports ErrWrongKey unless id is k's id.
func (k *RootKey) matches(id []byte) error {
	if !bytes.Equal(id, k.id[:]) {
		return fmt.Errorf("%w: value is under key id %x, root key is %s", ErrWrongKey, id, k.ID())
	}
	return nil
}

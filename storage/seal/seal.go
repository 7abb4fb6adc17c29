// Package seal encrypts secrets at rest with envelope encryption: a fresh data
// key per value, wrapped under the root key, with associated data that binds
// each value to its record (PROTOCOL.md §11.3).
//
// # Format
//
// A sealed value is a byte string laid out as:
//
//	offset  size  field
//	0       4     magic "\x00SL1" (format version 1)
//	4       8     root-key id: first 8 bytes of SHA-256(root key), raw
//	12      12    wrap nonce (random)
//	24      48    wrapped DEK: AES-256-GCM(root key, wrap nonce, DEK, aad), 32 bytes + 16-byte tag
//	72      12    data nonce (random)
//	84      n+16  ciphertext: AES-256-GCM(DEK, data nonce, plaintext, aad), n bytes + 16-byte tag
//
// The DEK is 32 random bytes drawn for every call to [Seal]. Both AES-GCM
// layers use the same associated data, built with [AAD] from the record's
// bucket path and key, so a value copied to another record fails to open.
// A sealed value is therefore at least 100 bytes long (empty plaintext).
//
// Rotating the root key ([Rewrap]) changes only bytes 4 to 72; the payload
// (data nonce and ciphertext) is left as it was.
//
// The magic starts with a NUL byte, which neither JSON nor printable text
// can start with, so [IsSealed] tells a sealed value from a plain one.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// Errors returned by this package, possibly wrapped; test them with errors.Is.
var (
	// ErrMalformed means the value is not in the sealed format (bad magic, too short).
	ErrMalformed = errors.New("seal: malformed sealed value")
	// ErrWrongKey means the value names another root-key id than the key given.
	ErrWrongKey = errors.New("seal: sealed under a different root key")
	// ErrOpen means authentication failed: the value was tampered with, or it
	// belongs to another record (different associated data).
	ErrOpen = errors.New("seal: cannot open sealed value")
	// ErrRootKey means a root key is missing, of the wrong size or badly encoded.
	ErrRootKey = errors.New("seal: invalid root key")
)

const (
	magic = "\x00SL1"

	idLen      = 8
	nonceLen   = 12 // AES-GCM standard nonce size
	tagLen     = 16 // AES-GCM tag size
	dekLen     = 32 // AES-256
	wrappedLen = dekLen + tagLen

	offID         = len(magic)
	offWrapNonce  = offID + idLen
	offWrapped    = offWrapNonce + nonceLen
	offDataNonce  = offWrapped + wrappedLen
	offCiphertext = offDataNonce + nonceLen

	// minLen is the size of a sealed empty plaintext.
	minLen = offCiphertext + tagLen
)

// sealed is a parsed sealed value. Its slices alias the input.
type sealed struct {
	id         []byte
	wrapNonce  []byte
	wrapped    []byte
	payload    []byte // data nonce followed by the ciphertext; untouched by Rewrap
	dataNonce  []byte
	ciphertext []byte
}

func parse(b []byte) (sealed, error) {
	if !IsSealed(b) {
		return sealed{}, fmt.Errorf("%w: missing magic prefix", ErrMalformed)
	}
	if len(b) < minLen {
		return sealed{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(b), minLen)
	}
	return sealed{
		id:         b[offID:offWrapNonce],
		wrapNonce:  b[offWrapNonce:offWrapped],
		wrapped:    b[offWrapped:offDataNonce],
		payload:    b[offDataNonce:],
		dataNonce:  b[offDataNonce:offCiphertext],
		ciphertext: b[offCiphertext:],
	}, nil
}

// AAD builds the associated data that binds a sealed value to its record:
// each segment (bucket path segments, then the record key) is prefixed by its
// length as a 4-byte big-endian integer, so ("a","bc") and ("ab","c") differ.
// It panics if a segment is 4 GiB or longer, which no record key can be.
func AAD(segments ...string) []byte {
	n := 0
	for _, s := range segments {
		n += 4 + len(s)
	}
	out := make([]byte, 0, n)
	for _, s := range segments {
		if uint64(len(s)) > math.MaxUint32 {
			panic("seal: AAD segment longer than 4 GiB")
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

// IsSealed reports whether b looks like a sealed value, that is, starts with
// the format's magic prefix. It does not check anything else; use it to tell
// sealed from plain values (for display as "sealed": true), not to validate.
func IsSealed(b []byte) bool {
	return bytes.HasPrefix(b, []byte(magic))
}

// KeyID returns the id of the root key that sealed was wrapped under, in the
// form of [RootKey.ID]. It returns ErrMalformed if sealed cannot be parsed.
func KeyID(sealed []byte) (string, error) {
	p, err := parse(sealed)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(p.id), nil
}

// Seal encrypts plaintext under a fresh random 32-byte data key (AES-256-GCM,
// random 12-byte nonce) and wraps the data key under k (AES-256-GCM, its own
// random 12-byte nonce). aad is the associated data of both layers; build it
// with [AAD]. Each call returns a different value, even for equal inputs.
func Seal(k *RootKey, aad, plaintext []byte) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	dek := make([]byte, dekLen)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("seal: generate data key: %w", err)
	}
	data, err := newGCM(dek)
	if err != nil {
		return nil, err
	}

	out := make([]byte, offDataNonce, minLen+len(plaintext))
	copy(out, magic)
	copy(out[offID:], k.id[:])
	wrapNonce := out[offWrapNonce:offWrapped]
	if _, err := rand.Read(wrapNonce); err != nil {
		return nil, fmt.Errorf("seal: generate nonce: %w", err)
	}
	out = k.aead.Seal(out[:offWrapped], wrapNonce, dek, aad)

	out = out[:offCiphertext]
	dataNonce := out[offDataNonce:offCiphertext]
	if _, err := rand.Read(dataNonce); err != nil {
		return nil, fmt.Errorf("seal: generate nonce: %w", err)
	}
	return data.Seal(out, dataNonce, plaintext, aad), nil
}

// Open reverses [Seal] with the same root key and associated data. It returns
// ErrMalformed if sealed cannot be parsed, ErrWrongKey if it names another
// root-key id than k's, and ErrOpen if authentication fails (tampered value,
// or a value that belongs to another record).
func Open(k *RootKey, aad, sealed []byte) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	p, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	if err := k.matches(p.id); err != nil {
		return nil, err
	}
	dek, err := unwrap(k, aad, p)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	data, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	plaintext, err := data.Open(nil, p.dataNonce, p.ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: payload authentication failed", ErrOpen)
	}
	return plaintext, nil
}

// Rewrap re-wraps the data key of sealed from root key old to root key new,
// without touching the payload: only the key id, the wrap nonce and the
// wrapped DEK change. The wrapped DEK is authenticated (with aad) before it is
// re-wrapped; the payload is not decrypted.
//
// If sealed is already under new (for a rotation that resumes after an
// interruption), Rewrap checks that new unwraps its DEK and returns a copy of
// sealed with the same bytes. The result never aliases sealed. A value under
// neither key gives ErrWrongKey.
func Rewrap(old, new *RootKey, aad, sealed []byte) ([]byte, error) {
	if err := old.check(); err != nil {
		return nil, fmt.Errorf("%w (old key)", err)
	}
	if err := new.check(); err != nil {
		return nil, fmt.Errorf("%w (new key)", err)
	}
	p, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	if new.matches(p.id) == nil {
		dek, err := unwrap(new, aad, p)
		if err != nil {
			return nil, err
		}
		clear(dek)
		return bytes.Clone(sealed), nil
	}
	if err := old.matches(p.id); err != nil {
		return nil, err
	}
	dek, err := unwrap(old, aad, p)
	if err != nil {
		return nil, err
	}
	defer clear(dek)

	out := make([]byte, offDataNonce, len(sealed))
	copy(out, magic)
	copy(out[offID:], new.id[:])
	wrapNonce := out[offWrapNonce:offWrapped]
	if _, err := rand.Read(wrapNonce); err != nil {
		return nil, fmt.Errorf("seal: generate nonce: %w", err)
	}
	out = new.aead.Seal(out[:offWrapped], wrapNonce, dek, aad)
	return append(out, p.payload...), nil
}

// unwrap authenticates and decrypts the DEK of p under k.
func unwrap(k *RootKey, aad []byte, p sealed) ([]byte, error) {
	dek, err := k.aead.Open(nil, p.wrapNonce, p.wrapped, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: data key authentication failed", ErrOpen)
	}
	return dek, nil
}

// newGCM returns AES-256-GCM under key, which must be 32 bytes long.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead, nil
}

package seal

import (
	"bytes"
	"errors"
	"testing"
)

// testKey returns the root key with bytes 00..1f, or with every byte set to b
// when b is non-zero.
func testKey(t *testing.T, b byte) *RootKey {
	t.Helper()
	raw := make([]byte, 32)
	for i := range raw {
		if b == 0 {
			raw[i] = byte(i)
		} else {
			raw[i] = b
		}
	}
	k, err := NewRootKey(raw)
	noErr(t, err)
	return k
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func errorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func equalBytes(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func mustSeal(t *testing.T, k *RootKey, aad, plaintext []byte) []byte {
	t.Helper()
	s, err := Seal(k, aad, plaintext)
	noErr(t, err)
	return s
}

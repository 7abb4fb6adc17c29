package seal

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	k := testKey(t, 0)
	aad := AAD("channels", "secrets", "c1\x00token")
	for _, pt := range [][]byte{nil, {}, []byte("123456:ABC-bot-token"), bytes.Repeat([]byte{0xab}, 70000)} {
		s := mustSeal(t, k, aad, pt)
		if len(s) != minLen+len(pt) {
			t.Errorf("sealed %d bytes into %d, want %d", len(pt), len(s), minLen+len(pt))
		}
		if !IsSealed(s) {
			t.Error("IsSealed(sealed) = false")
		}
		if len(pt) > 8 && bytes.Contains(s, pt[:8]) {
			t.Error("sealed value contains plaintext")
		}
		got, err := Open(k, aad, s)
		noErr(t, err)
		equalBytes(t, got, pt)
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := testKey(t, 0)
	aad := AAD("b", "k")
	a := mustSeal(t, k, aad, []byte("same"))
	b := mustSeal(t, k, aad, []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
	for _, r := range []struct {
		name   string
		lo, hi int
	}{{"wrap nonce", offWrapNonce, offWrapped}, {"wrapped DEK", offWrapped, offDataNonce}, {"data nonce", offDataNonce, offCiphertext}, {"ciphertext", offCiphertext, len(a)}} {
		if bytes.Equal(a[r.lo:r.hi], b[r.lo:r.hi]) {
			t.Errorf("%s repeated across seals", r.name)
		}
	}
}

func TestFormatHeader(t *testing.T) {
	k := testKey(t, 0)
	s := mustSeal(t, k, nil, []byte("x"))
	equalBytes(t, s[:4], []byte("\x00SL1"))
	if got := hex.EncodeToString(s[4:12]); got != "630dcd2966c43366" {
		t.Fatalf("key id bytes = %s", got)
	}
	id, err := KeyID(s)
	noErr(t, err)
	if id != k.ID() {
		t.Fatalf("KeyID = %s, want %s", id, k.ID())
	}
}

func TestAAD(t *testing.T) {
	equalBytes(t, AAD("a", "bc"), []byte{0, 0, 0, 1, 'a', 0, 0, 0, 2, 'b', 'c'})
	equalBytes(t, AAD(), []byte{})
	equalBytes(t, AAD(""), []byte{0, 0, 0, 0})
	if bytes.Equal(AAD("a", "bc"), AAD("ab", "c")) {
		t.Fatal("AAD is ambiguous")
	}
}

func TestAADBinding(t *testing.T) {
	k := testKey(t, 0)
	aadA := AAD("channels", "secrets", "c1\x00telegram_token")
	s := mustSeal(t, k, aadA, []byte("token"))
	for name, aad := range map[string][]byte{
		"nil":            nil,
		"other record":   AAD("channels", "secrets", "c2\x00telegram_token"),
		"other bucket":   AAD("meta", "secrets", "c1\x00telegram_token"),
		"other split":    AAD("channels", "secretsc1", "\x00telegram_token"),
		"extra segment":  AAD("channels", "secrets", "c1\x00telegram_token", ""),
		"missing prefix": aadA[4:],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(k, aad, s)
			errorIs(t, err, ErrOpen)
			_, err = Rewrap(k, testKey(t, 9), aad, s)
			errorIs(t, err, ErrOpen)
		})
	}
}

// TestSpliceAcrossValues checks that a wrapped DEK and a payload from two
// values of the same record do not combine.
func TestSpliceAcrossValues(t *testing.T) {
	k := testKey(t, 0)
	aad := AAD("b", "k")
	a := mustSeal(t, k, aad, []byte("first"))
	b := mustSeal(t, k, aad, []byte("other"))
	mixed := append(bytes.Clone(a[:offDataNonce]), b[offDataNonce:]...)
	_, err := Open(k, aad, mixed)
	errorIs(t, err, ErrOpen)
}

func TestTamper(t *testing.T) {
	k := testKey(t, 0)
	aad := AAD("b", "k")
	s := mustSeal(t, k, aad, []byte("a secret value"))
	regions := []struct {
		name   string
		lo, hi int
		want   error
	}{
		{"magic", 0, offID, ErrMalformed},
		{"key id", offID, offWrapNonce, ErrWrongKey},
		{"wrap nonce", offWrapNonce, offWrapped, ErrOpen},
		{"wrapped DEK", offWrapped, offDataNonce - tagLen, ErrOpen},
		{"wrap tag", offDataNonce - tagLen, offDataNonce, ErrOpen},
		{"data nonce", offDataNonce, offCiphertext, ErrOpen},
		{"ciphertext", offCiphertext, len(s) - tagLen, ErrOpen},
		{"data tag", len(s) - tagLen, len(s), ErrOpen},
	}
	for _, r := range regions {
		t.Run(r.name, func(t *testing.T) {
			for i := r.lo; i < r.hi; i++ {
				for _, bit := range []byte{0x01, 0x80} {
					m := bytes.Clone(s)
					m[i] ^= bit
					_, err := Open(k, aad, m)
					errorIs(t, err, r.want)
				}
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		for n := range len(s) {
			_, err := Open(k, aad, s[:n])
			if n < minLen {
				errorIs(t, err, ErrMalformed)
			} else {
				errorIs(t, err, ErrOpen)
			}
		}
	})
	t.Run("appended", func(t *testing.T) {
		_, err := Open(k, aad, append(bytes.Clone(s), 0))
		errorIs(t, err, ErrOpen)
	})
	t.Run("plain", func(t *testing.T) {
		for _, v := range [][]byte{nil, []byte(`{"token":"x"}`), []byte("\x00SL"), []byte("\x00SL2" + string(s[4:]))} {
			_, err := Open(k, aad, v)
			errorIs(t, err, ErrMalformed)
			_, err = KeyID(v)
			errorIs(t, err, ErrMalformed)
			_, err = Rewrap(k, testKey(t, 9), aad, v)
			errorIs(t, err, ErrMalformed)
		}
	})
}

func TestWrongKey(t *testing.T) {
	k, other := testKey(t, 0), testKey(t, 1)
	s := mustSeal(t, k, nil, []byte("x"))
	_, err := Open(other, nil, s)
	errorIs(t, err, ErrWrongKey)

	// Same id, different key (an id collision, or a forged id): authentication catches it.
	forged := *other
	forged.id = k.id
	_, err = Open(&forged, nil, s)
	errorIs(t, err, ErrOpen)
}

func TestRewrap(t *testing.T) {
	oldKey, newKey := testKey(t, 0), testKey(t, 2)
	aad := AAD("meta", "api_key_secret")
	pt := []byte("thirty-two bytes of API secret!!")
	s := mustSeal(t, oldKey, aad, pt)
	orig := bytes.Clone(s)

	r, err := Rewrap(oldKey, newKey, aad, s)
	noErr(t, err)
	equalBytes(t, s, orig) // input untouched
	if id, _ := KeyID(r); id != newKey.ID() {
		t.Fatalf("KeyID after Rewrap = %s, want %s", id, newKey.ID())
	}
	equalBytes(t, r[:offID], s[:offID])
	equalBytes(t, r[offDataNonce:], s[offDataNonce:]) // payload unchanged
	if bytes.Equal(r[offWrapNonce:offWrapped], s[offWrapNonce:offWrapped]) {
		t.Error("wrap nonce reused")
	}

	got, err := Open(newKey, aad, r)
	noErr(t, err)
	equalBytes(t, got, pt)
	_, err = Open(oldKey, aad, r)
	errorIs(t, err, ErrWrongKey)

	// Resuming: a value already under newKey comes back unchanged, as a copy.
	again, err := Rewrap(oldKey, newKey, aad, r)
	noErr(t, err)
	equalBytes(t, again, r)
	if &again[0] == &r[0] {
		t.Error("Rewrap returned its input, want a copy")
	}
	// ... but only if newKey really opens it.
	bad := bytes.Clone(r)
	bad[offWrapped] ^= 1
	_, err = Rewrap(oldKey, newKey, aad, bad)
	errorIs(t, err, ErrOpen)

	// A value under neither key.
	_, err = Rewrap(testKey(t, 3), testKey(t, 4), aad, s)
	errorIs(t, err, ErrWrongKey)

	// Same key on both sides is a no-op.
	same, err := Rewrap(oldKey, oldKey, aad, s)
	noErr(t, err)
	equalBytes(t, same, s)
}

func TestIsSealed(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", false}, {"\x00SL", false}, {"\x00SL1", true}, {"\x00SL1junk", true},
		{"SL1", false}, {`{"a":1}`, false}, {"\x00SL2", false},
	} {
		if got := IsSealed([]byte(tt.in)); got != tt.want {
			t.Errorf("IsSealed(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	k := testKey(t, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				aad := AAD("b", fmt.Sprint(i, j))
				pt := []byte(fmt.Sprint("value", i, j))
				s, err := Seal(k, aad, pt)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := Open(k, aad, s)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open = %q, %v; want %q", got, err, pt)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzOpen(f *testing.F) {
	k, err := GenerateRootKey()
	if err != nil {
		f.Fatal(err)
	}
	s, err := Seal(k, []byte("aad"), []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s, []byte("aad"))
	f.Add([]byte("\x00SL1"), []byte(nil))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		pt, err := Open(k, aad, sealed)
		if err == nil && (!bytes.Equal(sealed, s) || string(aad) != "aad" || string(pt) != "seed") {
			t.Fatalf("Open accepted a forged value %x", sealed)
		}
		_, _ = KeyID(sealed)
		_, _ = Rewrap(k, k, aad, sealed)
	})
}

func ExampleSeal() {
	k, err := GenerateRootKey()
	if err != nil {
		panic(err)
	}
	aad := AAD("channels", "c1\x00telegram_token") // bucket, then record key
	sealed, err := Seal(k, aad, []byte("123456:bot-token"))
	if err != nil {
		panic(err)
	}
	token, err := Open(k, aad, sealed)
	fmt.Println(string(token), err, IsSealed(sealed))
	// Output: 123456:bot-token <nil> true
}

package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// TestNonceStoreIsCompact: a session at its cap of live nonces holds a few
// megabytes, not the 65 MB that 100,000 nonces took as string keys.
func TestNonceStoreIsCompact(t *testing.T) {
	n := newNonceStore(time.Minute, maxNoncesPerUser)
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range maxNoncesPerUser {
		if n.add("u", fmt.Sprintf("%032x", i), now) != nonceRecorded {
			t.Fatalf("nonce %d refused", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / maxNoncesPerUser
	t.Logf("%.0f bytes per nonce", per)
	if per > 100 {
		t.Fatalf("%.0f bytes per nonce, want at most 100", per)
	}
	if n.add("u", "one more", now) != nonceFull {
		t.Fatal("a nonce past the cap was recorded")
	}
	runtime.KeepAlive(n)
}

// TestNonceStore: a nonce is single use until it expires, whatever its
// length; a deleted session's nonces go.
func TestNonceStore(t *testing.T) {
	n := newNonceStore(time.Minute, 10)
	now := time.Now()
	long := strings.Repeat("n", 256)
	for _, nonce := range []string{"a", long} {
		if n.add("u", nonce, now) != nonceRecorded || n.add("u", nonce, now.Add(59*time.Second)) != nonceReplayed {
			t.Fatalf("nonce %.8q: not single use", nonce)
		}
		if n.add("u", nonce, now.Add(time.Minute)) != nonceRecorded {
			t.Fatalf("nonce %.8q: refused after it expired", nonce)
		}
	}
	if n.add("v", "a", now) != nonceRecorded {
		t.Fatal("another user's nonce was refused")
	}
	n.forget("u")
	n.prune(now)
	if _, ok := n.users["u"]; ok || len(n.users) != 1 {
		t.Fatalf("users after forget: %v", n.users)
	}
}

// TestKeyCacheIsBounded: the parsed-key cache keeps at most its bound of
// sessions and forgets a deleted one.
func TestKeyCacheIsBounded(t *testing.T) {
	k := newKeyCache(3)
	for i := range 5 {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := priv.PublicKey.Bytes()
		u := storage.User{ID: fmt.Sprint("u", i), PublicKey: &storage.PublicKey{
			X: base64.RawURLEncoding.EncodeToString(b[1:33]), Y: base64.RawURLEncoding.EncodeToString(b[33:])}}
		if pub, err := k.get(u); err != nil || !pub.Equal(&priv.PublicKey) {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if len(k.keys) != 3 {
		t.Fatalf("%d keys cached, want the bound of 3", len(k.keys))
	}
	if _, ok := k.keys["u4"]; !ok {
		t.Fatal("the newest key is not cached")
	}
	k.forget("u4")
	if _, ok := k.keys["u4"]; ok {
		t.Fatal("a forgotten key is still cached")
	}
}

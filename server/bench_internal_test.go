package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// BenchmarkVerifySignature is the per-request cost of a signed session
// (PROTOCOL §2.5 step 6).
func BenchmarkVerifySignature(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	payload := "2026-11-23T10:15:30.123Z|3f9a1c0e5b7d4e2a8c6b0d1f2e3a4b5c|/reply|" + emptyBodyHash
	digest := sha256.Sum256([]byte(payload))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	encoded := base64.StdEncoding.EncodeToString(sig)
	b.ReportAllocs()
	for b.Loop() {
		if !verifySignature(&key.PublicKey, encoded, payload) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkFrameEncode is the encode of one message frame; the live hub
// shares it between the sockets of the message's user.
func BenchmarkFrameEncode(b *testing.B) {
	m := storage.Message{UserID: storage.NewID(), ChannelType: "webhook", ChannelID: storage.NewID(), From: "github",
		Content: `{"action":"opened","issue":{"number":42,"title":"Crash on start"}}`, Timestamp: time.Now(),
		Metadata: json.RawMessage(`{"raw":{"action":"opened","issue":{"number":42,"title":"Crash on start"}},"channelDirection":"inbound"}`)}
	b.ReportAllocs()
	for b.Loop() {
		m.ID = storage.NewTimeID(m.Timestamp)
		if _, err := encodeMessageFrame(m); err != nil {
			b.Fatal(err)
		}
	}
}

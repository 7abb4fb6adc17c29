package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/client"
)

const msgUnauthorized = "Unauthorized. Include Authorization: Bearer <apiKey>"

// webCryptoSign signs the §2.5 payload as WebCrypto does: ECDSA P-256 with
// SHA-256, returned as the 64-byte IEEE P1363 r||s (32 bytes each).
func webCryptoSign(t *testing.T, key *ecdsa.PrivateKey, ts, nonce, path string, body []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(body)
	digest := sha256.Sum256([]byte(ts + "|" + nonce + "|" + path + "|" + hex.EncodeToString(sum[:])))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// stamp is an X-Timestamp at now+d.
func stamp(d time.Duration) string { return client.FormatTime(time.Now().Add(d)) }

// nonce is a fresh X-Nonce as the extension sends it.
func nonce() string { return strings.ToLower(rand.Text()) }

// authHeaders are the headers of a signed request, as given.
func authHeaders(c *client.Client, ts, nonce, sig string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + c.APIKey, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig}
}

// sendRaw sends target (path and query) exactly as given, escapes and all:
// net/http would otherwise re-escape characters such as '|'.
func sendRaw(t *testing.T, method, base, target string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(bg, method, base+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// validSig is a standard-base64 signature of a request to path with body.
func validSig(t *testing.T, c *client.Client, ts, n, path string, body []byte) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(webCryptoSign(t, c.Key, ts, n, path, body))
}

func expectUnauthorized(t *testing.T, a answer) {
	t.Helper()
	expectError(t, a, http.StatusUnauthorized, msgUnauthorized)
}

func TestBearerFailures(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	legacy := r.register(t, false)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/messages"},
		{http.MethodPost, "/reply"},
		{http.MethodPost, "/typing"},
		{http.MethodGet, "/channels"},
		{http.MethodPost, "/channels"},
		{http.MethodPatch, "/channels/some-id"},
		{http.MethodDelete, "/channels/some-id"},
	}
	body := []byte(`{"channelId":"some-id","content":"hi"}`)
	for _, auth := range []string{
		"", // missing
		"Bearer",
		"Bearer ",
		"Basic " + legacy.APIKey,
		"Token " + legacy.APIKey,
		legacy.APIKey,
		"Bearer" + legacy.APIKey,
		"Bearer " + legacy.APIKey + "x",
		"Bearer " + strings.ToUpper(legacy.APIKey),
		"Bearer 7c9e6679-7425-40de-944b-e07fc1f90ae7", // well-formed, unknown
	} {
		for _, rt := range routes {
			h := map[string]string{}
			if auth != "" {
				h["Authorization"] = auth
			}
			a := send(t, rt.method, r.URL+rt.path, body, h)
			if a.status != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d %s", rt.method, rt.path, auth, a.status, a.body)
				continue
			}
			expectUnauthorized(t, a)
			if cc := a.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("401 Cache-Control %q", cc)
			}
		}
	}
	// The scheme is case-insensitive and any whitespace may follow it.
	for _, auth := range []string{"bearer " + legacy.APIKey, "BEARER " + legacy.APIKey, "Bearer\t" + legacy.APIKey, "Bearer   " + legacy.APIKey} {
		expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, map[string]string{"Authorization": auth}), http.StatusOK, `{"channels":[]}`)
	}
	// Nothing was created by the refused POST /channels and /reply.
	list, err := legacy.Channels(bg)
	if err != nil || len(list) != 0 {
		t.Fatalf("channels after refused requests: %v %v", list, err)
	}
}

// A legacy session must not sign, a signed session must send all three
// headers (PROTOCOL §2.4). Empty headers count as missing.
func TestSignatureHeaderPresence(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	legacy, signed := r.register(t, false), r.register(t, true)

	ts, n := stamp(0), nonce()
	full := authHeaders(signed, ts, n, validSig(t, signed, ts, n, "/channels", nil))
	for _, drop := range [][]string{
		{"X-Timestamp", "X-Nonce", "X-Signature"},
		{"X-Signature"}, {"X-Nonce"}, {"X-Timestamp"},
		{"X-Nonce", "X-Signature"},
	} {
		h := map[string]string{}
		for k, v := range full {
			h[k] = v
		}
		for _, k := range drop {
			delete(h, k)
		}
		expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, h))
		for _, k := range drop {
			h[k] = "" // present but empty: still missing
		}
		expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, h))
	}
	// The nonce of all those refusals is unused: the complete request passes.
	expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, full), http.StatusOK, `{"channels":[]}`)

	// A legacy session with all three headers is refused, even with a
	// signature that would verify for some key; with one or two it passes.
	ts, n = stamp(0), nonce()
	lh := authHeaders(legacy, ts, n, validSig(t, signed, ts, n, "/channels", nil))
	expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, lh))
	delete(lh, "X-Signature")
	expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, lh), http.StatusOK, `{"channels":[]}`)
	lh["X-Signature"] = ""
	expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, lh), http.StatusOK, `{"channels":[]}`)
	delete(lh, "X-Nonce")
	expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, lh), http.StatusOK, `{"channels":[]}`)

	// Refused POSTs stored nothing.
	body := []byte(`{"id":"` + uniqueID("nope") + `"}`)
	expectUnauthorized(t, send(t, http.MethodPost, r.URL+"/channels", body, map[string]string{"Authorization": "Bearer " + signed.APIKey}))
	ts, n = stamp(0), nonce()
	expectUnauthorized(t, send(t, http.MethodPost, r.URL+"/channels", body, authHeaders(legacy, ts, n, validSig(t, signed, ts, n, "/channels", body))))
	for _, c := range []*client.Client{legacy, signed} {
		if list, err := c.Channels(bg); err != nil || len(list) != 0 {
			t.Fatalf("channels after refused creates: %v %v", list, err)
		}
	}
}

// Every check of §2.5 fails with the same 401, and a refused request does not
// consume its nonce: the same nonce with a correct signature then passes.
func TestSignatureFailures(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, true), r.register(t, true)
	body := []byte(`{"type":"slack"}`)

	// withPlusOrSlash signs until the standard base64 of the signature holds a
	// '+' or '/', so that its base64url form differs (PROTOCOL §2.6).
	withPlusOrSlash := func(ts, n string) []byte {
		for {
			sig := webCryptoSign(t, c.Key, ts, n, "/channels", body)
			if strings.ContainsAny(base64.StdEncoding.EncodeToString(sig), "+/") {
				return sig
			}
		}
	}
	std := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		// header builds the headers for a request with ts and nonce.
		header func(ts, n string) map[string]string
	}{
		{"bad signature", func(ts, n string) map[string]string {
			sig := make([]byte, 64)
			_, _ = rand.Read(sig)
			return authHeaders(c, ts, n, std(sig))
		}},
		{"another key", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, std(webCryptoSign(t, other.Key, ts, n, "/channels", body)))
		}},
		{"another session's apiKey", func(ts, n string) map[string]string {
			h := authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
			h["Authorization"] = "Bearer " + other.APIKey
			return h
		}},
		{"different path", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channelS", body))
		}},
		{"path with a query", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels?x=1", body))
		}},
		{"different body", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", []byte(`{"type":"email"}`)))
		}},
		{"empty body hash", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", nil))
		}},
		{"different timestamp", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, validSig(t, c, stamp(-time.Second), n, "/channels", body))
		}},
		{"different nonce", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, validSig(t, c, ts, n+"x", "/channels", body))
		}},
		{"base64url", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, base64.URLEncoding.EncodeToString(withPlusOrSlash(ts, n)))
		}},
		{"unpadded base64url", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, base64.RawURLEncoding.EncodeToString(withPlusOrSlash(ts, n)))
		}},
		{"DER", func(ts, n string) map[string]string {
			sum := sha256.Sum256(body)
			digest := sha256.Sum256([]byte(ts + "|" + n + "|/channels|" + hex.EncodeToString(sum[:])))
			der, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return authHeaders(c, ts, n, std(der))
		}},
		{"63 bytes", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, std(webCryptoSign(t, c.Key, ts, n, "/channels", body)[:63]))
		}},
		{"65 bytes", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, std(append(webCryptoSign(t, c.Key, ts, n, "/channels", body), 0)))
		}},
		{"hex", func(ts, n string) map[string]string {
			return authHeaders(c, ts, n, hex.EncodeToString(webCryptoSign(t, c.Key, ts, n, "/channels", body)))
		}},
		{"whitespace inside", func(ts, n string) map[string]string {
			s := validSig(t, c, ts, n, "/channels", body)
			return authHeaders(c, ts, n, s[:40]+" "+s[40:])
		}},
		{"stale timestamp", func(_, n string) map[string]string {
			ts := stamp(-6 * time.Minute)
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
		}},
		{"future timestamp", func(_, n string) map[string]string {
			ts := stamp(6 * time.Minute)
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
		}},
		{"unparseable timestamp", func(_, n string) map[string]string {
			ts := strings.Replace(stamp(0), "T", " at ", 1)
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
		}},
		{"unix timestamp", func(_, n string) map[string]string {
			ts := "1795428930"
			return authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
		}},
	}
	for _, tt := range tests {
		n := nonce()
		a := send(t, http.MethodPost, r.URL+"/channels", body, tt.header(stamp(0), n))
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", tt.name, a.status, a.body)
			continue
		}
		expectUnauthorized(t, a)
		// Nothing was stored, and the nonce is still unused.
		if list, err := c.Channels(bg); err != nil || len(list) != 0 {
			t.Fatalf("%s: channels %v %v", tt.name, list, err)
		}
		ts := stamp(0)
		a = send(t, http.MethodGet, r.URL+"/channels", nil, authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", nil)))
		if a.status != http.StatusOK {
			t.Errorf("%s: the refused request consumed its nonce: %d %s", tt.name, a.status, a.body)
		}
	}

	// A nonce over 256 bytes is refused; 1 and 256 bytes pass.
	long := strings.Repeat("n", 257)
	ts := stamp(0)
	expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, authHeaders(c, ts, long, validSig(t, c, ts, long, "/channels", nil))))
	for _, n := range []string{"1", strings.Repeat("n", 256)} {
		ts := stamp(0)
		expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", nil))), http.StatusOK, `{"channels":[]}`)
	}
}

func TestSignatureAccepted(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	ok := func(name, ts string, sig func(ts, n string) string) {
		t.Helper()
		n := nonce()
		a := send(t, http.MethodGet, r.URL+"/channels", nil, authHeaders(c, ts, n, sig(ts, n)))
		if a.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, a.status, a.body)
		}
	}
	valid := func(ts, n string) string { return validSig(t, c, ts, n, "/channels", nil) }
	now := time.Now()
	ok("now", stamp(0), valid)
	ok("4 minutes ago", stamp(-4*time.Minute), valid)
	ok("4 minutes ahead", stamp(4*time.Minute), valid)
	ok("numeric offset", now.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000-07:00"), valid)
	ok("space for '+' in the offset", strings.Replace(now.In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.000-07:00"), "+", " ", 1), valid)
	ok("no fraction", now.UTC().Format("2006-01-02T15:04:05Z"), valid)
	ok("nanoseconds", now.UTC().Format("2006-01-02T15:04:05.000000000Z"), valid)
	ok("unpadded", stamp(0), func(ts, n string) string {
		return base64.RawStdEncoding.EncodeToString(webCryptoSign(t, c.Key, ts, n, "/channels", nil))
	})

	// GET hashes the empty body whatever is sent; a POST without a body
	// hashes the empty body too (its 400 shows that authentication passed).
	ts, n := stamp(0), nonce()
	a := send(t, http.MethodGet, r.URL+"/channels", []byte("ignored"), authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", nil)))
	expect(t, a, http.StatusOK, `{"channels":[]}`)
	ts, n = stamp(0), nonce()
	a = send(t, http.MethodPost, r.URL+"/typing", nil, authHeaders(c, ts, n, validSig(t, c, ts, n, "/typing", nil)))
	expectError(t, a, http.StatusBadRequest, "Invalid JSON body")

	// The query is not signed.
	ts, n = stamp(0), nonce()
	a = send(t, http.MethodGet, r.URL+"/messages?limit=5&since=", nil, authHeaders(c, ts, n, validSig(t, c, ts, n, "/messages", nil)))
	expect(t, a, http.StatusOK, `{"messages":[],"since":"1970-01-01T00:00:00.000Z","hasMore":false}`)
}

func TestNonceReplay(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, true), r.register(t, true)

	ts, n := stamp(0), nonce()
	h := authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", nil))
	expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, h), http.StatusOK, `{"channels":[]}`)
	expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, h))
	// Same nonce, fresh timestamp and signature: still a replay.
	ts = stamp(time.Second)
	expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", nil))))
	// A replayed POST stores nothing the second time.
	body := []byte(`{"type":"slack"}`)
	ts, n = stamp(0), nonce()
	h = authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
	if a := send(t, http.MethodPost, r.URL+"/channels", body, h); a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	expectUnauthorized(t, send(t, http.MethodPost, r.URL+"/channels", body, h))
	if list, err := c.Channels(bg); err != nil || len(list) != 1 {
		t.Fatalf("after a replayed create: %d channels, %v", len(list), err)
	}
	// Nonces are per user: another session may use the same one.
	ts = stamp(0)
	expect(t, send(t, http.MethodGet, r.URL+"/channels", nil, authHeaders(other, ts, n, validSig(t, other, ts, n, "/channels", nil))), http.StatusOK, `{"channels":[]}`)
}

// The signed path is the request's path exactly as sent: percent-escapes
// kept, characters such as '|' not escaped (PROTOCOL §2.5 step 3). A 404
// "Channel not found" shows that authentication passed.
func TestSignedPathIsTheRawPath(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, true)
	for _, tt := range []struct{ sent, decoded string }{
		{"/channels/caf%C3%A9", "/channels/café"},
		{"/channels/%41bc", "/channels/Abc"},
		{"/channels/a|b^c", "/channels/a%7Cb%5Ec"},
		{"/channels/a%7cb", "/channels/a|b"},
	} {
		ts, n := stamp(0), nonce()
		a := sendRaw(t, http.MethodDelete, r.URL, tt.sent, nil, authHeaders(c, ts, n, validSig(t, c, ts, n, tt.decoded, nil)))
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s signed as %s: %d %s", tt.sent, tt.decoded, a.status, a.body)
		}
		ts = stamp(0)
		a = sendRaw(t, http.MethodDelete, r.URL, tt.sent, nil, authHeaders(c, ts, n, validSig(t, c, ts, n, tt.sent, nil)))
		if a.status != http.StatusNotFound {
			t.Errorf("%s signed as sent: %d %s", tt.sent, a.status, a.body)
			continue
		}
		expectError(t, a, http.StatusNotFound, "Channel not found")
	}
}

package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The §2.6 worked example. The key is published in PROTOCOL.md and is for tests only.
const (
	specX = "oHZsKL8XnuxllWkPQMpsAbX2KxIOY6fpn11mUz9Kjxw"
	specY = "tTKlACPWAeUCLlogEHzlMGXl-IeRbEHuueivPt3_tvM"
	specD = "b-rO6_aqYuvtuF-Iur1K7N9XdmLo_GsCJu1xs5YmpaY"

	specAPIKey   = "db837642-afcd-886a-ab00-89fff9de7d47"
	specPostBody = `{"channelId":"0f8fad5b-d9cb-469f-a165-70867728950e","content":"Hello from the agent"}`
	specPostHash = "bd004fb459f6957814cf1db07a5540bf38aaf1e7fa70c1f6a879223c7387813d"
	specPostLoad = "2026-11-23T10:15:30.123Z|3f9a1c0e5b7d4e2a8c6b0d1f2e3a4b5c|/reply|" + specPostHash
	specPostSig  = "9JjvaxjlM/FFvqg4I15CfsnvQFJpHcfwu0wPgn6ippeYP5HsElvdj5v5fssMhi5fEfae45pZjJR/pu8siHH6Ig=="
	specGetLoad  = "2026-11-23T10:15:31.000Z|0d4c2b7e9a1f3c5e7b9d1f3a5c7e9b1d|/messages|" + emptyHash
	specGetSig   = "s9XoEMSeMy00ui8SyKO0sgfO0dhRNXR8ppmf9/TCsrOdxPqyGMCq/1nDnnZLFa+T66s4vwN7Af4eHDITZxL58g=="
	emptyHash    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// --- signatures and keys ---

func TestSpecExampleSignaturesVerify(t *testing.T) {
	pub := specPublic(t)
	sum := sha256.Sum256([]byte(specPostBody))
	equal(t, len(specPostBody), 85)
	equal(t, hex.EncodeToString(sum[:]), specPostHash)
	equal(t, signedPayload("2026-11-23T10:15:30.123Z", "3f9a1c0e5b7d4e2a8c6b0d1f2e3a4b5c", "/reply", []byte(specPostBody)), specPostLoad)
	equal(t, signedPayload("2026-11-23T10:15:31.000Z", "0d4c2b7e9a1f3c5e7b9d1f3a5c7e9b1d", "/messages", nil), specGetLoad)

	for _, tc := range []struct {
		name, payload, sig string
		want               bool
	}{
		{"post", specPostLoad, specPostSig, true},
		{"get", specGetLoad, specGetSig, true},
		{"post unpadded", specPostLoad, strings.TrimRight(specPostSig, "="), true},
		{"path changed", strings.Replace(specPostLoad, "/reply", "/replY", 1), specPostSig, false},
		{"query signed", strings.Replace(specGetLoad, "/messages", "/messages?x=1", 1), specGetSig, false},
		{"base64url", specPostLoad, strings.NewReplacer("+", "-", "/", "_").Replace(specPostSig), false},
		{"swapped", specPostLoad, specGetSig, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, verifyP1363(pub, tc.payload, tc.sig), tc.want)
		})
	}
}

func TestSignPayload(t *testing.T) {
	key, pub := specKey(t), specPublic(t)
	for _, tc := range []struct {
		name, ts, nonce, path, body, payload string
	}{
		{"post", "2026-11-23T10:15:30.123Z", "3f9a1c0e5b7d4e2a8c6b0d1f2e3a4b5c", "/reply", specPostBody, specPostLoad},
		{"get", "2026-11-23T10:15:31.000Z", "0d4c2b7e9a1f3c5e7b9d1f3a5c7e9b1d", "/messages", "", specGetLoad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := SignPayload(key, tc.ts, tc.nonce, tc.path, []byte(tc.body))
			must(t, err)
			raw, err := base64.StdEncoding.Strict().DecodeString(sig) // standard, padded
			must(t, err)
			equal(t, len(raw), 64)
			digest := sha256.Sum256([]byte(tc.payload))
			if !ecdsa.Verify(&key.PublicKey, digest[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])) {
				t.Error("crypto/ecdsa does not verify the signature over the spec payload")
			}
			if !verifyP1363(pub, tc.payload, sig) {
				t.Error("P1363 verification with the spec public key failed")
			}
		})
	}

	other, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(t, err)
	if _, err := SignPayload(other, "t", "n", "/p", nil); err == nil {
		t.Error("P-384 key accepted")
	}
	if _, err := SignPayload(nil, "t", "n", "/p", nil); err == nil {
		t.Error("nil key accepted")
	}
}

func TestPublicJWK(t *testing.T) {
	got := PublicJWK(&specKey(t).PublicKey)
	equal(t, got.Kty, "EC")
	equal(t, got.Crv, "P-256")
	equal(t, got.X, specX)
	equal(t, got.Y, specY)
	pub, err := got.PublicKey()
	must(t, err)
	equal(t, pub.Equal(specPublic(t)), true)
	equal(t, PublicJWK(nil).X, "")

	// Coordinates with a leading zero byte must still be 32 bytes (43 base64url characters).
	// About 1 key in 128 has one; 4096 tries miss with probability ~e^-32.
	for i := 0; ; i++ {
		k, err := GenerateKey()
		must(t, err)
		b, err := k.PublicKey.Bytes()
		must(t, err)
		if b[1] != 0 && b[33] != 0 {
			if i > 4096 {
				t.Fatal("no key with a short coordinate found")
			}
			continue
		}
		j := PublicJWK(&k.PublicKey)
		equal(t, len(j.X), 43)
		equal(t, len(j.Y), 43)
		back, err := j.PublicKey()
		must(t, err)
		equal(t, back.Equal(&k.PublicKey), true)
		break
	}
}

func TestJWKPublicKeyRejects(t *testing.T) {
	for name, j := range map[string]JWK{
		"kty":       {Kty: "RSA", Crv: "P-256", X: specX, Y: specY},
		"crv":       {Kty: "EC", Crv: "P-384", X: specX, Y: specY},
		"short":     {Kty: "EC", Crv: "P-256", X: specX[:40], Y: specY},
		"off curve": {Kty: "EC", Crv: "P-256", X: specY, Y: specX},
		"std b64":   {Kty: "EC", Crv: "P-256", X: specX, Y: strings.NewReplacer("-", "+", "_", "/").Replace(specY)},
	} {
		if _, err := j.PublicKey(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	padded := JWK{Kty: "EC", Crv: "P-256", X: specX + "=", Y: specY + "="}
	_, err := padded.PublicKey()
	must(t, err)
}

func TestFormatTime(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 23, 10, 15, 31, 0, time.UTC), "2026-11-23T10:15:31.000Z"},
		{time.Date(2026, 11, 23, 11, 15, 30, 123_999_999, cet), "2026-11-23T10:15:30.123Z"},
		{time.Unix(0, 0), "1970-01-01T00:00:00.000Z"},
	} {
		equal(t, FormatTime(tc.in), tc.want)
	}
}

// --- requests ---

func TestNewRequestSigned(t *testing.T) {
	auth := &authChecker{apiKey: specAPIKey, pub: specPublic(t), now: fixedNow}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth.check(r); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"path": r.URL.EscapedPath(), "since": r.URL.Query().Get("since")})
	}))
	defer srv.Close()
	c := signedClient(t, srv.URL+"/") // a trailing slash on BaseURL is tolerated

	since := "2026-11-23T10:15:00.000+01:00"
	q, err := pageQuery(since, 0)
	must(t, err)
	for _, tc := range []struct {
		name, method, path, body, wantPath, wantSince string
	}{
		{"post", http.MethodPost, "/reply", specPostBody, "/reply", ""},
		{"get with query", http.MethodGet, "/messages" + q, "", "/messages", since},
		{"patch escaped id", http.MethodPatch, channelPath("a|b é^"), `{"name":"x"}`, "/channels/a%7Cb%20%C3%A9%5E", ""},
		{"delete without body", http.MethodDelete, "/channels/x", "", "/channels/x", ""},
		{"head", http.MethodHead, "/channels", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			req, err := c.NewRequest(context.Background(), tc.method, tc.path, body)
			must(t, err)
			equal(t, req.Header.Get("X-Timestamp"), "2026-11-23T10:15:30.123Z")
			var out struct{ Path, Since string }
			must(t, c.Do(req, &out))
			equal(t, out.Path, tc.wantPath)
			equal(t, out.Since, tc.wantSince)
		})
	}

	if _, err := c.NewRequest(context.Background(), http.MethodGet, "/channels", []byte("{}")); err == nil {
		t.Error("GET with a body accepted")
	}
	if _, err := c.NewRequest(context.Background(), http.MethodGet, "channels", nil); err == nil {
		t.Error("relative path accepted")
	}
}

func TestNewRequestLegacy(t *testing.T) {
	auth := &authChecker{apiKey: specAPIKey}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth.check(r); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, APIKey: specAPIKey}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		req, err := c.NewRequest(context.Background(), m, "/channels", nil)
		must(t, err)
		for _, h := range []string{"X-Timestamp", "X-Nonce", "X-Signature"} {
			if _, ok := req.Header[h]; ok {
				t.Errorf("%s: legacy request has %s", m, h)
			}
		}
		must(t, c.Do(req, nil))
	}
}

func TestDoError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.Header().Set("Retry-After", "7")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "Too many poll requests. Try again later."})
		case "/unauthorized":
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized. Include Authorization: Bearer <apiKey>"})
		case "/proxy":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>\n  <body>Bad   gateway</body>\n</html>"+strings.Repeat("x", 1000))
		case "/empty":
			w.WriteHeader(http.StatusInternalServerError)
		case "/html-ok":
			_, _ = io.WriteString(w, "<html>not json</html>")
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, APIKey: "k"}

	for _, tc := range []struct {
		path        string
		status      int
		msgPrefix   string
		retryAfter  time.Duration
		maxMsgBytes int
	}{
		{"/limited", 429, "Too many poll requests. Try again later.", 7 * time.Second, 100},
		{"/unauthorized", 401, "Unauthorized. Include Authorization: Bearer <apiKey>", 0, 100},
		{"/proxy", 502, "<html> <body>Bad gateway</body> </html>xxx", 0, maxErrorText + len("…")},
		{"/empty", 500, "Internal Server Error", 0, 100},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req, err := c.NewRequest(context.Background(), http.MethodGet, tc.path, nil)
			must(t, err)
			err = c.Do(req, &struct{}{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *Error", err)
			}
			equal(t, e.Status, tc.status)
			equal(t, e.RetryAfter, tc.retryAfter)
			if !strings.HasPrefix(e.Message, tc.msgPrefix) || len(e.Message) > tc.maxMsgBytes {
				t.Errorf("message %q", e.Message)
			}
			if !strings.Contains(e.Error(), strconv.Itoa(tc.status)) {
				t.Errorf("Error() = %q lacks the status", e.Error())
			}
		})
	}

	req, err := c.NewRequest(context.Background(), http.MethodGet, "/html-ok", nil)
	must(t, err)
	var out map[string]any
	if err := c.Do(req, &out); err == nil || errors.As(err, new(*Error)) {
		t.Errorf("non-JSON 200: got %v, want a decode error", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	equal(t, parseRetryAfter(""), 0)
	equal(t, parseRetryAfter("0"), 0)
	equal(t, parseRetryAfter(" 3 "), 3*time.Second)
	equal(t, parseRetryAfter("junk"), 0)
	equal(t, parseRetryAfter("99999999999999999"), 24*time.Hour)
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if d := parseRetryAfter(date); d < 59*time.Minute || d > time.Hour {
		t.Errorf("HTTP date: got %s", d)
	}
}

func TestErrorsDoNotLeakWebhookToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/webhook/ch?token=supersecret"
	srv.Close() // connection refused from now on
	_, err := PostWebhook(context.Background(), nil, u, "text/plain", []byte("hi"))
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Errorf("got %v", err)
	}
	_, err = PostWebhook(context.Background(), nil, "http://h/x?token=supersecret\x7f", "", nil)
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Errorf("got %v", err)
	}
}

// --- registration and channels ---

func TestRegister(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/auth/register" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
			return
		}
		body, _ := io.ReadAll(r.Body)
		userID := "legacy-user"
		if len(body) > 0 {
			var in struct{ PublicKey JWK }
			if err := json.Unmarshal(body, &in); err != nil || in.PublicKey.X != specX || in.PublicKey.Y != specY ||
				in.PublicKey.Kty != "EC" || in.PublicKey.Crv != "P-256" {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid publicKey"})
				return
			}
			userID = "signed-user"
		}
		writeJSON(w, http.StatusOK, map[string]any{"userId": userID, "apiKey": specAPIKey,
			"serverPublicKey": JWK{Kty: "EC", Crv: "P-256", X: specX, Y: specY, KeyOps: []string{"verify"}, Ext: true}})
	}))
	defer srv.Close()

	c, err := Register(context.Background(), srv.URL+"/", specKey(t), nil)
	must(t, err)
	equal(t, c.UserID, "signed-user")
	equal(t, c.APIKey, specAPIKey)
	equal(t, c.BaseURL, srv.URL)
	equal(t, c.ServerPublicKey.X, specX)
	equal(t, c.Key != nil, true)

	c, err = Register(context.Background(), srv.URL, nil, srv.Client())
	must(t, err)
	equal(t, c.UserID, "legacy-user")
	equal(t, c.Key == nil, true)
}

func TestChannelRequests(t *testing.T) {
	auth := &authChecker{apiKey: specAPIKey, pub: specPublic(t), now: fixedNow}
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if err := auth.check(r); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		mu.Lock()
		bodies = append(bodies, r.Method+" "+r.URL.EscapedPath()+" "+string(body))
		mu.Unlock()
		ch := map[string]any{"id": "c1", "type": "webhook", "direction": "inbound", "agentId": "", "enabled": true,
			"metadata": map[string]any{"webhookSecret": "s"}}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]any{"channels": []any{ch}})
		case http.MethodPost:
			writeJSON(w, http.StatusCreated, map[string]any{"channel": ch, "webhookUrl": "https://relay/webhook/c1?token=s"})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": ch})
		}
	}))
	defer srv.Close()
	c, ctx := signedClient(t, srv.URL), context.Background()

	chs, err := c.Channels(ctx)
	must(t, err)
	equal(t, len(chs), 1)
	equal(t, chs[0].Metadata["webhookSecret"], any("s"))

	off := false
	ch, hook, err := c.CreateChannel(ctx, NewChannel{ID: "c1", Name: "GitHub", Enabled: &off, Metadata: map[string]any{"k": "<v>"}})
	must(t, err)
	equal(t, ch.ID, "c1")
	equal(t, hook, "https://relay/webhook/c1?token=s")

	name, empty := "n", ""
	_, err = c.UpdateChannel(ctx, "c1", ChannelUpdate{})
	must(t, err)
	_, err = c.UpdateChannel(ctx, "c1", ChannelUpdate{Name: &name, AgentID: &empty, AllowedUsers: []string{}})
	must(t, err)
	_, err = c.UpdateChannel(ctx, "c1", ChannelUpdate{Enabled: &off, AllowedSenders: []string{"a@b"}})
	must(t, err)
	must(t, c.DeleteChannel(ctx, "c1"))

	want := []string{
		`GET /channels `,
		`POST /channels {"id":"c1","name":"GitHub","enabled":false,"metadata":{"k":"<v>"}}`,
		`PATCH /channels/c1 {}`,
		`PATCH /channels/c1 {"name":"n","agentId":"","metadata":{"allowedUsers":[]}}`,
		`PATCH /channels/c1 {"enabled":false,"metadata":{"allowedSenders":["a@b"]}}`,
		`DELETE /channels/c1 `,
	}
	mu.Lock()
	defer mu.Unlock()
	equal(t, len(bodies), len(want))
	for i := range min(len(bodies), len(want)) {
		equal(t, bodies[i], want[i])
	}
}

// --- polling, replies, responses, webhooks ---

// fakeInbox serves GET /messages with the §5.3 semantics over a slice that tests append to.
type fakeInbox struct {
	auth *authChecker

	mu       sync.Mutex
	messages []Message
	failNext bool
}

func (f *fakeInbox) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		i := len(f.messages)
		ts := FormatTime(fixedNow.Add(time.Duration(i) * time.Millisecond))
		f.messages = append(f.messages, Message{ID: "m" + strconv.Itoa(i), UserID: "u", ChannelType: "webhook",
			ChannelID: "c1", From: "webhook", Content: "hi", Timestamp: ts,
			Metadata: map[string]any{"chatId": json.Number("9007199254740993")}})
	}
}

func (f *fakeInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f.auth.check(r); err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext {
		f.failNext = false
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "Storage unavailable. Please retry."})
		return
	}
	since, after := r.URL.Query().Get("since"), time.Time{}
	out := MessagesPage{Messages: []Message{}, Since: "1970-01-01T00:00:00.000Z"}
	if since != "" {
		var err error
		if after, err = time.Parse(time.RFC3339Nano, since); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid since parameter"})
			return
		}
		out.Since = FormatTime(after)
	}
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		limit, _ = strconv.Atoi(l)
	}
	for _, m := range f.messages {
		ts, _ := time.Parse(time.RFC3339Nano, m.Timestamp)
		if !ts.After(after) {
			continue
		}
		if len(out.Messages) == limit {
			out.HasMore = true
			break
		}
		out.Messages = append(out.Messages, m)
		out.Since = m.Timestamp
	}
	writeJSON(w, http.StatusOK, out)
}

func TestPoll(t *testing.T) {
	inbox := &fakeInbox{auth: &authChecker{apiKey: specAPIKey, pub: specPublic(t), now: fixedNow}}
	srv := httptest.NewServer(inbox)
	defer srv.Close()
	c, ctx := signedClient(t, srv.URL), context.Background()

	page, err := c.Poll(ctx, 0)
	must(t, err)
	equal(t, len(page.Messages), 0)
	equal(t, c.Cursor, "1970-01-01T00:00:00.000Z")

	inbox.add(7)
	var got []string
	for i := 0; ; i++ {
		if i == 2 {
			inbox.mu.Lock()
			inbox.failNext = true
			inbox.mu.Unlock()
			before := c.Cursor
			if _, err := c.Poll(ctx, 3); err == nil {
				t.Fatal("injected failure not reported")
			}
			equal(t, c.Cursor, before) // a failed poll keeps the cursor
		}
		page, err := c.Poll(ctx, 3)
		must(t, err)
		for _, m := range page.Messages {
			got = append(got, m.ID)
			equal(t, m.Metadata["chatId"], any(json.Number("9007199254740993")))
		}
		if !page.HasMore {
			break
		}
	}
	equal(t, strings.Join(got, ","), "m0,m1,m2,m3,m4,m5,m6")
	equal(t, c.Cursor, FormatTime(fixedNow.Add(6*time.Millisecond)))

	inbox.add(1)
	page, err = c.Poll(ctx, 3)
	must(t, err)
	equal(t, len(page.Messages), 1)
	equal(t, page.Messages[0].ID, "m7")
	equal(t, c.Cursor, page.Messages[0].Timestamp)

	if _, err := c.Poll(ctx, -1); err == nil {
		t.Error("negative limit accepted")
	}
}

func TestReplyResponsesWebhook(t *testing.T) {
	auth := &authChecker{apiKey: specAPIKey, pub: specPublic(t), now: fixedNow}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/reply":
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			if err := auth.check(r); err != nil {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
				return
			}
			want := `{"channelId":"c1","content":"a < b & c","replyTo":"m1","metadata":{"chatId":9007199254740993}}`
			if string(body) != want {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body " + string(body)})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "responseId": "r1"})
		case r.URL.Path == "/responses/c1":
			if r.Header.Get("Authorization") != "" || r.URL.RawQuery != "limit=2&since=2026-11-23T10%3A15%3A30.123Z" {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "query " + r.URL.RawQuery})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"responses": []any{map[string]any{"id": "r1", "channelType": "webhook",
				"channelId": "c1", "from": "agent", "content": "done", "timestamp": "2026-11-23T10:15:30.124Z",
				"metadata": map[string]any{}}}, "since": "2026-11-23T10:15:30.124Z", "hasMore": false})
		case r.URL.Path == "/webhook/c1":
			if r.URL.Query().Get("token") != "s" || r.Header.Get("Content-Type") != "application/json" {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Invalid token"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "messageId": "m9"})
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
		}
	}))
	defer srv.Close()
	c, ctx := signedClient(t, srv.URL), context.Background()

	id, err := c.Reply(ctx, Reply{ChannelID: "c1", Content: "a < b & c", ReplyTo: "m1",
		Metadata: map[string]any{"chatId": json.Number("9007199254740993")}})
	must(t, err)
	equal(t, id, "r1")

	page, err := Responses(ctx, nil, srv.URL, "c1", "2026-11-23T10:15:30.123Z", 2)
	must(t, err)
	equal(t, len(page.Responses), 1)
	equal(t, page.Responses[0].Content, "done")
	equal(t, page.Since, "2026-11-23T10:15:30.124Z")

	_, err = Responses(ctx, nil, srv.URL, "nope", "", 0)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound {
		t.Errorf("unknown channel: got %v", err)
	}

	mid, err := PostWebhook(ctx, srv.Client(), srv.URL+"/webhook/c1?token=s", "application/json", []byte(`{"text":"hi"}`))
	must(t, err)
	equal(t, mid, "m9")
	_, err = PostWebhook(ctx, nil, srv.URL+"/webhook/c1?token=bad", "application/json", []byte(`{}`))
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Message != "Invalid token" {
		t.Errorf("bad token: got %v", err)
	}
}

package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/chaos-relay/relay/client"
)

var (
	uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	isoMS  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// registered is a 200 answer of POST /auth/register, checked field by field.
type registered struct {
	UserID, APIKey  string
	ServerPublicKey json.RawMessage
}

// checkRegistered checks the shape of a registration answer (PROTOCOL §2.2).
func checkRegistered(t *testing.T, a answer) registered {
	t.Helper()
	checkCommon(t, a)
	if a.status != http.StatusOK {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	if got := members(t, a.body); !slices.Equal(got, []string{"userId", "apiKey", "serverPublicKey"}) {
		t.Errorf("register members %v", got)
	}
	var reg registered
	decode(t, a, &reg)
	if !uuidV4.MatchString(reg.UserID) || !uuidV8.MatchString(reg.APIKey) {
		t.Errorf("userId %q (want UUIDv4), apiKey %q (want UUIDv8)", reg.UserID, reg.APIKey)
	}
	spk := string(reg.ServerPublicKey)
	if got := members(t, spk); !slices.Equal(got, []string{"kty", "crv", "x", "y", "alg", "key_ops", "ext"}) {
		t.Errorf("serverPublicKey members %v", got)
	}
	var k struct {
		Kty, Crv, X, Y, Alg string
		KeyOps              json.RawMessage `json:"key_ops"`
		Ext                 json.RawMessage
	}
	if err := json.Unmarshal(reg.ServerPublicKey, &k); err != nil {
		t.Fatal(err)
	}
	if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || string(k.KeyOps) != `["verify"]` || string(k.Ext) != "true" {
		t.Errorf("serverPublicKey %s", spk)
	}
	if _, err := (client.JWK{Kty: k.Kty, Crv: k.Crv, X: k.X, Y: k.Y}).PublicKey(); err != nil || len(k.X) != 43 || len(k.Y) != 43 {
		t.Errorf("serverPublicKey is not an unpadded P-256 point: %s (%v)", spk, err)
	}
	return reg
}

// jwkOf is the public JWK of key as WebCrypto exports it.
func jwkOf(t *testing.T, key *ecdsa.PrivateKey) map[string]any {
	t.Helper()
	j := client.PublicJWK(&key.PublicKey)
	return map[string]any{"kty": j.Kty, "crv": j.Crv, "x": j.X, "y": j.Y, "key_ops": []string{"verify"}, "ext": true}
}

func registerBody(t *testing.T, r *relay, body any) answer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, http.MethodPost, r.URL+"/auth/register", b, map[string]string{"Content-Type": "application/json"})
}

// isLegacy checks that a session authenticates without a signature.
func isLegacy(t *testing.T, r *relay, reg registered) {
	t.Helper()
	a := send(t, http.MethodGet, r.URL+"/channels", nil, map[string]string{"Authorization": "Bearer " + reg.APIKey})
	expect(t, a, http.StatusOK, `{"channels":[]}`)
}

func TestRegisterLegacy(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	first := checkRegistered(t, send(t, http.MethodPost, r.URL+"/auth/register", nil, nil))
	isLegacy(t, r, first)
	seen := map[string]bool{first.UserID: true}

	// Bodies that do not parse, or carry a falsy publicKey, are legacy
	// registrations, never errors (PROTOCOL §2.2).
	for _, body := range []string{
		"", "{", "not json", "[]", "null", `"x"`, "42", `{"publicKey":1}x`,
		`{}`, `{"publicKey":null}`, `{"publicKey":false}`, `{"publicKey":0}`, `{"publicKey":-0}`, `{"publicKey":0.0}`, `{"publicKey":""}`, `{"other":true}`,
	} {
		reg := checkRegistered(t, send(t, http.MethodPost, r.URL+"/auth/register", []byte(body), map[string]string{"Content-Type": "application/json"}))
		if seen[reg.UserID] {
			t.Errorf("body %q reused session %s", body, reg.UserID)
		}
		seen[reg.UserID] = true
		isLegacy(t, r, reg)
		if string(reg.ServerPublicKey) != string(first.ServerPublicKey) {
			t.Errorf("serverPublicKey changed: %s then %s", first.ServerPublicKey, reg.ServerPublicKey)
		}
	}
}

func TestRegisterSignedAndReclaim(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	key, err := client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	jwk := jwkOf(t, key)
	reg := checkRegistered(t, registerBody(t, r, map[string]any{"publicKey": jwk}))

	// A signed session must sign: the bearer alone is refused.
	a := send(t, http.MethodGet, r.URL+"/channels", nil, map[string]string{"Authorization": "Bearer " + reg.APIKey})
	expectUnauthorized(t, a)
	c := &client.Client{BaseURL: r.URL, UserID: reg.UserID, APIKey: reg.APIKey, Key: key}
	if _, _, err := c.CreateChannel(bg, client.NewChannel{}); err != nil {
		t.Fatal(err)
	}

	// Reclaim: the same key (without the WebCrypto extras, with padding, or
	// with unknown members) gives the same session and apiKey.
	padded := map[string]any{"kty": "EC", "crv": "P-256", "x": jwk["x"].(string) + "=", "y": jwk["y"].(string) + "="}
	bare := map[string]any{"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"], "alg": "ES256", "use": "sig"}
	for _, pk := range []map[string]any{jwk, padded, bare} {
		again := checkRegistered(t, registerBody(t, r, map[string]any{"publicKey": pk, "ignored": 1}))
		if again.UserID != reg.UserID || again.APIKey != reg.APIKey {
			t.Errorf("reclaim with %v: %s/%s, want %s/%s", pk, again.UserID, again.APIKey, reg.UserID, reg.APIKey)
		}
	}
	// Reclaim created nothing and changed nothing: the channel is still there.
	if list, err := c.Channels(bg); err != nil || len(list) != 1 {
		t.Fatalf("after reclaim: %v %v", list, err)
	}
	// Another key is another session.
	other := r.register(t, true)
	if other.UserID == reg.UserID || other.APIKey == reg.APIKey {
		t.Fatal("two keys share a session")
	}
}

func TestRegisterInvalidPublicKey(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	key, err := client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := jwkOf(t, key)
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	x, _ := base64.RawURLEncoding.DecodeString(good["x"].(string))
	y, _ := base64.RawURLEncoding.DecodeString(good["y"].(string))
	// A point off the curve: y+1 (mod 256 on the last byte) is not a
	// solution for x, as P-256 has at most two y per x (y and p-y).
	y2 := append([]byte(nil), y...)
	y2[31]++
	if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y2...)); err == nil {
		t.Fatal("test point is on the curve")
	}
	b64 := base64.RawURLEncoding.EncodeToString
	stdX := base64.StdEncoding.EncodeToString(x)
	for name, pk := range map[string]any{
		"string":           "key",
		"number":           1,
		"true":             true,
		"array":            []any{good},
		"empty object":     map[string]any{},
		"kty RSA":          with("kty", "RSA"),
		"kty missing":      with("kty", nil),
		"kty lowercase":    with("kty", "ec"),
		"crv P-384":        with("crv", "P-384"),
		"crv missing":      with("crv", nil),
		"x missing":        with("x", nil),
		"y missing":        with("y", nil),
		"x number":         with("x", 5),
		"x empty":          with("x", ""),
		"x 31 bytes":       with("x", b64(x[:31])),
		"x 33 bytes":       with("x", b64(append([]byte{0}, x...))),
		"y 31 bytes":       with("y", b64(y[:31])),
		"x not base64url":  with("x", "!!"+good["x"].(string)[2:]),
		"x standard b64":   with("x", stdX+"+/"),
		"point off curve":  with("y", b64(y2)),
		"all-zero point":   with("x", b64(make([]byte, 32))),
		"x and y swapped":  map[string]any{"kty": "EC", "crv": "P-256", "x": good["y"], "y": good["x"]},
		"private key only": map[string]any{"kty": "EC", "crv": "P-256", "d": good["x"]},
	} {
		if name == "x and y swapped" {
			if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, y...), x...)); err == nil {
				continue // astronomically unlikely: the swapped point is on the curve
			}
		}
		a := registerBody(t, r, map[string]any{"publicKey": pk})
		if a.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, a.status, a.body)
			continue
		}
		expectError(t, a, http.StatusBadRequest, "Invalid publicKey")
	}
	// The refusals stored nothing: the valid key registers a new session.
	reg := checkRegistered(t, registerBody(t, r, map[string]any{"publicKey": good}))
	c := &client.Client{BaseURL: r.URL, UserID: reg.UserID, APIKey: reg.APIKey, Key: key}
	if list, err := c.Channels(bg); err != nil || len(list) != 0 {
		t.Fatalf("new session: %v %v", list, err)
	}
}

package storage

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestSplitAndJoinSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, meta, public string
		secrets            map[string]string
	}{
		{"telegram", `{"botUsername":"b","webhookSecret":"s1","pairingCode":"ABCD1234"}`,
			`{"botUsername":"b","webhookSecret":null,"pairingCode":null}`, map[string]string{"webhookSecret": `"s1"`, "pairingCode": `"ABCD1234"`}},
		{"no secrets", `{"a":1,"allowedUsers":["1"]}`, `{"a":1,"allowedUsers":["1"]}`, nil},
		{"escapes and order kept", `{"z\u2028<":"x","webhookSecret":"a\"b","a":{"webhookSecret":"nested"}}`,
			`{"z\u2028<":"x","webhookSecret":null,"a":{"webhookSecret":"nested"}}`, map[string]string{"webhookSecret": `"a\"b"`}},
		{"a pre-seeded number", `{"pairingCode":42}`, `{"pairingCode":null}`, map[string]string{"pairingCode": "42"}},
		{"null is no secret", `{"pairingCode":null}`, `{"pairingCode":null}`, nil},
		{"empty", `{}`, `{}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			public, secrets, err := SplitSecrets(json.RawMessage(tc.meta))
			if err != nil {
				t.Fatal(err)
			}
			if string(public) != tc.public {
				t.Errorf("public = %s, want %s", public, tc.public)
			}
			if len(secrets) != len(tc.secrets) {
				t.Fatalf("secrets = %v, want %v", secrets, tc.secrets)
			}
			for k, v := range tc.secrets {
				if string(secrets[k]) != v {
					t.Errorf("secret %s = %s, want %s", k, secrets[k], v)
				}
			}
			joined, err := JoinSecrets(public, secrets)
			if err != nil || string(joined) != tc.meta {
				t.Errorf("joined = %s, %v; want %s", joined, err, tc.meta)
			}
		})
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":1`, `{"a":1}x`} {
		if _, _, err := SplitSecrets(json.RawMessage(bad)); err == nil {
			t.Errorf("SplitSecrets(%s): no error", bad)
		}
	}
}

func TestFingerprintHashIsKeyed(t *testing.T) {
	k := PublicKey{X: "x", Y: "y"}
	a, b := FingerprintHash([]byte("key one"), k), FingerprintHash([]byte("key two"), k)
	if bytes.Equal(a, b) || bytes.Contains(a, []byte("x:y")) || len(a) != 32 {
		t.Fatalf("hashes %x and %x", a, b)
	}
}

package seal

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestKeyIDVector(t *testing.T) {
	k := testKey(t, 0)
	if got, want := k.ID(), "630dcd2966c43366"; got != want {
		t.Fatalf("ID() = %q, want %q", got, want)
	}
}

func TestNewRootKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := NewRootKey(make([]byte, n))
		errorIs(t, err, ErrRootKey)
	}
	raw := bytes.Repeat([]byte{7}, 32)
	k, err := NewRootKey(raw)
	noErr(t, err)
	want := k.Encode()
	raw[0] = 8 // the key holds a copy
	if got := k.Encode(); got != want {
		t.Fatalf("key changed with its input: %s, want %s", got, want)
	}
}

func TestGenerateRootKey(t *testing.T) {
	a, err := GenerateRootKey()
	noErr(t, err)
	b, err := GenerateRootKey()
	noErr(t, err)
	if a.Encode() == b.Encode() || a.ID() == b.ID() {
		t.Fatal("two generated keys are equal")
	}
}

func TestParseRootKey(t *testing.T) {
	k := testKey(t, 0)
	enc := k.Encode()
	if len(enc) != 44 {
		t.Fatalf("Encode() has %d characters, want 44", len(enc))
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"padded", enc, true},
		{"whitespace", " \t" + enc + " \r\n", true},
		{"newline", enc + "\n", true},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31)), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), false},
		{"unpadded", base64.RawStdEncoding.EncodeToString(make([]byte, 32)), false},
		{"base64url", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)), false},
		{"inner newline", enc[:20] + "\n" + enc[21:], false},
		{"inner space", enc[:20] + " " + enc[21:], false},
		{"non-zero padding bits", enc[:42] + "9=", false},
		{"garbage", strings.Repeat("!", 44), false},
		{"empty", "", false},
		{"hex", strings.Repeat("ab", 32), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRootKey(tt.in)
			if !tt.ok {
				errorIs(t, err, ErrRootKey)
				if strings.Contains(err.Error(), strings.TrimSpace(tt.in)) && tt.in != "" {
					t.Fatalf("error quotes the input: %v", err)
				}
				return
			}
			noErr(t, err)
			if got.Encode() != enc || got.ID() != k.ID() {
				t.Fatalf("parsed key %s, want %s", got.ID(), k.ID())
			}
		})
	}
}

func TestRootKeyRedacted(t *testing.T) {
	k := testKey(t, 0)
	secrets := []string{
		k.Encode(),
		string(k.key[:]),
		fmt.Sprintf("%x", k.key[:]),
		fmt.Sprint(k.key[:]), // [0 1 2 ...]
		"1 2 3 4 5 6",
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
	}
	outputs = append(outputs, k.String(), k.GoString(), fmt.Sprint(k), fmt.Sprint(*k),
		fmt.Sprintf("%v", struct{ K *RootKey }{k}), fmt.Sprintf("%+v", []*RootKey{k}))

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "root_key", k, "value", *k)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "root_key", k, slog.Any("value", *k))
	outputs = append(outputs, buf.String())

	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains key material %q", out, s)
			}
		}
	}
	if s := k.String(); !strings.Contains(s, k.ID()) || !strings.Contains(s, "redacted") {
		t.Errorf("String() = %q, want the id and \"redacted\"", s)
	}
	if !strings.Contains(buf.String(), k.ID()) {
		t.Errorf("slog output %q lacks the key id", buf.String())
	}
}

func TestNilRootKey(t *testing.T) {
	var k *RootKey
	_, err := Seal(k, nil, []byte("x"))
	errorIs(t, err, ErrRootKey)
	_, err = Open(k, nil, make([]byte, minLen))
	errorIs(t, err, ErrRootKey)
	_, err = Rewrap(k, testKey(t, 0), nil, nil)
	errorIs(t, err, ErrRootKey)
	_, err = Seal(&RootKey{}, nil, []byte("x"))
	errorIs(t, err, ErrRootKey)
	err = WriteKeyFile(t.TempDir()+"/root.key", nil)
	errorIs(t, err, ErrRootKey)
	if s := fmt.Sprint(k); s != "<nil>" {
		t.Errorf("Sprint(nil) = %q", s)
	}
}

package email_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/email/emailtest"
)

// vectorNow is the "now" of PROTOCOL §4.5's Svix test vector (its svix-timestamp).
var vectorNow = time.Unix(1795428930, 0)

const (
	testDomain  = "mail.example.org"
	testInbound = "support-k3x9q2m7ab@mail.example.org"
)

// equal fails the test when got != want.
func equal[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

// deepEqual fails the test when got and want differ deeply.
func deepEqual(t *testing.T, name string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

// errorIs fails the test when err does not match want (want == nil means no error).
func errorIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Errorf("err = %v, want %v", err, want)
	}
}

// must fails the test at once on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readTestdata returns the contents of testdata/name.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newAdapter returns an adapter for the fake at url, with the fake's key and the test domain;
// mod may change the config first.
func newAdapter(t *testing.T, url string, mod ...func(*email.Config)) *email.Adapter {
	t.Helper()
	cfg := email.Config{
		APIURL:        url,
		APIKey:        emailtest.APIKey,
		Domain:        testDomain,
		WebhookSecret: emailtest.WebhookSecret,
	}
	for _, m := range mod {
		m(&cfg)
	}
	must(t, cfg.Validate())
	return email.New(cfg, slog.New(slog.DiscardHandler))
}

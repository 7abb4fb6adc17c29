package telegram_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
)

// token is a real-shaped bot token; tests assert that it never shows in an error text.
const token = "7012345678:AAH-secretTokenPart_9xYz"

// equal fails the test when got != want.
func equal[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

// must fails the test at once on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// errorIs fails the test when err does not match want.
func errorIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
}

// safe fails the test unless err is non-nil and its text holds neither the token nor a URL.
func safe(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	msg := err.Error()
	for _, bad := range []string{token, "AAH-secret", "://", "/bot"} {
		if strings.Contains(msg, bad) {
			t.Errorf("error text %q contains %q", msg, bad)
		}
	}
}

// readSample returns testdata/name.
func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	return b
}

// newFake returns a fake Bot API that knows token as @relay_test_bot, and an adapter pointed at it.
func newFake(t *testing.T) (*telegramtest.Server, *telegram.Adapter) {
	t.Helper()
	fake := telegramtest.New(t)
	fake.AddBot(token, "relay_test_bot")
	return fake, telegram.New(telegram.Config{APIURL: fake.URL, Timeout: 5 * time.Second}, nil)
}

// ptr returns a pointer to v.
func ptr(v int64) *int64 { return &v }

package discord_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/discord/discordtest"
)

// fake is the one fake Discord of this test binary: discordgo's endpoints are process-global, so
// tests share it and isolate themselves by bot token (newBot).
var fake *discordtest.Server

func TestMain(m *testing.M) {
	fake = discordtest.NewServer()
	code := m.Run()
	fake.Close()
	os.Exit(code)
}

// tokenSeq makes every test bot's token unique.
var tokenSeq atomic.Int64

// newBot registers a fresh bot with the fake and returns its token (real-shaped, so tests can
// assert that it never shows in error texts) and its details.
func newBot(t *testing.T) (string, discordtest.Bot) {
	t.Helper()
	n := tokenSeq.Add(1)
	token := fmt.Sprintf("MTAwMDAwMDAwMDAwMDAwMD%03d.GhIjKl.secretTokenPart_%03d", n, n)
	b := discordtest.Bot{
		UserID:        fmt.Sprintf("10000000000000%05d", n),
		Username:      fmt.Sprintf("relaybot%d", n),
		ApplicationID: fmt.Sprintf("16000000000000%05d", n),
		VerifyKey:     discordtest.VerifyKey(discordtest.TestSeed()),
	}
	fake.AddBot(token, b)
	return token, b
}

// newAdapter returns an adapter pointed at the fake, with gateway sessions and a short back-off;
// it is closed when the test ends.
func newAdapter(t *testing.T) *discord.Adapter {
	t.Helper()
	a := discord.New(discord.Config{APIURL: fake.URL, Timeout: 5 * time.Second, Gateway: true}, nil)
	discord.SetBackoff(a, 50*time.Millisecond, 200*time.Millisecond)
	t.Cleanup(a.Close)
	return a
}

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
func safe(t *testing.T, err error, token string) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	msg := err.Error()
	for _, bad := range []string{token, "secretTokenPart", "://", "Bot "} {
		if strings.TrimSpace(bad) != "" && strings.Contains(msg, bad) {
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

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// noDiscordgoGoroutines waits until no goroutine runs discordgo code (its reader and heartbeat
// goroutines end shortly after Close returns) and fails the test otherwise.
func noDiscordgoGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "bwmarrin/discordgo") && !strings.Contains(stacks, "discord.(*Adapter).supervise") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", stacks)
		}
		<-tick.C
	}
}

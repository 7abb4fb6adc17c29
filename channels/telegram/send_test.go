package telegram_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
)

// creds returns Credentials that hold tok as "botToken".
func creds(tok string) channels.Credentials {
	return func(_ context.Context, name string) ([]byte, error) {
		if name != "botToken" {
			return nil, errors.New("no such secret: " + name)
		}
		return []byte(tok), nil
	}
}

// part returns a reply part for chat.
func part(chat, text string) channels.Part {
	return channels.Part{ResponseID: "01a207e7-524e-7bd3-892d-1a890abb0e71", ChannelID: "ch", Target: chat, Text: text, Total: 1}
}

// hangingServer reads requests and answers nothing until the client gives up or the test ends.
// (The server notices a client leaving only once the body is read, hence the io.Copy.)
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: cleanups run last-in, first-out
	return srv
}

// retryable fails the test unless err is a plain retryable error: not permanent, no retry hint.
func retryable(t *testing.T, err error) {
	t.Helper()
	safe(t, err)
	if errors.Is(err, channels.ErrPermanent) {
		t.Errorf("err %q is permanent, want retryable", err)
	}
	if _, ok := errors.AsType[*channels.RetryAfterError](err); ok {
		t.Errorf("err %q carries a retry hint, want none", err)
	}
}

func TestMaxPartUnits(t *testing.T) {
	_, a := newFake(t)
	var s channels.Sender = a
	equal(t, "MaxPartUnits", s.MaxPartUnits(), 4096)
}

func TestSendMarkdown(t *testing.T) {
	fake, a := newFake(t)
	must(t, a.Send(context.Background(), part("523109881", "Done. *All* green."), creds(token)))
	sent := fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent = %d messages, want 1", len(sent))
	}
	equal(t, "message", sent[0], telegramtest.SentMessage{ChatID: "523109881", Text: "Done. *All* green.", ParseMode: "Markdown"})
	equal(t, "sendMessage calls", len(fake.CallsTo("sendMessage")), 1)
}

func TestSendMarkdownRejectedFallsBackToPlain(t *testing.T) {
	fake, a := newFake(t)
	fake.RejectMarkdown(true)
	must(t, a.Send(context.Background(), part("-1001234567890123", "snake_case *unclosed"), creds(token)))

	calls := fake.CallsTo("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("sendMessage calls = %d, want 2", len(calls))
	}
	equal(t, "first parse_mode", calls[0].Params["parse_mode"], "Markdown")
	equal(t, "first status", calls[0].Status, http.StatusBadRequest)
	if _, ok := calls[1].Params["parse_mode"]; ok {
		t.Errorf("second call has parse_mode %q, want none", calls[1].Params["parse_mode"])
	}
	equal(t, "second text", calls[1].Params["text"], "snake_case *unclosed")
	sent := fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent = %d messages, want 1", len(sent))
	}
	equal(t, "message", sent[0], telegramtest.SentMessage{ChatID: "-1001234567890123", Text: "snake_case *unclosed"})
}

func TestSendMarkdownRejectedThenPlainFails(t *testing.T) {
	fake, a := newFake(t)
	fake.FailNext("sendMessage", 1, 400, "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 4", 0)
	fake.FailNext("sendMessage", 1, 502, "", 0)
	err := a.Send(context.Background(), part("1", "a_b"), creds(token))
	retryable(t, err)
	equal(t, "error", err.Error(), "telegram: sendMessage: 502 Bad Gateway")
	equal(t, "sendMessage calls", len(fake.CallsTo("sendMessage")), 2)
}

func TestSendOtherBadRequestIsNotRetriedPlain(t *testing.T) {
	fake, a := newFake(t)
	err := a.Send(context.Background(), part("not-a-chat", "hi"), creds(token))
	safe(t, err)
	errorIs(t, err, channels.ErrPermanent)
	equal(t, "error", err.Error(), "permanent failure: telegram: sendMessage: 400 Bad Request: chat not found")
	equal(t, "sendMessage calls", len(fake.CallsTo("sendMessage")), 1)
}

func TestSendTooManyRequests(t *testing.T) {
	fake, a := newFake(t)
	fake.FailNext("sendMessage", 1, 429, "", 7)
	err := a.Send(context.Background(), part("1", "hi"), creds(token))
	safe(t, err)
	ra, ok := errors.AsType[*channels.RetryAfterError](err)
	if !ok {
		t.Fatalf("err = %v (%T), want *channels.RetryAfterError", err, err)
	}
	equal(t, "After", ra.After, 7*time.Second)
	equal(t, "RetryAfter", channels.RetryAfter(err), 7*time.Second)
	equal(t, "error", ra.Err.Error(), "telegram: sendMessage: 429 Too Many Requests: retry after 7")
	if errors.Is(err, channels.ErrPermanent) {
		t.Error("429 is permanent, want retryable")
	}
	equal(t, "sent", len(fake.Sent()), 0)

	// Once the hint has passed, the same part goes through.
	must(t, a.Send(context.Background(), part("1", "hi"), creds(token)))
	equal(t, "sent", len(fake.Sent()), 1)
}

func TestSendTooManyRequestsRetryAfterHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("<html>slow down</html>"))
	}))
	t.Cleanup(srv.Close)
	a := telegram.New(telegram.Config{APIURL: srv.URL}, nil)
	err := a.Send(context.Background(), part("1", "hi"), creds(token))
	safe(t, err)
	equal(t, "RetryAfter", channels.RetryAfter(err), 30*time.Second)
	equal(t, "error", err.Error(), "retry after 30s: telegram: sendMessage: 429 Too Many Requests")
}

func TestSendStatuses(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		description string
		permanent   bool
		want        string
	}{
		{"500", 500, "", false, "telegram: sendMessage: 500 Internal Server Error"},
		{"502 with description", 502, "Bad Gateway", false, "telegram: sendMessage: 502 Bad Gateway"},
		{"408", 408, "", false, "telegram: sendMessage: 408 Request Timeout"},
		{"400 chat not found", 400, "Bad Request: chat not found", true,
			"permanent failure: telegram: sendMessage: 400 Bad Request: chat not found"},
		{"403 blocked", 403, "Forbidden: bot was blocked by the user", true,
			"permanent failure: telegram: sendMessage: 403 Forbidden: bot was blocked by the user"},
		{"401 revoked token", 401, "Unauthorized", true, "permanent failure: telegram: sendMessage: 401 Unauthorized"},
		{"description naming the token", 400, "Bad Request: token " + token + " is odd\nsecond line", true,
			"permanent failure: telegram: sendMessage: 400 Bad Request: token <token> is odd second line"},
		{"2xx with ok false", 200, "", false, "telegram: sendMessage: 200 OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, a := newFake(t)
			fake.FailNext("sendMessage", 1, tt.status, tt.description, 0)
			err := a.Send(context.Background(), part("1", "hi"), creds(token))
			if tt.permanent {
				safe(t, err)
				errorIs(t, err, channels.ErrPermanent)
			} else {
				retryable(t, err)
			}
			equal(t, "error", err.Error(), tt.want)
			equal(t, "sendMessage calls", len(fake.CallsTo("sendMessage")), 1)
		})
	}
}

func TestSendProxyHTML502(t *testing.T) {
	fake, a := newFake(t)
	fake.ReplyNext("sendMessage", 1, 502, "text/html",
		"<html><head><title>502 Bad Gateway</title></head><body>upstream /bot"+token+"/sendMessage</body></html>")
	err := a.Send(context.Background(), part("1", "hi"), creds(token))
	retryable(t, err)
	equal(t, "error", err.Error(), "telegram: sendMessage: 502 Bad Gateway")
}

func TestSendNetworkError(t *testing.T) {
	fake, a := newFake(t)
	fake.Close()
	err := a.Send(context.Background(), part("1", "hi"), creds(token))
	retryable(t, err)
	equal(t, "error", err.Error(), "telegram: sendMessage: connection refused")
}

func TestSendTimeout(t *testing.T) {
	srv := hangingServer(t)
	a := telegram.New(telegram.Config{APIURL: srv.URL, Timeout: 50 * time.Millisecond}, nil)
	err := a.Send(context.Background(), part("1", "hi"), creds(token))
	retryable(t, err)
	equal(t, "error", err.Error(), "telegram: sendMessage: timeout")
	errorIs(t, err, context.DeadlineExceeded)
}

func TestSendCanceled(t *testing.T) {
	srv := hangingServer(t)
	a := telegram.New(telegram.Config{APIURL: srv.URL}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.Send(ctx, part("1", "hi"), creds(token))
	retryable(t, err)
	errorIs(t, err, context.Canceled)
}

func TestSendRefusesRedirectToAnotherHost(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(other.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	a := telegram.New(telegram.Config{APIURL: redirector.URL}, nil)
	err := a.Send(context.Background(), part("1", "hi"), creds(token))
	retryable(t, err)
	equal(t, "error", err.Error(), "telegram: sendMessage: redirect to another host refused")
	equal(t, "requests to the other host", hits.Load(), int32(0))
}

func TestSendCredentials(t *testing.T) {
	fake, a := newFake(t)
	boom := errors.New("open secret: storage unavailable")
	err := a.Send(context.Background(), part("1", "hi"), func(context.Context, string) ([]byte, error) { return nil, boom })
	errorIs(t, err, boom)
	equal(t, "error", err.Error(), "telegram: credentials: open secret: storage unavailable")

	err = a.Send(context.Background(), part("1", "hi"), creds(""))
	errorIs(t, err, channels.ErrPermanent)
	equal(t, "error", err.Error(), "permanent failure: channel has no credentials")

	err = a.Send(context.Background(), part("", "hi"), creds(token))
	errorIs(t, err, channels.ErrPermanent)
	equal(t, "error", err.Error(), "permanent failure: no reply target")

	equal(t, "calls", len(fake.Calls()), 0)
}

func TestSendConcurrentBots(t *testing.T) {
	fake, a := newFake(t)
	tokens := []string{token, "100:AAA-second", "200:AAA-third"}
	for _, tok := range tokens[1:] {
		fake.AddBot(tok, "other_bot")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			errs <- a.Send(context.Background(), part("42", "msg"), creds(tokens[i%len(tokens)]))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	equal(t, "sent", len(fake.Sent()), 30)
	perToken := make(map[string]int)
	for _, c := range fake.Calls() {
		perToken[c.Token]++
	}
	for _, tok := range tokens {
		equal(t, "calls with token "+tok, perToken[tok], 10)
	}
}

func TestLogsHoldNoToken(t *testing.T) {
	fake := telegramtest.New(t)
	fake.AddBot(token, "relay_test_bot")
	var buf safeBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := telegram.New(telegram.Config{APIURL: fake.URL}, log)

	fake.RejectMarkdown(true)
	must(t, a.Send(context.Background(), part("1", "a_b"), creds(token)))
	fake.FailNext("sendMessage", 1, 500, "", 0)
	_ = a.Send(context.Background(), part("1", "hi"), creds(token))
	fake.Close()
	_ = a.Send(context.Background(), part("1", "hi"), creds(token))
	_, _ = a.GetMe(context.Background(), token)

	out := buf.String()
	if !strings.Contains(out, "markdown rejected") {
		t.Errorf("log %q lacks the fallback line", out)
	}
	for _, bad := range []string{token, "AAH-secret", "/bot"} {
		if strings.Contains(out, bad) {
			t.Errorf("log contains %q:\n%s", bad, out)
		}
	}
}

// safeBuffer is a bytes.Buffer for a logger shared with the library's goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package email_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/email/emailtest"
)

func TestFetchReceivedFromFake(t *testing.T) {
	fake := emailtest.New(t)
	a := newAdapter(t, fake.URL)
	headers := []emailtest.Header{
		{Name: "Message-ID", Value: "<m2@example.com>"},
		{Name: "In-Reply-To", Value: "<m1@mail.example.org>"},
		{Name: "References", Value: "<m0@example.com> <m1@mail.example.org>"},
	}
	want := []email.Header{
		{Name: "Message-ID", Value: "<m2@example.com>"},
		{Name: "In-Reply-To", Value: "<m1@mail.example.org>"},
		{Name: "References", Value: "<m0@example.com> <m1@mail.example.org>"},
	}
	for _, array := range []bool{false, true} {
		name := map[bool]string{false: "object headers", true: "array headers"}[array]
		t.Run(name, func(t *testing.T) {
			fake.AddReceived("e-1", emailtest.ReceivedJSON{
				From: "Alice <alice@example.com>", To: []string{testInbound}, Subject: "Re: Hello",
				Text: "Thanks!", HTML: "<p>Thanks!</p>", Headers: headers, HeadersArray: array,
			})
			got, err := a.FetchReceived(context.Background(), "e-1")
			must(t, err)
			deepEqual(t, "received", got, email.Received{
				ID: "e-1", From: "Alice <alice@example.com>", To: []string{testInbound}, Subject: "Re: Hello",
				Text: "Thanks!", HTML: "<p>Thanks!</p>", Headers: want,
			})
		})
	}
}

// serveFile answers GET /emails/receiving/<id> with testdata/<file> for any id.
func serveFile(t *testing.T, file string) string {
	t.Helper()
	body := readTestdata(t, file)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/emails/receiving/") ||
			r.Header.Get("Authorization") != "Bearer "+emailtest.APIKey {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchReceivedTestdata(t *testing.T) {
	tests := []struct {
		file string
		want email.Received
		msg  email.Message
	}{
		{"received_headers_object.json", email.Received{
			ID: "4ef9a417-02e9-4d39-ad75-9611e0fcc33c", From: "Alice <alice@example.com>", To: []string{testInbound},
			Subject: "Hello", Text: "Hi, can you help?\n", HTML: "<p>Hi, can you help?</p>",
			Headers: []email.Header{
				{Name: "return-path", Value: "alice@example.com"},
				{Name: "mime-version", Value: "1.0"},
				{Name: "message-id", Value: "<orig-1@example.com>"},
				{Name: "received", Value: "from mx1.example.com"},
				{Name: "received", Value: "from mx2.example.com"},
			},
		}, email.Message{From: "alice@example.com", Subject: "Hello", Content: "Subject: Hello\n\nHi, can you help?\n",
			Threading: email.Threading{EmailMessageID: "<orig-1@example.com>", ThreadID: "<orig-1@example.com>"}}},
		{"received_headers_array.json", email.Received{
			ID: "7e3a9c15-84b2-4f0d-b6e1-5d2c8a9f0b47", From: "Alice <alice@example.com>", To: []string{testInbound},
			Subject: "Re: Hello", Text: "Thanks, that worked.\n\n> earlier text\n", HTML: "<p>Thanks, that worked.</p>",
			Headers: []email.Header{
				{Name: "Return-Path", Value: "<alice@example.com>"},
				{Name: "MESSAGE-ID", Value: "<reply-2@example.com>"},
				{Name: "in-reply-to", Value: "<orig-1@mail.example.org>"},
				{Name: "References", Value: "<root-0@example.com> <orig-1@mail.example.org>"},
				{Name: "Received", Value: "from mx1.example.com"},
				{Name: "Received", Value: "from mx2.example.com"},
			},
		}, email.Message{From: "alice@example.com", Subject: "Re: Hello", Content: "Subject: Re: Hello\n\nThanks, that worked.\n\n> earlier text\n",
			Threading: email.Threading{EmailMessageID: "<reply-2@example.com>", InReplyTo: "<orig-1@mail.example.org>",
				References: "<root-0@example.com> <orig-1@mail.example.org>", ThreadID: "<orig-1@mail.example.org>", IsReply: true}}},
		{"received_html_only.json", email.Received{
			ID: "c1d5e7a9-3b2f-4e61-9a8d-7f0b12c3d4e5", From: "Newsletter <news@example.com>", To: []string{testInbound},
			Subject: "Weekly digest",
			HTML:    "<html><body>\n  <h1>Weekly digest</h1>\n  <p>Hello <b>there</b> &amp; welcome.</p>\n</body></html>\n",
			Headers: []email.Header{
				{Name: "return-path", Value: "news@example.com"},
				{Name: "mime-version", Value: "1.0"},
				{Name: "message-id", Value: "<digest-42@example.com>"},
			},
		}, email.Message{From: "news@example.com", Subject: "Weekly digest",
			Content:   "Subject: Weekly digest\n\nWeekly digest\n  Hello there &amp; welcome.",
			Threading: email.Threading{EmailMessageID: "<digest-42@example.com>", ThreadID: "<digest-42@example.com>"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a := newAdapter(t, serveFile(t, tt.file))
			got, err := a.FetchReceived(context.Background(), tt.want.ID)
			must(t, err)
			deepEqual(t, "received", got, tt.want)
			deepEqual(t, "message", email.Extract(got), tt.msg)
		})
	}
}

// TestInboundFlow runs the webhook-side steps of PROTOCOL §4.5 the way the server chains them:
// verify, parse, fetch, merge, match, extract.
func TestInboundFlow(t *testing.T) {
	fake := emailtest.New(t)
	a := newAdapter(t, fake.URL)
	body := emailtest.ReceivedEvent("e-42", "Alice <Alice@Example.com>", []string{"Team <t@x.org>", testInbound}, "Hello")
	fake.AddReceived("e-42", emailtest.ReceivedJSON{
		From: "Alice <Alice@Example.com>", To: []string{testInbound}, Subject: "Hello",
		HTML:    "<p>Hi <i>there</i></p>",
		Headers: []emailtest.Header{{Name: "Message-ID", Value: "<orig@example.com>"}},
	})
	now := time.Now()
	must(t, a.VerifyWebhook(emailtest.SignWebhook(emailtest.WebhookSecret, "msg_1", now, body), body, now))
	ev, err := email.ParseEvent(body)
	must(t, err)
	equal(t, "type", ev.Type, email.EventReceived)
	fetched, err := a.FetchReceived(context.Background(), ev.Data.ID)
	must(t, err)
	r := email.MergeFetched(ev.Data, fetched)
	deepEqual(t, "recipients", email.Recipients(r.To), []string{"t@x.org", testInbound})
	deepEqual(t, "message", email.Extract(r), email.Message{
		From: "alice@example.com", Subject: "Hello", Content: "Subject: Hello\n\nHi there",
		Threading: email.Threading{EmailMessageID: "<orig@example.com>", ThreadID: "<orig@example.com>"},
	})
}

func TestFetchReceivedErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		status    int
		body      string
		transient bool
	}{
		{"404", 404, "", false},
		{"401", 401, "", false},
		{"422", 422, "", false},
		{"408", 408, "", true},
		{"429", 429, "", true},
		{"500", 500, "", true},
		{"503 HTML", 503, "<html>unavailable</html>", true},
		{"connection dropped", 0, "", true},
		{"200 not JSON", 200, "<html>ok</html>", false},
		{"200 JSON array", 200, `[{"id":"x"}]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := emailtest.New(t)
			a := newAdapter(t, fake.URL)
			fake.AddReceived("e-1", emailtest.ReceivedJSON{From: "a@b.c", Subject: "s", Text: "t"})
			fake.FailNext("/emails/receiving/e-1", 2, tt.status, tt.body) // 2: Go may retry a dropped GET
			_, err := a.FetchReceived(ctx, "e-1")
			if err == nil {
				t.Fatal("no error")
			}
			equal(t, "transient", errors.Is(err, email.ErrTransient), tt.transient)
			if strings.Contains(err.Error(), emailtest.APIKey) {
				t.Errorf("error text holds the API key: %v", err)
			}
		})
	}

	t.Run("unknown id is a permanent 404", func(t *testing.T) {
		fake := emailtest.New(t)
		_, err := newAdapter(t, fake.URL).FetchReceived(ctx, "missing")
		equal(t, "transient", errors.Is(err, email.ErrTransient), false)
		equal(t, "text", err.Error(), "email: fetch received: 404 Email not found")
	})
	t.Run("5xx text", func(t *testing.T) {
		fake := emailtest.New(t)
		fake.FailNext("/emails/receiving/", 1, 500, "")
		_, err := newAdapter(t, fake.URL).FetchReceived(ctx, "any")
		equal(t, "text", err.Error(), "email: temporarily unable to fetch email: 500 An unexpected error occurred.")
	})
	t.Run("server down", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL)
		fake.Close()
		_, err := a.FetchReceived(ctx, "e-1")
		equal(t, "transient", errors.Is(err, email.ErrTransient), true)
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		a := newAdapter(t, srv.URL, func(c *email.Config) { c.Timeout = 50 * time.Millisecond })
		_, err := a.FetchReceived(ctx, "e-1")
		equal(t, "transient", errors.Is(err, email.ErrTransient), true)
		equal(t, "deadline", errors.Is(err, context.DeadlineExceeded), true)
	})
	t.Run("no API key", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL, func(c *email.Config) { c.APIKey = "" })
		_, err := a.FetchReceived(ctx, "e-1")
		errorIs(t, err, email.ErrNoAPIKey)
		equal(t, "transient", errors.Is(err, email.ErrTransient), false)
		equal(t, "calls", fake.Calls("/emails/receiving/e-1"), 0)
	})
	t.Run("wrong API key", func(t *testing.T) {
		fake := emailtest.New(t)
		fake.AddReceived("e-1", emailtest.ReceivedJSON{})
		a := newAdapter(t, fake.URL, func(c *email.Config) { c.APIKey = "re_wrong_key_123" })
		_, err := a.FetchReceived(ctx, "e-1")
		equal(t, "transient", errors.Is(err, email.ErrTransient), false)
		if err == nil || strings.Contains(err.Error(), "re_wrong_key_123") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("ids that are not one path segment", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Errorf("unexpected request %s", r.URL)
		}))
		t.Cleanup(srv.Close)
		a := newAdapter(t, srv.URL)
		for _, id := range []string{"", ".", "..", "../../emails", "a/b", "a?b=1", "a#b", "a b", "a%2Fb", "é", strings.Repeat("a", 129)} {
			_, err := a.FetchReceived(ctx, id)
			if err == nil || errors.Is(err, email.ErrTransient) {
				t.Errorf("FetchReceived(%q) err = %v, want a permanent error", id, err)
			}
		}
	})
}

func TestMergeFetched(t *testing.T) {
	webhook := email.Received{ID: "e", From: "a@b.c", To: []string{"x@y.z"}, Subject: "s", Text: "wt", HTML: "wh",
		Headers: []email.Header{{Name: "Message-ID", Value: "<w@x>"}}}
	fetched := email.Received{ID: "e", From: "other@b.c", To: []string{"q@y.z"}, Subject: "other", Text: "ft", HTML: "fh",
		Headers: []email.Header{{Name: "Message-ID", Value: "<f@x>"}}}

	got := email.MergeFetched(webhook, fetched)
	deepEqual(t, "merged", got, email.Received{ID: "e", From: "a@b.c", To: []string{"x@y.z"}, Subject: "s", Text: "ft", HTML: "fh",
		Headers: []email.Header{{Name: "Message-ID", Value: "<w@x>"}}})

	noHeaders := webhook
	noHeaders.Headers = nil
	deepEqual(t, "headers from fetch", email.MergeFetched(noHeaders, fetched).Headers, fetched.Headers)

	deepEqual(t, "empty fetch keeps the webhook's body", email.MergeFetched(webhook, email.Received{}), webhook)
}

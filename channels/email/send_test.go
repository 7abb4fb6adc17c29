package email_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/email/emailtest"
)

// noCreds fails the test if Send asks for a channel secret: email needs none.
func noCreds(t *testing.T) channels.Credentials {
	return func(context.Context, string) ([]byte, error) {
		t.Error("Send asked for credentials")
		return nil, errors.New("no credentials")
	}
}

// part returns a reply part to alice from the test inbound address with the given reply metadata.
func part(metadata string) channels.Part {
	return channels.Part{
		ResponseID:      "019a8f3e-7c2b-7d41-9e5f-3a6b8c0d1e2f",
		ChannelID:       "0f8fad5b-d9cb-469f-a165-70867728950e",
		Target:          "alice@example.com",
		Text:            "Thanks, we are on it.",
		Total:           1,
		Metadata:        json.RawMessage(metadata),
		ChannelMetadata: json.RawMessage(`{"userEmail":"owner@example.com","inboundAddress":"` + testInbound + `","verified":true,"allowedSenders":["owner@example.com"]}`),
	}
}

func TestReplySubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hello", "Re: Hello"},
		{"Re: Hello", "Re: Hello"},
		{"RE:  hi", "Re: hi"},
		{"re:hi", "Re: hi"},
		{"rE:\t\u00a0x", "Re: x"},
		{"Re: Re: twice", "Re: Re: twice"},
		{" Re: leading space", "Re:  Re: leading space"},
		{"Reply", "Re: Reply"},
		{"Re:", "Re: "},
		{"", "Re: (no subject)"},
	}
	for _, tt := range tests {
		equal(t, "ReplySubject("+tt.in+")", email.ReplySubject(tt.in), tt.want)
	}
}

func TestSend(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		metadata string
		subject  string
		headers  map[string]string
	}{
		{"threaded reply",
			`{"senderAddress":"alice@example.com","subject":"Hello","emailMessageId":"<m2@example.com>","references":"<m0@example.com> <m1@example.com>","inReplyTo":"<m1@example.com>"}`,
			"Re: Hello",
			map[string]string{"In-Reply-To": "<m2@example.com>", "References": "<m0@example.com> <m1@example.com> <m2@example.com>"}},
		{"first message of a thread",
			`{"subject":"RE:  hi","emailMessageId":"<m1@example.com>","references":""}`,
			"Re: hi",
			map[string]string{"In-Reply-To": "<m1@example.com>", "References": "<m1@example.com>"}},
		{"no message id, no headers", `{"subject":"Re: Hello","emailMessageId":""}`, "Re: Hello", nil},
		{"no subject", `{}`, "Re: (no subject)", nil},
		{"subject not a string", `{"subject":42}`, "Re: (no subject)", nil},
		{"no metadata", ``, "Re: (no subject)", nil},
		{"metadata not an object", `["subject"]`, "Re: (no subject)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := emailtest.New(t)
			a := newAdapter(t, fake.URL)
			p := part(tt.metadata)
			must(t, a.Send(ctx, p, noCreds(t)))
			sent := fake.Sent()
			if len(sent) != 1 {
				t.Fatalf("sent %d emails, want 1", len(sent))
			}
			m := sent[0]
			equal(t, "from", m.From, testInbound)
			deepEqual(t, "to", m.To, []string{"alice@example.com"})
			equal(t, "subject", m.Subject, tt.subject)
			equal(t, "text", m.Text, p.Text)
			equal(t, "html", m.HTML, "")
			deepEqual(t, "headers", m.Headers, tt.headers)
			equal(t, "Idempotency-Key", m.IdempotencyKey, p.ResponseID)
		})
	}
}

func TestSendIsIdempotent(t *testing.T) {
	fake := emailtest.New(t)
	a := newAdapter(t, fake.URL)
	p := part(`{"subject":"Hello"}`)
	// The first answer is lost after Resend accepted the mail: the retry must not send it twice.
	must(t, a.Send(context.Background(), p, noCreds(t)))
	must(t, a.Send(context.Background(), p, noCreds(t)))
	equal(t, "sent", len(fake.Sent()), 1)
	equal(t, "calls", fake.Calls("/emails"), 2)

	other := p
	other.ResponseID = "019a8f3e-7c2b-7d41-9e5f-000000000000"
	must(t, a.Send(context.Background(), other, noCreds(t)))
	equal(t, "sent", len(fake.Sent()), 2)
	equal(t, "MaxPartUnits", a.MaxPartUnits(), 0)
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		header     http.Header
		permanent  bool
		retryAfter time.Duration
		text       string
	}{
		{"429 with Retry-After", 429, "", http.Header{"Retry-After": {"7"}}, false, 7 * time.Second, ""},
		{"429 default", 429, "", nil, false, time.Second, ""},
		{"500", 500, "", nil, false, 0, "email: send: 500 An unexpected error occurred."},
		{"502 HTML", 502, "<html>Bad Gateway</html>", nil, false, 0, "email: send: 502 <html>Bad Gateway</html>"},
		{"408", 408, "", nil, false, 0, ""},
		{"connection dropped", 0, "", nil, false, 0, "email: send: connection closed"},
		{"422", 422, `{"statusCode":422,"message":"Invalid ` + "`from`" + ` field.","name":"validation_error"}`, nil, true, 0,
			"permanent failure: email: send: 422 Invalid `from` field."},
		{"403", 403, `{"statusCode":403,"message":"The mail.example.org domain is not verified.","name":"validation_error"}`, nil, true, 0, ""},
		{"404", 404, "", nil, true, 0, ""},
		{"409 idempotent request in flight", 409, `{"statusCode":409,"message":"Same idempotency key used while original request is still in progress.","name":"concurrent_idempotent_requests"}`, nil, false, 0, ""},
		{"409 other payload", 409, `{"statusCode":409,"message":"Same idempotency key used with a different request payload.","name":"invalid_idempotent_request"}`, nil, true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := emailtest.New(t)
			a := newAdapter(t, fake.URL)
			fake.FailNextHeader("/emails", 2, tt.status, tt.body, tt.header) // 2: Go may retry a dropped request once
			err := a.Send(context.Background(), part(`{"subject":"Hello"}`), noCreds(t))
			if err == nil {
				t.Fatal("no error")
			}
			equal(t, "permanent", errors.Is(err, channels.ErrPermanent), tt.permanent)
			equal(t, "retry after", channels.RetryAfter(err), tt.retryAfter)
			if tt.status == 429 {
				if _, ok := errors.AsType[*channels.RetryAfterError](err); !ok {
					t.Errorf("err = %T, want *channels.RetryAfterError", err)
				}
			}
			if tt.text != "" {
				equal(t, "text", err.Error(), tt.text)
			}
			equal(t, "sent", len(fake.Sent()), 0)
		})
	}
}

func TestSendNeverLeaksTheKey(t *testing.T) {
	const key = "re_live_SECRETsecret0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An answer that echoes the Authorization header, as a misbehaving proxy might.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "rejected " + r.Header.Get("Authorization")})
	}))
	t.Cleanup(srv.Close)
	a := newAdapter(t, srv.URL, func(c *email.Config) { c.APIKey = key })
	err := a.Send(context.Background(), part(`{}`), noCreds(t))
	if err == nil || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("err = %v, want an error without the key", err)
	}

	fake := emailtest.New(t)
	a = newAdapter(t, fake.URL, func(c *email.Config) { c.APIKey = key })
	err = a.Send(context.Background(), part(`{}`), noCreds(t))
	equal(t, "permanent", errors.Is(err, channels.ErrPermanent), true)
	if strings.Contains(err.Error(), key) {
		t.Fatalf("err = %v holds the key", err)
	}

	fake.Close()
	err = a.Send(context.Background(), part(`{}`), noCreds(t))
	equal(t, "permanent", errors.Is(err, channels.ErrPermanent), false)
	if err == nil || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("err = %v, want a short network error", err)
	}
}

func TestSendWithoutSetup(t *testing.T) {
	fake := emailtest.New(t)
	tests := []struct {
		name string
		mod  func(*email.Config)
		edit func(*channels.Part)
		text string
	}{
		{"no API key", func(c *email.Config) { c.APIKey = "" }, func(*channels.Part) {}, "permanent failure: email not configured"},
		{"no inbound address", nil, func(p *channels.Part) { p.ChannelMetadata = json.RawMessage(`{"userEmail":"o@x"}`) },
			"permanent failure: channel has no inbound address"},
		{"no target", nil, func(p *channels.Part) { p.Target = " " }, "permanent failure: no reply target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*email.Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			a := newAdapter(t, fake.URL, mods...)
			p := part(`{}`)
			tt.edit(&p)
			err := a.Send(context.Background(), p, noCreds(t))
			errorIs(t, err, channels.ErrPermanent)
			equal(t, "text", err.Error(), tt.text)
		})
	}
	equal(t, "calls", fake.Calls("/emails"), 0)
}

func TestSendRefusesCrossHostRedirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to %s", r.URL)
	}))
	t.Cleanup(other.Close)
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/emails", status)
		}))
		err := newAdapter(t, srv.URL).Send(context.Background(), part(`{}`), noCreds(t))
		srv.Close()
		// A 302 reaches the redirect policy; a 307 of a request without GetBody (resend-go's) is
		// not followed at all and comes back as the 307 itself. Neither is a permanent 4xx.
		equal(t, "permanent", errors.Is(err, channels.ErrPermanent), false)
		want := map[int]string{302: "email: send: redirect to another host refused", 307: "email: send: 307 Temporary Redirect"}[status]
		if err == nil || err.Error() != want {
			t.Errorf("status %d: err = %v, want %q", status, err, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := email.Config{APIURL: "http://127.0.0.1:9/base", APIKey: "k", Domain: "mail.example.org", WebhookSecret: emailtest.WebhookSecret}
	must(t, good.Validate())
	must(t, email.Config{}.Validate())
	for name, c := range map[string]email.Config{
		"relative URL":     {APIURL: "api.resend.com"},
		"ftp URL":          {APIURL: "ftp://api.resend.com"},
		"URL with query":   {APIURL: "https://api.resend.com/?x=1"},
		"domain with @":    {Domain: "user@mail.example.org"},
		"domain with path": {Domain: "mail.example.org/x"},
		"bad secret":       {WebhookSecret: "whsec_***"},
		"empty key":        {WebhookSecret: "whsec_"},
		"negative timeout": {Timeout: -time.Second},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil", name)
		}
	}
	a := email.New(good, nil)
	equal(t, "Domain", a.Domain(), "mail.example.org")
	equal(t, "HasAPIKey", a.HasAPIKey(), true)
	equal(t, "HasAPIKey(empty)", email.New(email.Config{}, nil).HasAPIKey(), false)
}

func TestAPIURLWithPath(t *testing.T) {
	paths := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.Method + " " + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}`))
	}))
	t.Cleanup(srv.Close)
	for _, base := range []string{srv.URL + "/resend", srv.URL + "/resend/"} {
		must(t, newAdapter(t, base).Send(context.Background(), part(`{}`), noCreds(t)))
		equal(t, "request", <-paths, "POST /resend/emails")
	}
}

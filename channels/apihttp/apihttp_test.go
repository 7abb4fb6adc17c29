package apihttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/apihttp"
)

func TestNewClient(t *testing.T) {
	t.Run("nil base", func(t *testing.T) {
		c := apihttp.NewClient(nil, 5*time.Second)
		if c.Timeout != 5*time.Second || c.CheckRedirect == nil {
			t.Errorf("Timeout = %v, CheckRedirect nil = %v", c.Timeout, c.CheckRedirect == nil)
		}
	})
	for _, tc := range []struct {
		base, timeout, want time.Duration
	}{
		{0, 5 * time.Second, 5 * time.Second},
		{2 * time.Second, 5 * time.Second, 2 * time.Second},
		{9 * time.Second, 5 * time.Second, 5 * time.Second},
		{-1, 5 * time.Second, 5 * time.Second},
	} {
		base := &http.Client{Timeout: tc.base}
		c := apihttp.NewClient(base, tc.timeout)
		if c.Timeout != tc.want {
			t.Errorf("base %v, timeout %v: Timeout = %v, want %v", tc.base, tc.timeout, c.Timeout, tc.want)
		}
		if c == base || base.CheckRedirect != nil || base.Timeout != tc.base {
			t.Errorf("base %v: base client changed", tc.base)
		}
	}
}

func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request reached the other host")
	}))
	defer other.Close()
	var hops int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/secret", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/done", http.StatusFound)
		case "/loop":
			hops++
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	get := func(c *http.Client, path string) error {
		resp, err := c.Get(srv.URL + path)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	c := apihttp.NewClient(srv.Client(), 5*time.Second)

	err := get(c, "/away")
	if !errors.Is(err, apihttp.ErrRedirect) {
		t.Errorf("other host: err = %v, want ErrRedirect", err)
	}
	if got := apihttp.NetReason(err, nil); got != "redirect to another host refused" {
		t.Errorf("NetReason = %q", got)
	}
	if err := get(c, "/here"); err != nil {
		t.Errorf("same host: err = %v", err)
	}
	if err := get(c, "/loop"); err == nil || !strings.Contains(err.Error(), "too many redirects") || hops != 10 {
		t.Errorf("loop: err = %v after %d hops, want too many redirects after 10", err, hops)
	}

	// base's own policy decides on the same host.
	stop := errors.New("base policy")
	base := srv.Client()
	base.CheckRedirect = func(*http.Request, []*http.Request) error { return stop }
	c = apihttp.NewClient(base, 5*time.Second)
	if err := get(c, "/here"); !errors.Is(err, stop) {
		t.Errorf("base policy: err = %v, want %v", err, stop)
	}
	if err := get(c, "/away"); !errors.Is(err, apihttp.ErrRedirect) {
		t.Errorf("base policy, other host: err = %v, want ErrRedirect", err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestNetReason(t *testing.T) {
	const secret = "SECRET"
	urlErr := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://api.example/bot" + secret + "/send", Err: err}
	}
	scrub := func(s string) string { return strings.ReplaceAll(s, secret, "<token>") }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"redirect", urlErr(apihttp.ErrRedirect), "redirect to another host refused"},
		{"deadline", urlErr(context.DeadlineExceeded), "timeout"},
		{"net timeout", urlErr(timeoutErr{}), "timeout"},
		{"refused", urlErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "connection refused"},
		{"reset", urlErr(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), "connection reset"},
		{"eof", urlErr(io.EOF), "connection closed"},
		{"unexpected eof", urlErr(io.ErrUnexpectedEOF), "connection closed"},
		{"no host", urlErr(&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}), "no such host"},
		{"dns", urlErr(&net.DNSError{Err: "server misbehaving", Name: "x"}), "DNS lookup failed"},
		{"other url error", urlErr(errors.New("tls: bad " + secret + "\ncert")), "tls: bad <token>\ncert"},
		{"plain", errors.New("boom " + secret), "request failed"},
		{"wrapped", fmt.Errorf("call: %w", syscall.ECONNREFUSED), "connection refused"},
	} {
		if got := apihttp.NetReason(tc.err, scrub); got != tc.want {
			t.Errorf("%s: NetReason = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := apihttp.NetReason(urlErr(errors.New("x")), nil); got != "x" {
		t.Errorf("nil clean: NetReason = %q, want %q", got, "x")
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"   ", 0},
		{"30", 30 * time.Second},
		{" 7 ", 7 * time.Second},
		{"1.25", 1250 * time.Millisecond},
		{"0.5", 500 * time.Millisecond},
		{"2000000", 2000000 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"-0.5", 0},
		{"NaN", 0},
		{"Inf", 0},
		{"+Inf", 0},
		{"1e300", 0},
		{"soon", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0}, // past
	} {
		if got := apihttp.ParseRetryAfter(tc.in); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got := apihttp.ParseRetryAfter(" " + future + " "); got < 85*time.Second || got > 91*time.Second {
		t.Errorf("ParseRetryAfter(%q) = %v, want about 90s", future, got)
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want time.Duration
	}{
		{0, 0},
		{-1, 0},
		{math.NaN(), 0},
		{math.Inf(1), 0},
		{1e10, 0},
		{3, 3 * time.Second},
		{1.25, 1250 * time.Millisecond},
	} {
		if got := apihttp.Seconds(tc.in); got != tc.want {
			t.Errorf("Seconds(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct {
		s, secret, want string
	}{
		{"token abc in abc", "abc", "token <token> in <token>"},
		{"/botA B/x and A B", "A B", "/bot<token>/x and <token>"},
		{"a b c", " ", "a b c"},
		{"nothing", "", "nothing"},
		{"no secret here", "zzz", "no secret here"},
	} {
		if got := apihttp.Scrub(tc.s, tc.secret, "<token>"); got != tc.want {
			t.Errorf("Scrub(%q, %q) = %q, want %q", tc.s, tc.secret, got, tc.want)
		}
	}
	if got := apihttp.Scrub("key re_123", "re_123", "<key>"); got != "key <key>" {
		t.Errorf("placeholder: Scrub = %q", got)
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		s    string
		max  int
		want string
	}{
		{"  plain  ", 10, "plain"},
		{"two\nlines\ttab\x00nul", 50, "two lines tab nul"},
		{"\r\n", 10, ""},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcdef…"},
		{"ééééé", 3, "ééé…"},
		{"ab\u0085cd", 10, "ab cd"},
	} {
		if got := apihttp.Clean(tc.s, tc.max); got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
		}
	}
}

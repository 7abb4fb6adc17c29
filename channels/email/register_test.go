package email_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/email/emailtest"
)

func TestChannelName(t *testing.T) {
	tests := []struct {
		name        string
		channelName any
		userEmail   string
		want        string
	}{
		{"given, trimmed", "  Support Desk ", "a@b.c", "Support Desk"},
		{"blank given", " \t ", "Alice.Smith@example.com", "alice-smith"},
		{"absent", nil, "john.doe+tag@example.com", "john-doe-tag"},
		{"not a string", 42.0, "bob@example.com", "bob"},
		{"runs and edges", nil, "__Ann--Lee..@example.com", "ann-lee"},
		{"no @", nil, "plain", "plain"},
		{"first @ ends the local part", nil, "a@b@c", "a"},
		{"empty local part", nil, "@example.com", "agent"},
		{"punctuation only", nil, "...+@example.com", "agent"},
		{"unicode is not alphanumeric", nil, "josé.müller@example.com", "jos-m-ller"},
		{"only unicode", nil, "日本@example.jp", "agent"},
		{"empty email", nil, "", "agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "ChannelName", email.ChannelName(tt.channelName, tt.userEmail), tt.want)
		})
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Support Desk", "support-desk"},
		{"  Hello   World  ", "hello-world"},
		{"a\tb\nc", "a-b-c"},
		{"John.Doe_99", "john.doe_99"},
		{"Émile's Bot!", "miles-bot"},
		{"a - b", "a---b"},
		{"-._x_.-", "x"},
		{"über straße", "ber-strae"},
		{"x\u00a0y\u3000z", "x-y-z"}, // Unicode spaces are whitespace, as in JavaScript's \s
		{"a\ufeffb", "a-b"},
	}
	for _, tt := range tests {
		got, err := email.Slug(tt.in)
		must(t, err)
		equal(t, "Slug("+tt.in+")", got, tt.want)
	}
	for _, in := range []string{"", "   ", "!!!", "日本語", "._-", " - . _ "} {
		_, err := email.Slug(in)
		errorIs(t, err, email.ErrInvalidName)
		if err != nil {
			equal(t, "error text", err.Error(), "Invalid channel name — must contain at least one alphanumeric character")
		}
	}
}

func TestNewAddress(t *testing.T) {
	slug, err := email.Slug(email.ChannelName("Support Desk", "owner@example.com"))
	must(t, err)
	re := regexp.MustCompile(`^support-desk-[a-z0-9]{10}@mail\.example\.org$`)
	seen := make(map[string]bool)
	chars := make(map[rune]int)
	for range 1000 {
		addr := email.NewAddress(slug, testDomain)
		if !re.MatchString(addr) {
			t.Fatalf("address %q does not match %s", addr, re)
		}
		if seen[addr] {
			t.Fatalf("address %q drawn twice", addr)
		}
		seen[addr] = true
		for _, r := range addr[len("support-desk-") : len("support-desk-")+10] {
			chars[r]++
		}
	}
	// 10,000 uniform draws from 36 characters: each appears about 278 times; a character
	// missing or far off means a biased or truncated alphabet.
	for _, r := range "abcdefghijklmnopqrstuvwxyz0123456789" {
		if chars[r] < 150 || chars[r] > 420 {
			t.Errorf("character %q drawn %d times in 10000, want about 278", r, chars[r])
		}
	}
}

func TestSendVerification(t *testing.T) {
	fake := emailtest.New(t)
	a := newAdapter(t, fake.URL)
	const verifyURL = "https://relay.example.com/email/verify?token=0f8fad5b-d9cb-469f-a165-70867728950e&channelId=6fa459ea"
	must(t, a.SendVerification(context.Background(), "owner@example.com", testInbound, verifyURL))

	sent := fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d emails, want 1", len(sent))
	}
	m := sent[0]
	equal(t, "from", m.From, "noreply@mail.example.org")
	deepEqual(t, "to", m.To, []string{"owner@example.com"})
	equal(t, "subject", m.Subject, "Verify your CHAOS email channel")
	for _, want := range []string{testInbound, verifyURL, "ignore"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text does not contain %q:\n%s", want, m.Text)
		}
	}
	escapedURL := strings.ReplaceAll(verifyURL, "&", "&amp;")
	for _, want := range []string{testInbound, `href="` + escapedURL + `"`, ">Verify Email</a>", "ignore"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("html does not contain %q:\n%s", want, m.HTML)
		}
	}
}

func TestSendVerificationEscapesHTML(t *testing.T) {
	fake := emailtest.New(t)
	a := newAdapter(t, fake.URL)
	must(t, a.SendVerification(context.Background(), "owner@example.com",
		`<script>alert(1)</script>@x.org`, `javascript:alert("x")`))
	m := fake.Sent()[0]
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("html holds unescaped input:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;@x.org") {
		t.Errorf("html does not show the escaped address:\n%s", m.HTML)
	}
}

func TestSendVerificationErrors(t *testing.T) {
	ctx := context.Background()
	const body422 = `{"statusCode":422,"message":"Invalid ` + "`to`" + ` field. The email address needs to follow the ` + "`email@example.com`" + ` or ` + "`Name <email@example.com>`" + ` format.","name":"validation_error"}`

	t.Run("no API key", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL, func(c *email.Config) { c.APIKey = "" })
		err := a.SendVerification(ctx, "owner@example.com", testInbound, "https://r.example/v")
		errorIs(t, err, email.ErrNoAPIKey)
		equal(t, "text", err.Error(), "RESEND_API_KEY environment variable is not set")
		equal(t, "calls", fake.Calls("/emails"), 0)
	})
	t.Run("no domain", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL, func(c *email.Config) { c.Domain = "" })
		errorIs(t, a.SendVerification(ctx, "owner@example.com", testInbound, "https://r.example/v"), email.ErrNoDomain)
		equal(t, "calls", fake.Calls("/emails"), 0)
	})

	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"422 with body", 422, body422, "Failed to send verification email: 422 " + body422},
		{"HTML 502", 502, "<html>\r\n<h1>502 Bad Gateway</h1>\r\n</html>", "Failed to send verification email: 502 <html>  <h1>502 Bad Gateway</h1>  </html>"},
		{"500 default body", 500, "", `Failed to send verification email: 500 {"statusCode":500,"message":"An unexpected error occurred.","name":"internal_server_error"}`},
		{"empty 503", 503, " ", "Failed to send verification email: 503"},
		{"connection dropped", 0, "", "Failed to send verification email: connection closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := emailtest.New(t)
			a := newAdapter(t, fake.URL)
			fake.FailNext("/emails", 2, tt.status, tt.body) // 2: Go may retry a dropped request once
			err := a.SendVerification(ctx, "owner@example.com", testInbound, "https://r.example/v")
			if err == nil {
				t.Fatal("no error")
			}
			equal(t, "text", err.Error(), tt.want)
			equal(t, "sent", len(fake.Sent()), 0)
		})
	}

	t.Run("server down", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL)
		fake.Close()
		err := a.SendVerification(ctx, "owner@example.com", testInbound, "https://r.example/v")
		if err == nil {
			t.Fatal("no error")
		}
		equal(t, "text", err.Error(), "Failed to send verification email: connection refused")
	})

	t.Run("wrong API key", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL, func(c *email.Config) { c.APIKey = "re_wrong_key_123" })
		err := a.SendVerification(ctx, "owner@example.com", testInbound, "https://r.example/v")
		equal(t, "text", err.Error(), `Failed to send verification email: 401 {"statusCode":401,"message":"API key is invalid","name":"invalid_api_key"}`)
	})

	t.Run("API key echoed by the answer is removed", func(t *testing.T) {
		fake := emailtest.New(t)
		a := newAdapter(t, fake.URL)
		fake.FailNext("/emails", 1, 400, `{"message":"bad key `+emailtest.APIKey+`"}`)
		err := a.SendVerification(ctx, "owner@example.com", testInbound, "https://r.example/v")
		if err == nil || strings.Contains(err.Error(), emailtest.APIKey) {
			t.Fatalf("err = %v, want an error without the key", err)
		}
	})
}

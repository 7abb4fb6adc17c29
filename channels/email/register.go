package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"html/template"
	"strconv"
	"strings"
	"unicode"

	"github.com/resend/resend-go/v3"
)

// Registration errors with the exact texts of PROTOCOL §4.5, which the server puts after
// "Email registration failed: " (or answers with, for ErrNoDomain).
var (
	// ErrInvalidName is Slug's error for a name without a usable character (step 4).
	//lint:ignore ST1005 exact protocol text, answered to clients
	ErrInvalidName = errors.New("Invalid channel name — must contain at least one alphanumeric character")
	// ErrNoAPIKey is returned by calls that need the Resend API key when none is configured (step 5).
	ErrNoAPIKey = errors.New("RESEND_API_KEY environment variable is not set")
	// ErrNoDomain is returned by SendVerification when RELAY_EMAIL_DOMAIN is unset (step 3). The
	// server checks Domain() first and answers 503 with this text.
	//lint:ignore ST1005 exact protocol text, answered to clients
	ErrNoDomain = errors.New("Email not configured (set CHAOS_EMAIL_DOMAIN env var)")
)

// VerificationSubject is the subject of the verification email (PROTOCOL §4.5 step 5).
const VerificationSubject = "Verify your CHAOS email channel"

// suffixAlphabet and suffixLen make the random part of an inbound address (PROTOCOL §4.5 step 4).
const (
	suffixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffixLen      = 10
)

// ChannelName is the name the slug is made from (PROTOCOL §4.5 step 2): channelName trimmed when
// it is a non-blank string, else the local part of userEmail (before the first "@") with each run
// of non-alphanumeric characters turned into "-", leading and trailing "-" removed, lower-cased;
// "agent" when that is empty. "Alphanumeric" is ASCII here, as in the original's regular
// expression, so a Unicode local part gives "agent" rather than characters the slug would drop.
func ChannelName(channelName any, userEmail string) string {
	if s, ok := channelName.(string); ok && strings.TrimSpace(s) != "" {
		return strings.TrimSpace(s)
	}
	local, _, _ := strings.Cut(userEmail, "@")
	var b strings.Builder
	dash := false
	for _, r := range local {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "agent"
	}
	return b.String()
}

// Slug turns a channel name into the local-part prefix of an inbound address (PROTOCOL §4.5
// step 4): lower-cased and trimmed, runs of whitespace replaced by "-", every character outside
// [a-z0-9._-] dropped, and leading and trailing "-", "." and "_" stripped. An empty result is
// ErrInvalidName.
func Slug(name string) (string, error) {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimFunc(strings.ToLower(name), isSpace) {
		if isSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte('-')
			space = false
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), "-._")
	if s == "" {
		return "", ErrInvalidName
	}
	return s, nil
}

// isSpace is JavaScript's \s (the original's regular expressions): Unicode White_Space plus
// U+FEFF.
func isSpace(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// NewAddress returns "<slug>-<suffix>@<domain>", the suffix being 10 characters drawn uniformly
// from [a-z0-9] with crypto/rand. The caller checks the address index and retries (§4.5 step 4).
func NewAddress(slug, domain string) string {
	return slug + "-" + randomSuffix() + "@" + domain
}

// randomSuffix draws suffixLen characters of suffixAlphabet by rejection sampling: bytes at or
// above 252 (7 × 36) are discarded, so each character is uniform.
func randomSuffix() string {
	const limit = 256 - 256%len(suffixAlphabet)
	out := make([]byte, 0, suffixLen)
	var buf [16]byte
	for len(out) < suffixLen {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (it crashes the program instead)
		for _, c := range buf {
			if int(c) < limit && len(out) < suffixLen {
				out = append(out, suffixAlphabet[int(c)%len(suffixAlphabet)])
			}
		}
	}
	return string(out)
}

// verificationError carries one of the exact texts of PROTOCOL §4.5 step 5 as its Error(); it
// unwraps to the call's error.
type verificationError struct {
	msg   string
	cause error
}

func (e *verificationError) Error() string { return e.msg }
func (e *verificationError) Unwrap() error { return e.cause }

// SendVerification sends the verification email (PROTOCOL §4.5 step 5): from noreply@<domain> to
// the owner's address, with the inbound address and the verify link in text and HTML. Errors have
// the exact texts of the spec: ErrNoAPIKey, "Failed to send verification email: <status>
// <response body>" for a non-2xx answer, and "Failed to send verification email: <reason>" when
// no answer arrived.
func (a *Adapter) SendVerification(ctx context.Context, to, inboundAddress, verifyURL string) error {
	if a.domain == "" { // checked first, as in PROTOCOL §4.5 (step 3 before step 5)
		return ErrNoDomain
	}
	if a.apiKey == "" {
		return ErrNoAPIKey
	}
	html, err := verificationHTML(inboundAddress, verifyURL)
	if err != nil {
		return err
	}
	req := &resend.SendEmailRequest{
		From:    "noreply@" + a.domain,
		To:      []string{to},
		Subject: VerificationSubject,
		Text:    verificationText(inboundAddress, verifyURL),
		Html:    html,
	}
	err = a.call(ctx, "send verification", func(ctx context.Context) error {
		_, err := a.rs.Emails.SendWithContext(ctx, req)
		return err
	})
	e, ok := errors.AsType[*callError](err)
	switch {
	case err == nil:
		return nil
	case !ok:
		return err
	case e.status == 0:
		return &verificationError{msg: "Failed to send verification email: " + e.reason, cause: err}
	default:
		msg := strings.TrimSpace("Failed to send verification email: " + strconv.Itoa(e.status) + " " + e.body)
		return &verificationError{msg: msg, cause: err}
	}
}

// verificationText is the plain-text part of the verification email.
func verificationText(inboundAddress, verifyURL string) string {
	return "Verify your CHAOS email channel\n\n" +
		"Your inbound address is: " + inboundAddress + "\n\n" +
		"Open this link to verify your email address and start receiving mail sent to it:\n" +
		verifyURL + "\n\n" +
		"If you did not request this, you can ignore this email.\n"
}

// verificationPage is the HTML part of the verification email. html/template escapes every value,
// and filters a verify URL whose scheme is not http(s).
var verificationPage = template.Must(template.New("verify").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Verify your CHAOS email channel</title></head>
<body style="font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,sans-serif;color:#222;max-width:560px;margin:0 auto;padding:24px">
<h2>Verify your CHAOS email channel</h2>
<p>Your inbound address is:</p>
<p><code style="background:#f3f3f3;padding:4px 8px;border-radius:4px">{{.Address}}</code></p>
<p>Click the button below to verify your email address and start receiving mail sent to it.</p>
<p><a href="{{.URL}}" style="display:inline-block;background:#2563eb;color:#fff;text-decoration:none;padding:12px 24px;border-radius:6px;font-weight:600">Verify Email</a></p>
<p style="font-size:13px;color:#555">Or open this link: <a href="{{.URL}}">{{.URL}}</a></p>
<p style="font-size:13px;color:#777">If you did not request this, you can ignore this email.</p>
</body>
</html>
`))

// verificationHTML renders verificationPage.
func verificationHTML(inboundAddress, verifyURL string) (string, error) {
	var b bytes.Buffer
	err := verificationPage.Execute(&b, struct{ Address, URL string }{inboundAddress, verifyURL})
	if err != nil {
		return "", &verificationError{msg: "Failed to send verification email: " + err.Error(), cause: err}
	}
	return b.String(), nil
}

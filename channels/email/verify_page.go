package email

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"github.com/chaos-relay/relay/channels"
)

// verifyView is what the verification page shows: a failure, or the
// verified inbound address.
type verifyView struct {
	Failure string
	Address string
	Nonce   string
}

// MailTo is the mailto: link that greets the new inbound address.
func (v verifyView) MailTo() template.URL {
	return template.URL("mailto:" + v.Address + "?" + url.Values{"subject": {"Hello from CHAOS"}}.Encode())
}

var verifyTemplate = template.Must(template.New("verify").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Failure}}Verification failed{{else}}Email verified{{end}}</title>
<style nonce="{{.Nonce}}">body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2937}
h1.ok{color:#15803d}h1.fail{color:#b91c1c}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:.25rem}
a.button{display:inline-block;margin:1rem 0;padding:.6rem 1rem;background:#15803d;color:#fff;border-radius:.4rem;text-decoration:none}</style>
</head><body>
{{if .Failure}}<h1 class="fail">Verification failed</h1><p>{{.Failure}}</p>
{{else}}<h1 class="ok">Email verified!</h1>
<p>Your email address is verified. Mail sent to <code>{{.Address}}</code> now reaches your agent.</p>
<p><a class="button" href="{{.MailTo}}">Send a test email</a></p>
<p>You can close this tab.</p>{{end}}
</body></html>
`))

// verifyPage renders the verification page with the headers of §1.10.
func verifyPage(status int, v verifyView) (channels.Answer, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	v.Nonce = base64.RawStdEncoding.EncodeToString(nonce[:])
	var buf bytes.Buffer
	if err := verifyTemplate.Execute(&buf, v); err != nil {
		return channels.Answer{}, err
	}
	return channels.Answer{Status: status, Body: buf.Bytes(), Header: http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Referrer-Policy":         {"no-referrer"},
		"X-Frame-Options":         {"DENY"},
		"Content-Security-Policy": {"default-src 'none'; style-src 'nonce-" + v.Nonce + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
	}}, nil
}

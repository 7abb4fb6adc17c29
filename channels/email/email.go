// Package email is the relay's email channel on Resend: addresses, verification mail, signed
// inbound webhooks, received-mail bodies and threaded replies.
//
// Calls to Resend go through github.com/resend/resend-go/v3 with a recording HTTP client
// (client.go): the library drops the HTTP status, which decides the verification error text, the
// transient/permanent split of fetching a received email, and the retry rules of delivery
// (PROTOCOL §4.5, §7.5). Error texts are built from the recorded status and body, never hold the
// API key, and are short enough to store as a delivery's lastError.
//
// Received emails are decoded here, not by the library: Resend's headers may come as an object
// or as an array of {name, value}, and the library's map type fails on the array form. Svix
// signatures are checked with the package's own HMAC (svix.go), because the library's Verify reads
// the wall clock and accepts any signature version.
//
// The package holds no storage: the server matches recipients, checks the allowlist, stores the
// message and keeps the address index, using the pure functions here.
package email

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/resend/resend-go/v3"

	"github.com/chaos-relay/relay/channels"
)

// DefaultAPIURL is the Resend API base used when Config.APIURL is empty.
const DefaultAPIURL = "https://api.resend.com"

// DefaultTimeout bounds every Resend call when Config.Timeout is zero (PROTOCOL §7.5).
const DefaultTimeout = 10 * time.Second

// Config configures the adapter. Empty values mean "not configured"; the server answers the
// PROTOCOL's 503s and error texts for those cases.
type Config struct {
	APIURL        string        // RELAY_RESEND_API_URL, default "https://api.resend.com"
	APIKey        string        `secret:"true"` // RELAY_RESEND_API_KEY; "" = not configured
	Domain        string        // RELAY_EMAIL_DOMAIN; "" = not configured
	WebhookSecret string        `secret:"true"` // RELAY_RESEND_WEBHOOK_SECRET (whsec_…); "" = inbound not configured
	Timeout       time.Duration `setting:"-"`   // per call, default 10s
	HTTP          *http.Client  `setting:"-"`   // optional base client (tests); its Transport and Jar are used
}

// Validate reports configuration values that can never work, naming the variable, so that the
// relay can refuse to start (PROTOCOL §10.3) instead of failing every request later.
func (c Config) Validate() error {
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("RELAY_RESEND_API_URL: must be an http or https URL without query")
		}
	}
	if c.Domain != "" && strings.ContainsFunc(c.Domain, func(r rune) bool {
		return r <= ' ' || r == '@' || r == '/' || r == '<' || r == '>'
	}) {
		return errors.New("RELAY_EMAIL_DOMAIN: must be a bare domain name")
	}
	if c.WebhookSecret != "" {
		if _, err := webhookKey(c.WebhookSecret); err != nil {
			return errors.New("RELAY_RESEND_WEBHOOK_SECRET: must be whsec_ followed by standard base64")
		}
	}
	if c.Timeout < 0 {
		return errors.New("email: timeout must not be negative")
	}
	return nil
}

// webhookKey decodes a Svix secret: standard base64 after an optional "whsec_" prefix.
func webhookKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, fmt.Errorf("email: webhook secret: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("email: webhook secret: empty key")
	}
	return key, nil
}

// Adapter talks to Resend for every email channel. It is safe for concurrent use.
type Adapter struct {
	apiKey        string
	domain        string
	webhookSecret string
	timeout       time.Duration
	rs            *resend.Client
	log           *slog.Logger
}

var _ channels.Sender = (*Adapter)(nil)

// New returns an adapter. It makes no network call. A nil log discards.
func New(cfg Config, log *slog.Logger) *Adapter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	rs := resend.NewCustomClient(newHTTPClient(cfg.HTTP, cfg.Timeout), cfg.APIKey)
	// resend-go resolves relative paths ("emails") against BaseURL: without the trailing slash the
	// last path element of the base would be replaced. An unparsable URL (rejected by Validate)
	// keeps the library's default rather than a nil base.
	if u, err := url.Parse(strings.TrimRight(cfg.APIURL, "/") + "/"); err == nil {
		rs.BaseURL = u
	}
	return &Adapter{
		apiKey:        cfg.APIKey,
		domain:        cfg.Domain,
		webhookSecret: cfg.WebhookSecret,
		timeout:       cfg.Timeout,
		rs:            rs,
		log:           log,
	}
}

// Domain is RELAY_EMAIL_DOMAIN; "" means email is not configured (PROTOCOL §4.5 step 3).
func (a *Adapter) Domain() string { return a.domain }

// HasAPIKey reports whether a Resend API key is configured: without it no verification mail,
// body fetch or reply can be sent (PROTOCOL §4.5, §7.5 "email not configured").
func (a *Adapter) HasAPIKey() bool { return a.apiKey != "" }

// InboundConfigured reports whether a webhook secret is configured (PROTOCOL §4.5 inbound check 2).
func (a *Adapter) InboundConfigured() bool { return a.webhookSecret != "" }

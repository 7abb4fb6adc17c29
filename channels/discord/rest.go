package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/apihttp"
)

// maxBody bounds what is read of one answer; answers are small JSON objects.
const maxBody = 1 << 20

// maxMessage bounds the part of Discord's error message copied into an error text, which the
// delivery worker stores as lastError.
const maxMessage = 200

// errNoCredentials and errNoTarget use the lastError texts of PROTOCOL §7.5.
var (
	errNoCredentials = errors.New("channel has no credentials")
	errNoTarget      = errors.New("no reply target")
)

// APIError is a failed REST call. Its text is short ("discord: create message: 403 Missing
// Access"), names the operation and the status, and never holds the token or a URL, so it is safe
// to log and to store as a delivery's lastError.
type APIError struct {
	Op         string        // "create message", "typing", "get user", "get application"
	Status     int           // HTTP status; 0 when no answer arrived
	Code       int           // Discord's JSON error code, if any
	Message    string        // Discord's message, cleaned
	RetryAfter time.Duration // retry_after of a 429 body, else the Retry-After header
	Reason     string        // why no answer arrived ("timeout", "connection refused")
	cause      error         // context.Canceled or context.DeadlineExceeded, for errors.Is
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return "discord: " + e.Op + ": " + e.Reason
	}
	text := e.Message
	if text == "" {
		text = http.StatusText(e.Status)
	}
	return strings.TrimSpace(fmt.Sprintf("discord: %s: %d %s", e.Op, e.Status, text))
}

func (e *APIError) Unwrap() error { return e.cause }

// permanent reports whether no retry can help (PROTOCOL §7.5): a 4xx other than 408 and 429.
func (e *APIError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// classify turns a call error into the delivery worker's vocabulary: 429 → *channels.RetryAfterError,
// permanent 4xx → channels.Permanent, everything else (network, timeout, 408, 5xx) stays retryable.
func classify(err error) error {
	e, ok := errors.AsType[*APIError](err)
	if !ok {
		return err
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		return &channels.RetryAfterError{After: e.RetryAfter, Err: e}
	case e.permanent():
		return channels.Permanent(e)
	}
	return err
}

// errorBody is Discord's error answer: {"message":"…","code":N} and, for a 429, retry_after in
// (fractional) seconds.
type errorBody struct {
	Message    string  `json:"message"`
	Code       int     `json:"code"`
	RetryAfter float64 `json:"retry_after"`
}

// call makes one REST call with the per-call timeout: method path (relative to the API base) with
// "Authorization: Bot <token>", body (if not nil) as JSON, and the 2xx answer decoded into out (if
// not nil). It returns nil or an *APIError.
func (a *Adapter) call(ctx context.Context, token, op, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &APIError{Op: op, Reason: "encode request"}
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.apiURL+path, rd)
	if err != nil {
		return &APIError{Op: op, Reason: "invalid request"}
	}
	req.Header.Set("Authorization", "Bot "+token)
	req.Header.Set("User-Agent", "DiscordBot (https://github.com/chaos-relay/relay, 1)")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return networkError(ctx, op, token, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		e := &APIError{Op: op, Status: resp.StatusCode}
		var eb errorBody
		if json.Unmarshal(raw, &eb) == nil {
			e.Code = eb.Code
			e.Message = cleanText(eb.Message, token)
			e.RetryAfter = apihttp.Seconds(eb.RetryAfter)
		}
		if e.RetryAfter <= 0 {
			e.RetryAfter = apihttp.ParseRetryAfter(resp.Header.Get("Retry-After"))
		}
		return e
	}
	if err != nil {
		return networkError(ctx, op, token, err)
	}
	if out != nil && json.Unmarshal(raw, out) != nil {
		return &APIError{Op: op, Status: resp.StatusCode, Message: "invalid response"}
	}
	return nil
}

// networkError describes a call that got no usable answer, without the URL.
func networkError(ctx context.Context, op, token string, err error) *APIError {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &APIError{Op: op, Reason: "canceled", cause: context.Canceled}
	}
	e := &APIError{Op: op, Reason: apihttp.NetReason(err, func(s string) string { return cleanText(s, token) })}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		e.Reason, e.cause = "timeout", context.DeadlineExceeded
	}
	return e
}

// cleanText makes an upstream text safe for an error: no token, one line, at most maxMessage runes.
func cleanText(s, token string) string {
	return apihttp.Clean(apihttp.Scrub(s, token, "<token>"), maxMessage)
}

// Bot is what registration learns about a bot token (PROTOCOL §4.4 steps 1–3).
type Bot struct {
	UserID        string // the bot user's id
	Username      string // botUsername
	ApplicationID string
	VerifyKey     string // hex Ed25519 public key of the application's interactions
}

// registrationError carries one of the exact texts of PROTOCOL §4.4 steps 1–2 as its Error(),
// which the server puts after "Discord registration failed: ". It unwraps to the call's error.
type registrationError struct {
	msg   string
	cause error
}

func (e *registrationError) Error() string { return e.msg }
func (e *registrationError) Unwrap() error { return e.cause }

// Identify checks token with GET /users/@me and reads the application with GET /applications/@me.
// Errors: a non-2xx answer gives "Discord API error: <status>"; no answer at all "Discord API
// unreachable: <reason>"; a user without id or username "Invalid bot token: GET /users/@me returned
// no user"; an application without id or verify_key "Invalid bot token: GET /applications/@me
// returned no application".
func (a *Adapter) Identify(ctx context.Context, token string) (Bot, error) {
	if strings.TrimSpace(token) == "" {
		return Bot{}, &registrationError{msg: "Invalid bot token: GET /users/@me returned no user"}
	}
	var user struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	if err := a.call(ctx, token, "get user", http.MethodGet, "/users/@me", nil, &user); err != nil {
		return Bot{}, registrationFailure(err, "Invalid bot token: GET /users/@me returned no user")
	}
	if user.ID == "" || user.Username == "" {
		return Bot{}, &registrationError{msg: "Invalid bot token: GET /users/@me returned no user"}
	}
	var app struct {
		ID        string `json:"id"`
		VerifyKey string `json:"verify_key"`
	}
	if err := a.call(ctx, token, "get application", http.MethodGet, "/applications/@me", nil, &app); err != nil {
		return Bot{}, registrationFailure(err, "Invalid bot token: GET /applications/@me returned no application")
	}
	if app.ID == "" || app.VerifyKey == "" {
		return Bot{}, &registrationError{msg: "Invalid bot token: GET /applications/@me returned no application"}
	}
	return Bot{UserID: user.ID, Username: user.Username, ApplicationID: app.ID, VerifyKey: app.VerifyKey}, nil
}

// registrationFailure maps a call error to a PROTOCOL §4.4 text. An undecodable 2xx answer counts
// as one without the object (invalid).
func registrationFailure(err error, invalid string) error {
	e, ok := errors.AsType[*APIError](err)
	switch {
	case !ok:
		return &registrationError{msg: "Discord API unreachable: request failed", cause: err}
	case e.Status == 0:
		return &registrationError{msg: "Discord API unreachable: " + e.Reason, cause: e}
	case e.Status < 200 || e.Status >= 300:
		return &registrationError{msg: "Discord API error: " + strconv.Itoa(e.Status), cause: e}
	}
	return &registrationError{msg: invalid, cause: e}
}

// messageBody is a create-message request: content with no mention parsed, so that neither agent
// text nor a notice can ping @everyone, roles or users (PROTOCOL §7.5).
type messageBody struct {
	Content         string          `json:"content"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

type allowedMentions struct {
	Parse []string `json:"parse"`
}

// SendText posts text to the Discord channel channelID with {"content":text,
// "allowed_mentions":{"parse":[]}}: the pairing confirmation, the refusal and "Inbox full", which
// are best-effort notices, not durable deliveries. Errors are classified as Send's are.
func (a *Adapter) SendText(ctx context.Context, token, channelID, text string) error {
	return classify(a.createMessage(ctx, token, channelID, text))
}

func (a *Adapter) createMessage(ctx context.Context, token, channelID, text string) error {
	body := messageBody{Content: text, AllowedMentions: allowedMentions{Parse: []string{}}}
	return a.call(ctx, token, "create message", http.MethodPost,
		"/channels/"+url.PathEscape(channelID)+"/messages", body, nil)
}

// SendTyping shows "typing…" in the Discord channel channelID with POST /channels/<id>/typing
// (PROTOCOL §7.6). Errors are classified as Send's are.
func (a *Adapter) SendTyping(ctx context.Context, token, channelID string) error {
	return classify(a.call(ctx, token, "typing", http.MethodPost,
		"/channels/"+url.PathEscape(channelID)+"/typing", nil, nil))
}

// Send implements channels.Sender (PROTOCOL §7.5): POST /channels/<p.Target>/messages with
// {"content":p.Text,"allowed_mentions":{"parse":[]}} and the token from creds(ctx, "botToken").
// A 429 gives a *channels.RetryAfterError carrying retry_after, any other 4xx but 408 a
// channels.Permanent error; network errors, timeouts, 408 and 5xx are returned as they are, to be
// retried.
func (a *Adapter) Send(ctx context.Context, p channels.Part, creds channels.Credentials) error {
	raw, err := creds(ctx, "botToken")
	if err != nil {
		return fmt.Errorf("discord: credentials: %w", err)
	}
	token := string(raw)
	if strings.TrimSpace(token) == "" {
		return channels.Permanent(errNoCredentials)
	}
	if p.Target == "" {
		return channels.Permanent(errNoTarget)
	}
	return classify(a.createMessage(ctx, token, p.Target, p.Text))
}

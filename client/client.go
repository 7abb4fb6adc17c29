package client

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds a whole request (connect, send, read the answer) when no
// *http.Client is supplied. A poll page can hold up to 500 messages of up to 64 KiB each,
// so the limit is generous.
const DefaultTimeout = 30 * time.Second

// Client is a registered session. It is safe for concurrent use, except Poll, which owns the cursor.
//
// The fields may be set directly to resume a session saved earlier (UserID, APIKey, Key and
// Cursor are everything a session needs); Register fills them for a new one.
type Client struct {
	BaseURL         string            // e.g. "http://127.0.0.1:8787" (no trailing slash)
	HTTP            *http.Client      // nil → a default client with a 30 s timeout
	UserID          string            // the session's userId
	APIKey          string            // the bearer token
	Key             *ecdsa.PrivateKey // nil for a legacy (unsigned) session
	Now             func() time.Time  // nil → time.Now; used for X-Timestamp
	Cursor          string            // Poll's `since`, "" at first
	ServerPublicKey JWK               // kept for compatibility; the relay signs nothing with it
	// OnGap, when set, hears that messages after the cursor were deleted
	// (by retention) before this client read them: Poll and Subscribe call
	// it before delivering what follows. Subscribe asks for gap frames only
	// when it is set.
	OnGap func(Gap)
}

// registerRequest is the body of POST /auth/register (§2.2).
type registerRequest struct {
	PublicKey JWK `json:"publicKey"`
}

// registerResponse is the 200 answer of POST /auth/register (§2.2).
type registerResponse struct {
	UserID          string `json:"userId"`
	APIKey          string `json:"apiKey"`
	ServerPublicKey JWK    `json:"serverPublicKey"`
}

// Register calls POST /auth/register with the key's public JWK (or no body when key is nil) and returns the session.
// Registering again with the same key reclaims the same userId and apiKey (§2.2).
// A nil hc uses a default client with DefaultTimeout, which the returned Client keeps.
func Register(ctx context.Context, baseURL string, key *ecdsa.PrivateKey, hc *http.Client) (*Client, error) {
	baseURL = strings.TrimRight(baseURL, "/")
	var body []byte
	if key != nil {
		jwk := PublicJWK(&key.PublicKey)
		if jwk.X == "" {
			return nil, errors.New("client: register: key is not a valid P-256 key")
		}
		var err error
		if body, err = encodeJSON(registerRequest{PublicKey: jwk}); err != nil {
			return nil, fmt.Errorf("client: register: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/auth/register", bodyReader(body))
	if err != nil {
		return nil, fmt.Errorf("client: register: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var out registerResponse
	if err := do(httpClient(hc), req, &out); err != nil {
		return nil, err
	}
	if out.UserID == "" || out.APIKey == "" {
		return nil, errors.New("client: register: answer lacks userId or apiKey")
	}
	return &Client{
		BaseURL:         baseURL,
		HTTP:            hc,
		UserID:          out.UserID,
		APIKey:          out.APIKey,
		Key:             key,
		ServerPublicKey: out.ServerPublicKey,
	}, nil
}

// NewRequest builds an authenticated request: Authorization: Bearer, and for signed sessions X-Timestamp (FormatTime(Now())),
// X-Nonce (32 random lowercase hex chars) and X-Signature over the request's escaped path (no query) and body.
// For GET/HEAD the body hash is that of the empty body. path may include a query string ("/messages?since=...").
//
// path must start with "/" and be escaped already (build query strings with url.Values and path
// segments with url.PathEscape). The signed path is req.URL.EscapedPath(), which is exactly what
// net/http writes on the wire for a URL it parsed itself, and what the relay reconstructs from
// RawPath/EscapedPath (§2.5 step 3). A non-empty body is sent as application/json; GET and HEAD
// take no body, and one is an error rather than silently unsigned data.
//
// A signed request is good for one send within ±5 minutes of its X-Timestamp: the relay
// records its nonce, so a resent copy is refused. Build a new request for every attempt.
func (c *Client) NewRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("client: path %q does not start with /", path)
	}
	if c.APIKey == "" {
		return nil, errors.New("client: no API key; register first")
	}
	if (method == http.MethodGet || method == http.MethodHead) && len(body) > 0 {
		return nil, fmt.Errorf("client: %s request with a body", method)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, bodyReader(body))
	if err != nil {
		return nil, fmt.Errorf("client: new request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key == nil {
		return req, nil // a legacy session must not sign (§2.4)
	}
	ts, nonce := FormatTime(c.now()), newNonce()
	sig, err := SignPayload(c.Key, ts, nonce, req.URL.EscapedPath(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", nonce)
	req.Header.Set("X-Signature", sig)
	return req, nil
}

// Do sends a request built by NewRequest and decodes a 2xx JSON answer into out (if non-nil); non-2xx → *Error.
func (c *Client) Do(req *http.Request, out any) error {
	return do(httpClient(c.HTTP), req, out)
}

// call marshals in (unless nil), sends it as a signed request and decodes the answer into out.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = encodeJSON(in); err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
	}
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	return c.Do(req, out)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// httpClient returns hc, or a client with DefaultTimeout. The fallback shares
// http.DefaultTransport, so its connections are pooled across calls all the same.
func httpClient(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// do sends req and decodes a 2xx JSON answer into out; a non-2xx answer becomes *Error.
// The body is always drained and closed so that the connection can be reused.
func do(hc *http.Client, req *http.Request, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, and a webhook URL carries its secret in ?token=.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(req.URL)
		}
		return fmt.Errorf("client: %w", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newError(resp)
	}
	if out == nil || req.Method == http.MethodHead {
		return nil
	}
	if err := decodeJSON(resp.Body, out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// drainLimit bounds how much of an unread body is discarded to reuse the connection;
// beyond it, closing the connection is cheaper.
const drainLimit = 64 << 10

// redactURL drops the query and user info, which may hold secrets.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

func bodyReader(body []byte) io.Reader {
	if len(body) == 0 {
		return nil
	}
	return bytes.NewReader(body)
}

// encodeJSON is json.Marshal without HTML escaping, so bodies read as they were written.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decodeJSON decodes one JSON value keeping numbers exact (json.Number), as §1.3 asks for ids.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
}

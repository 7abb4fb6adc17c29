package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/go-telegram/bot"

	"github.com/chaos-relay/relay/channels"
)

// maxBody bounds what the library may read of one answer; maxCapture is how much of it is kept for
// building errors. Error answers are a few hundred bytes; a sendMessage result echoes the text.
const (
	maxBody    = 1 << 20
	maxCapture = 64 << 10
)

// maxDescription bounds the part of Telegram's description copied into an error text, which the
// delivery worker stores as lastError.
const maxDescription = 200

// errRedirect refuses redirects to another host (PROTOCOL §7.5): the request URL holds the token.
var errRedirect = errors.New("redirect to another host refused")

// newHTTPClient returns the client every bot uses: base's transport with the per-call timeout and a
// redirect policy that stays on the API host.
func newHTTPClient(base *http.Client, timeout time.Duration) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	if c.Timeout <= 0 || c.Timeout > timeout {
		c.Timeout = timeout
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			return errRedirect
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}
	return c
}

// recordKey is the context key under which a call passes its *record to recordingClient.
type recordKey struct{}

// record is what recordingClient saw of one answer. The library calls Do and reads the body on the
// calling goroutine, so the record needs no lock.
type record struct {
	done       bool // an HTTP answer arrived
	status     int
	retryAfter string // Retry-After header
	body       []byte // the first maxCapture bytes
	truncated  bool
}

// recordingClient is the bot.HttpClient of every bot. go-telegram/bot drops the HTTP status and
// fails to decode non-JSON answers, so the status, Retry-After and body prefix are recorded into the
// call's context value (LIBRARIES.md, go-telegram/bot).
type recordingClient struct{ c *http.Client }

var _ bot.HttpClient = recordingClient{}

// Do implements bot.HttpClient.
func (rc recordingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := rc.c.Do(r)
	rec, ok := r.Context().Value(recordKey{}).(*record)
	if !ok || err != nil {
		return resp, err
	}
	rec.done = true
	rec.status = resp.StatusCode
	rec.retryAfter = resp.Header.Get("Retry-After")
	resp.Body = &capturingBody{r: io.LimitReader(resp.Body, maxBody), c: resp.Body, rec: rec}
	return resp, nil
}

// capturingBody keeps a copy of the first maxCapture bytes read into its record.
type capturingBody struct {
	r   io.Reader
	c   io.Closer
	rec *record
}

func (b *capturingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	room := maxCapture - len(b.rec.body)
	if n > room {
		b.rec.truncated = true
	}
	b.rec.body = append(b.rec.body, p[:min(n, max(room, 0))]...)
	return n, err
}

func (b *capturingBody) Close() error { return b.c.Close() }

// apiReply is Telegram's answer envelope, decoded from the recorded body.
type apiReply struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`

	parsed bool // the body was a JSON object
}

// hasResult reports whether the answer carried a non-null result.
func (r apiReply) hasResult() bool {
	res := bytes.TrimSpace(r.Result)
	return len(res) > 0 && !bytes.Equal(res, []byte("null"))
}

// callError is a failed Bot API call. Its text is short, names the method and the status, and never
// holds the token or a URL, so it is safe to log and to store as a delivery's lastError.
type callError struct {
	Method      string
	Status      int           // HTTP status; 0 when no answer arrived
	Code        int           // Telegram's error_code, if any
	Description string        // Telegram's description, cleaned
	RetryAfter  time.Duration // parameters.retry_after, else the Retry-After header
	Reason      string        // why no usable answer arrived ("timeout", "invalid response")
	cause       error         // context.Canceled or context.DeadlineExceeded, for errors.Is
	badToken    bool          // the token is blank: no call was made
}

func (e *callError) Error() string {
	if e.Status == 0 {
		return "telegram: " + e.Method + ": " + e.Reason
	}
	text := e.Description
	if text == "" {
		text = e.Reason
	}
	if text == "" {
		text = http.StatusText(e.Status)
	}
	return fmt.Sprintf("telegram: %s: %d %s", e.Method, e.code(), text)
}

func (e *callError) Unwrap() error { return e.cause }

// code is the status that decides the outcome: the HTTP status, or Telegram's error_code when a 2xx
// answer says ok:false. It is 0 when no answer arrived.
func (e *callError) code() int {
	if e.Status >= 200 && e.Status < 300 && e.Code != 0 {
		return e.Code
	}
	return e.Status
}

// permanent reports whether no retry can help (PROTOCOL §7.5): a 4xx other than 408 and 429.
func (e *callError) permanent() bool {
	if e.badToken {
		return true
	}
	c := e.code()
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
}

// classify turns a call error into the delivery worker's vocabulary: 429 → *channels.RetryAfterError,
// permanent 4xx → channels.Permanent, everything else (network, timeout, 408, 5xx) stays retryable.
func classify(err error) error {
	e, ok := errors.AsType[*callError](err)
	if !ok {
		return err
	}
	switch {
	case e.code() == http.StatusTooManyRequests:
		return &channels.RetryAfterError{After: e.RetryAfter, Err: e}
	case e.permanent():
		return channels.Permanent(e)
	}
	return err
}

// call runs one Bot API call with the per-call timeout and a record of its answer. It returns the
// decoded answer envelope and nil or a *callError; the library's own error text is never used.
func (a *Adapter) call(ctx context.Context, token, method string, fn func(ctx context.Context, b *bot.Bot) error) (apiReply, error) {
	b, err := a.bot(token)
	if err != nil {
		return apiReply{}, &callError{Method: method, Reason: err.Error(), badToken: true}
	}
	rec := &record{}
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, recordKey{}, rec), a.timeout)
	defer cancel()
	libErr := fn(cctx, b)

	if !rec.done {
		if libErr == nil {
			return apiReply{}, nil
		}
		return apiReply{}, networkError(ctx, method, token, libErr)
	}
	var rep apiReply
	if body := bytes.TrimSpace(rec.body); !rec.truncated && len(body) > 0 && body[0] == '{' {
		rep.parsed = json.Unmarshal(body, &rep) == nil
	}
	e := &callError{Method: method, Status: rec.status}
	if rep.parsed {
		e.Code = rep.ErrorCode
		e.Description = cleanText(rep.Description, token)
		e.RetryAfter = time.Duration(rep.Parameters.RetryAfter) * time.Second
	}
	if e.RetryAfter <= 0 {
		e.RetryAfter = parseRetryAfter(rec.retryAfter)
	}
	switch {
	case rec.status < 200 || rec.status >= 300:
		return rep, e
	case rep.parsed && rep.OK:
		return rep, nil
	case rep.parsed:
		return rep, e // 2xx with ok:false
	case libErr == nil:
		return rep, nil // an answer too large to keep, which the library decoded
	default:
		e.Reason = "invalid response"
		return rep, e
	}
}

// networkError describes a call that got no HTTP answer, without the URL (it holds the token).
func networkError(ctx context.Context, method, token string, err error) *callError {
	if cerr := ctx.Err(); cerr != nil {
		return &callError{Method: method, Reason: cerr.Error(), cause: cerr}
	}
	e := &callError{Method: method, Reason: netReason(err, token)}
	if errors.Is(err, context.DeadlineExceeded) {
		e.cause = context.DeadlineExceeded
	}
	return e
}

// netReason is a short, URL-free reason for a transport error.
func netReason(err error, token string) string {
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.Is(err, errRedirect):
		return errRedirect.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host"
		}
		return "DNS lookup failed"
	}
	// *url.Error's text starts with the method and URL; its inner error names at most an address.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return cleanText(ue.Err.Error(), token)
	}
	return "request failed"
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t).Round(time.Second), 0)
	}
	return 0
}

// cleanText makes an upstream text safe for an error: no token, one line, at most maxDescription
// runes.
func cleanText(s, token string) string {
	s = scrub(s, token)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxDescription {
		s = string(r[:maxDescription]) + "…"
	}
	return s
}

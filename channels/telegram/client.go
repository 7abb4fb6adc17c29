package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-telegram/bot"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/apihttp"
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
		e.RetryAfter = apihttp.ParseRetryAfter(rec.retryAfter)
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
	e := &callError{Method: method, Reason: apihttp.NetReason(err, func(s string) string { return cleanText(s, token) })}
	if errors.Is(err, context.DeadlineExceeded) {
		e.cause = context.DeadlineExceeded
	}
	return e
}

// cleanText makes an upstream text safe for an error: no token, one line, at most maxDescription
// runes.
func cleanText(s, token string) string {
	return apihttp.Clean(scrub(s, token), maxDescription)
}

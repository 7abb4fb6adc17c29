package email

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-relay/relay/channels/apihttp"
)

// maxCapture is how much of an error answer is kept for building errors; Resend's error bodies are
// a few hundred bytes. maxText bounds the part of it copied into an error text, which the delivery
// worker stores as lastError and registration shows to the client.
const (
	maxCapture = 64 << 10
	maxText    = 300
)

// newHTTPClient returns the client given to resend-go: base's transport wrapped by a recorder, the
// per-call timeout, and a redirect policy that stays on the API host.
func newHTTPClient(base *http.Client, timeout time.Duration) *http.Client {
	c := apihttp.NewClient(base, timeout)
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = recordingTransport{rt: rt}
	return c
}

// recordKey is the context key under which a call passes its *record to recordingTransport.
type recordKey struct{}

// record is what recordingTransport saw of the last answer of one call. resend-go calls Do and
// reads the body on the calling goroutine, so the record needs no lock.
type record struct {
	status     int    // 0 when no answer arrived
	retryAfter string // Retry-After header
	body       []byte // the first maxCapture bytes of a non-2xx answer
}

// recordingTransport records the status, Retry-After and, for non-2xx answers, the body prefix of
// each answer into the call's record: resend-go turns errors into "[ERROR]: <message>" without
// the status (LIBRARIES.md item 5), and it does not read non-JSON error bodies at all.
type recordingTransport struct{ rt http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	rec, ok := r.Context().Value(recordKey{}).(*record)
	if !ok || err != nil {
		return resp, err
	}
	rec.status = resp.StatusCode
	rec.retryAfter = resp.Header.Get("Retry-After")
	rec.body = nil
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxCapture))
		_ = resp.Body.Close()
		rec.body = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

// callError is a failed Resend call. Its text is short, names the operation and the status, and
// never holds the API key, so it is safe to log and to store as a delivery's lastError.
type callError struct {
	op         string
	status     int    // HTTP status; 0 when no answer arrived
	message    string // Resend's "message", else the body, cleaned
	name       string // Resend's error "name" ("validation_error")
	body       string // the body, cleaned (the verification error text quotes it)
	retryAfter time.Duration
	reason     string // why no answer arrived ("timeout", "connection refused")
	cause      error  // context.Canceled or context.DeadlineExceeded, for errors.Is
	transient  bool   // a fetch that Svix should retry: errors.Is(err, ErrTransient)
}

// detail is the status and message, or the reason when no answer arrived.
func (e *callError) detail() string {
	if e.status == 0 {
		return e.reason
	}
	msg := e.message
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	return strings.TrimSpace(strconv.Itoa(e.status) + " " + msg)
}

func (e *callError) Error() string {
	if e.transient {
		return ErrTransient.Error() + ": " + e.detail()
	}
	return "email: " + e.op + ": " + e.detail()
}

func (e *callError) Unwrap() error { return e.cause }

// Is makes a transient fetch failure match ErrTransient.
func (e *callError) Is(target error) bool { return e.transient && target == ErrTransient }

// transientStatus reports whether a fetch may succeed later (PROTOCOL §4.5 step 1): no answer,
// 408, 429 or 5xx. Anything else (a 404, another 4xx, an unexpected 3xx) lets the relay continue
// with what the webhook carried.
func (e *callError) transientStatus() bool {
	return e.status == 0 || e.status == http.StatusRequestTimeout ||
		e.status == http.StatusTooManyRequests || e.status >= 500
}

// permanent reports whether no retry of a delivery can help (PROTOCOL §7.5): a 4xx other than 408
// and 429. Everything else is retried, including an unexpected 3xx (a redirect not followed).
func (e *callError) permanent() bool {
	return e.status >= 400 && e.status < 500 &&
		e.status != http.StatusRequestTimeout && e.status != http.StatusTooManyRequests
}

// call runs one Resend call with the per-call timeout and a record of its answer. It returns nil
// when Resend answered 2xx (even if the library could not decode the answer: the request was
// accepted), else a *callError. The library's own error text is never used.
func (a *Adapter) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	rec := &record{}
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, recordKey{}, rec), a.timeout)
	defer cancel()
	libErr := fn(cctx)
	if libErr == nil {
		return nil
	}
	if rec.status == 0 || errors.Is(libErr, apihttp.ErrRedirect) {
		return a.networkError(ctx, op, libErr)
	}
	if rec.status >= 200 && rec.status < 300 {
		return nil
	}
	e := &callError{op: op, status: rec.status, retryAfter: apihttp.ParseRetryAfter(rec.retryAfter)}
	e.body = a.clean(string(rec.body))
	var rep struct {
		Message string `json:"message"`
		Name    string `json:"name"`
	}
	if json.Unmarshal(bytes.TrimSpace(rec.body), &rep) == nil {
		e.message, e.name = a.clean(rep.Message), a.clean(rep.Name)
	}
	if e.message == "" {
		e.message = e.body
	}
	return e
}

// networkError describes a call that got no HTTP answer, without the URL.
func (a *Adapter) networkError(ctx context.Context, op string, err error) *callError {
	if cerr := ctx.Err(); cerr != nil {
		return &callError{op: op, reason: cerr.Error(), cause: cerr}
	}
	e := &callError{op: op, reason: apihttp.NetReason(err, a.clean)}
	if errors.Is(err, context.DeadlineExceeded) {
		e.cause = context.DeadlineExceeded
	}
	return e
}

// clean makes an upstream text safe for an error: no API key, one line, at most maxText runes.
func (a *Adapter) clean(s string) string {
	return apihttp.Clean(apihttp.Scrub(s, a.apiKey, "<key>"), maxText)
}

// limitedBuffer is an io.Writer that keeps at most max bytes and fails beyond them, so that a huge
// answer cannot exhaust memory.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

// errTooLarge is the write error of a full limitedBuffer.
var errTooLarge = errors.New("answer too large")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.overflow = true
		return 0, errTooLarge
	}
	return b.buf.Write(p)
}

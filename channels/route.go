package channels

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// RouteKind says what the server does before a route's handler runs.
type RouteKind int

const (
	// Public routes get the body only (their Limit, if set, is global).
	Public RouteKind = iota
	// Session routes need an authenticated session (PROTOCOL §2.4, §2.5):
	// Request.User is set, and Limit is keyed by the user.
	Session
	// Callback routes are a platform's calls for one channel, at a path whose
	// last segment is the channel id: Limit is keyed by that id and counted
	// as dropped, then the channel is looked up (404 "Unknown channel") and
	// its type checked (400 WrongType); Request.Channel and Meta are set.
	Callback
)

// Route is one HTTP route of a platform.
type Route struct {
	Method string
	Path   string // an Echo pattern, e.g. "/telegram/:channelId"
	Kind   RouteKind
	// Limit is the rate limit applied first ("" for none), answered 429
	// with LimitText.
	Limit     ratelimit.Name
	LimitText string
	// WrongType is the 400 text of a Callback route for another channel type.
	WrongType string
	Handle    func(ctx context.Context, r *Request) (Answer, error)
}

// Request is a route's request as the server prepared it.
type Request struct {
	HTTP    *http.Request
	Body    []byte          // read within the relay's body limit
	User    storage.User    // Session routes
	Channel storage.Channel // Callback routes
	Meta    *rawjson.Object // Callback routes: the channel's metadata
}

// Answer is a route's answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON answers v as compact JSON without HTML escaping (PROTOCOL §1.3).
func JSON(status int, v any) (Answer, error) {
	b, err := rawjson.Marshal(v)
	if err != nil {
		return Answer{}, err
	}
	return RawJSON(status, b), nil
}

// RawJSON answers a JSON body as it is.
func RawJSON(status int, body []byte) Answer {
	return Answer{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
}

// OK is the answer {"ok":true}.
func OK() Answer { return RawJSON(http.StatusOK, []byte(`{"ok":true}`)) }

// Stored is the answer of an inbound route that stored message id.
func Stored(id string) Answer {
	return RawJSON(http.StatusOK, []byte(`{"ok":true,"messageId":`+strconv.Quote(id)+`}`))
}

// Error is an answer with the status and the exact text of the protocol
// ({"error":"…"}); routes return it as an error.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Msg }

// Errorf is an Error with status and msg.
func Errorf(status int, msg string) *Error { return &Error{Status: status, Msg: msg} }

// BadRequest is a 400 Error.
func BadRequest(msg string) *Error { return Errorf(http.StatusBadRequest, msg) }

// ErrInvalidJSON is the 400 of a body that is not the JSON a route expects.
var ErrInvalidJSON = BadRequest("Invalid JSON body")

// SecretEqual compares two secrets in constant time (for equal lengths; the
// length itself is not secret).
func SecretEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// BearerToken extracts the credential of "Bearer <token>" (scheme
// case-insensitive, any whitespace after it).
func BearerToken(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		scheme, rest, ok = strings.Cut(h, "\t")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	return rest, rest != ""
}

// MsgChannelLimited is the 429 text of the channel-creation rate limit,
// shared by POST /channels and every bot register route (PROTOCOL §8).
const MsgChannelLimited = "Too many channel registration requests. Try again later."

// Handler handles a platform's route with what the relay offers it.
type Handler func(ctx context.Context, h Host, r *Request) (Answer, error)

// MsgWebhookLimited is the 429 text of the inbound callbacks.
const MsgWebhookLimited = "Too many webhook requests. Try again later."

// RegisterRoute is a platform's POST /channels/<typ>/register: a session's
// route under the channel-creation rate limit (PROTOCOL §4).
func RegisterRoute(typ string, h Host, handle Handler) Route {
	return Route{Method: http.MethodPost, Path: "/channels/" + typ + "/register", Kind: Session,
		Limit: ratelimit.Channels, LimitText: MsgChannelLimited, Handle: bind(h, handle)}
}

// CallbackRoute is a channel's inbound POST /<typ>/:channelId under the
// webhook rate limit; wrongType answers a channel of another type.
func CallbackRoute(typ, wrongType string, h Host, handle Handler) Route {
	return Route{Method: http.MethodPost, Path: "/" + typ + "/:channelId", Kind: Callback,
		Limit: ratelimit.Webhook, LimitText: MsgWebhookLimited, WrongType: wrongType, Handle: bind(h, handle)}
}

// bind gives handle the host.
func bind(h Host, handle Handler) func(context.Context, *Request) (Answer, error) {
	return func(ctx context.Context, r *Request) (Answer, error) { return handle(ctx, h, r) }
}

package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// Page sizes of GET /messages and /responses (PROTOCOL §5.3).
const (
	defaultPageLimit = 100
	maxPageLimit     = 500
)

const epoch = "1970-01-01T00:00:00.000Z"

// messageJSON is a stored message on the wire (PROTOCOL §5.1), in member order.
type messageJSON struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Timestamp   string          `json:"timestamp"`
	Metadata    json.RawMessage `json:"metadata"`
}

func toMessageJSON(m storage.Message) messageJSON {
	return messageJSON{ID: m.ID, UserID: m.UserID, ChannelType: m.ChannelType, ChannelID: m.ChannelID,
		From: m.From, Content: m.Content, Timestamp: storage.FormatTime(m.Timestamp), Metadata: orEmptyObject(m.Metadata)}
}

func orEmptyObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}

type messagesPage struct {
	Messages []messageJSON `json:"messages"`
	Since    string        `json:"since"`
	HasMore  bool          `json:"hasMore"`
	Gap      *gapJSON      `json:"gap,omitempty"` // an addition (the gap signal)
}

// gapJSON says that messages after since, up to lostUntil, were deleted
// before the client read them (retention).
type gapJSON struct {
	Since     string `json:"since"`
	LostUntil string `json:"lostUntil"`
}

// gap is the gap signal of a client resuming after since: set when the store
// deleted a message of the user newer than since.
func (s *Server) gap(ctx context.Context, userID string, since time.Time) (*gapJSON, error) {
	horizon, err := s.store.Horizon(ctx, userID)
	if err != nil || !horizon.After(since) {
		return nil, err
	}
	return &gapJSON{Since: storage.FormatTime(since), LostUntil: storage.FormatTime(horizon)}, nil
}

// messages handles GET /messages (PROTOCOL §5.3): the caller's messages after
// since, oldest first, with the exact cursor for the next poll.
func (s *Server) messages(c *echo.Context) error {
	user := userOf(c)
	if err := s.limit(c, ratelimit.Messages, user.ID, "Too many poll requests. Try again later."); err != nil {
		return err
	}
	since, sinceText, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, more, err := s.store.MessagesAfter(ctx, user.ID, since, limit)
	if err != nil {
		return err
	}
	page := messagesPage{Messages: make([]messageJSON, len(list)), Since: sinceText, HasMore: more}
	if !since.IsZero() {
		if page.Gap, err = s.gap(ctx, user.ID, since); err != nil {
			return err
		}
	}
	for i, m := range list {
		page.Messages[i] = toMessageJSON(m)
	}
	if len(list) > 0 {
		page.Since = page.Messages[len(list)-1].Timestamp
	}
	s.polled(c, user.ID, since, list, page.Since)
	return writeJSON(c, http.StatusOK, page)
}

// pageParams reads since and limit. sinceText is the canonical since to echo
// when the page is empty.
func pageParams(c *echo.Context) (since time.Time, sinceText string, limit int, err error) {
	q := c.Request().URL.Query()
	sinceText, limit = epoch, defaultPageLimit
	if v := q.Get("since"); v != "" {
		t, ok := storage.ParseTime(v)
		if !ok {
			return since, "", 0, badRequest("Invalid since parameter")
		}
		since, sinceText = t, storage.FormatTime(t)
	}
	if v := q.Get("limit"); v != "" {
		n, ok := positiveInt(v)
		if !ok {
			return since, "", 0, badRequest("Invalid limit parameter")
		}
		limit = min(n, maxPageLimit)
	}
	return since, sinceText, limit, nil
}

// positiveInt parses ASCII digits with a value of at least 1; values too
// large for an int are clamped rather than refused.
func positiveInt(v string) (int, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil { // only overflow is left
		return maxPageLimit, true
	}
	return n, n >= 1
}

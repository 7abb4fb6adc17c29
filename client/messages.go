package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Message is an inbound message as stored by the relay (§5.1).
type Message struct {
	ID          string         `json:"id"`
	UserID      string         `json:"userId"`
	ChannelType string         `json:"channelType"`
	ChannelID   string         `json:"channelId"`
	From        string         `json:"from"`
	Content     string         `json:"content"`
	Timestamp   string         `json:"timestamp"`
	Metadata    map[string]any `json:"metadata"` // numbers are json.Number
}

// MessagesPage is one answer of GET /messages (§5.3).
type MessagesPage struct {
	Messages []Message `json:"messages"`
	Since    string    `json:"since"`         // the cursor to send next time
	HasMore  bool      `json:"hasMore"`       // more messages were waiting beyond limit
	Gap      *Gap      `json:"gap,omitempty"` // messages after the request's since were lost
}

// Gap is the relay's gap signal (§5.5): messages with a timestamp after
// Since, up to LostUntil, were deleted by retention before this client read
// them.
type Gap struct {
	Since     string `json:"since"`
	LostUntil string `json:"lostUntil"`
}

// Messages reads up to limit messages with a timestamp strictly after since (GET /messages).
// since "" means from the oldest retained message; limit 0 leaves the relay's default (100,
// at most 500). Most callers want Poll, which keeps the cursor.
func (c *Client) Messages(ctx context.Context, since string, limit int) (*MessagesPage, error) {
	q, err := pageQuery(since, limit)
	if err != nil {
		return nil, err
	}
	var page MessagesPage
	if err := c.call(ctx, http.MethodGet, "/messages"+q, nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// Poll fetches the next page after c.Cursor and advances c.Cursor to the page's since. Lossless when called repeatedly (§5.2).
//
// The cursor only moves after a page has been read in full, so a failed poll can simply be
// retried. Call Poll again at once while HasMore is true. Poll must not run concurrently with
// itself; persist c.Cursor to resume after a restart.
func (c *Client) Poll(ctx context.Context, limit int) (*MessagesPage, error) {
	page, err := c.Messages(ctx, c.Cursor, limit)
	if err != nil {
		return nil, err
	}
	if page.Gap != nil && c.OnGap != nil {
		c.OnGap(*page.Gap)
	}
	if page.Since != "" {
		c.Cursor = page.Since
	}
	return page, nil
}

// pageQuery renders since and limit (§5.3, §7.4) as an escaped query string, "" when both
// are unset. Escaping matters: since holds ':' and, with a numeric offset, '+'.
func pageQuery(since string, limit int) (string, error) {
	if limit < 0 {
		return "", fmt.Errorf("client: negative limit %d", limit)
	}
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return "", nil
	}
	return "?" + q.Encode(), nil
}

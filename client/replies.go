package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Reply is the body of POST /reply (§7.2). The relay ignores ChannelType (the stored channel's
// type decides); Metadata should be the inbound message's whole metadata, echoed back, since
// reply routing reads its keys (§3.7).
type Reply struct {
	ChannelID   string         `json:"channelId"`
	Content     string         `json:"content"`
	ChannelType string         `json:"channelType,omitempty"`
	ReplyTo     string         `json:"replyTo,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// Reply sends an agent reply through a channel (POST /reply). A 200 means the reply is stored
// durably; platform delivery happens later and is retried by the relay (§7.5).
func (c *Client) Reply(ctx context.Context, r Reply) (responseID string, err error) {
	if r.ChannelID == "" || r.Content == "" {
		return "", errors.New("client: reply: need a channel id and content")
	}
	var out struct {
		ResponseID string `json:"responseId"`
	}
	if err := c.call(ctx, http.MethodPost, "/reply", r, &out); err != nil {
		return "", err
	}
	return out.ResponseID, nil
}

// Response is an agent reply as GET /responses returns it (§7.3, without userId).
type Response struct {
	ID          string         `json:"id"`
	ChannelType string         `json:"channelType"`
	ChannelID   string         `json:"channelId"`
	From        string         `json:"from"`
	Content     string         `json:"content"`
	Timestamp   string         `json:"timestamp"`
	Metadata    map[string]any `json:"metadata"` // numbers are json.Number
}

// ResponsesPage is one answer of GET /responses/:channelId (§7.4).
type ResponsesPage struct {
	Responses []Response `json:"responses"`
	Since     string     `json:"since"`   // the cursor to send next time
	HasMore   bool       `json:"hasMore"` // more responses were waiting beyond limit
}

// Responses reads GET /responses/:channelId (public, no auth).
// It pages like Messages: pass back the returned Since to read every response exactly once.
// Only webhook channels have readable responses; other ids answer 404. A nil hc uses a
// default client with DefaultTimeout.
func Responses(ctx context.Context, hc *http.Client, baseURL, channelID, since string, limit int) (*ResponsesPage, error) {
	if channelID == "" {
		return nil, errors.New("client: responses: empty channel id")
	}
	q, err := pageQuery(since, limit)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(baseURL, "/") + "/responses/" + url.PathEscape(channelID) + q
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("client: responses: %w", err)
	}
	var page ResponsesPage
	if err := do(httpClient(hc), req, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

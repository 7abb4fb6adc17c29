package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Channel is a channel as the relay returns it (§3.1, metadata filtered as in §3.2).
type Channel struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Direction string         `json:"direction"`
	AgentID   string         `json:"agentId"`
	Enabled   bool           `json:"enabled"`
	Metadata  map[string]any `json:"metadata"`
	Name      string         `json:"name,omitempty"`
	Prompt    string         `json:"prompt,omitempty"`
}

// NewChannel is the body of POST /channels (§3.4). Zero fields are left to the relay's
// defaults: type webhook, a generated id and webhookSecret, enabled.
type NewChannel struct {
	ID        string         `json:"id,omitempty"`
	Type      string         `json:"type,omitempty"`
	Direction string         `json:"direction,omitempty"`
	AgentID   string         `json:"agentId,omitempty"`
	Name      string         `json:"name,omitempty"`
	Prompt    string         `json:"prompt,omitempty"`
	Enabled   *bool          `json:"enabled,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// ChannelUpdate is a PATCH /channels/:channelId (§3.5). Only set fields are sent: a nil
// pointer or nil slice leaves the field alone. An empty non-nil slice sends [], which on a
// Telegram or Discord channel locks it (allowedUsers) and on an email channel opens it to
// every sender (allowedSenders). A pointer to "" clears Name, Prompt or AgentID.
type ChannelUpdate struct {
	Name           *string
	Prompt         *string
	AgentID        *string
	Enabled        *bool
	AllowedUsers   []string
	AllowedSenders []string
}

// channelPatch is the wire form of ChannelUpdate. The lists are pointers so that an
// empty list is sent as [] while an unset one is omitted.
type channelPatch struct {
	Name     *string        `json:"name,omitempty"`
	Prompt   *string        `json:"prompt,omitempty"`
	AgentID  *string        `json:"agentId,omitempty"`
	Enabled  *bool          `json:"enabled,omitempty"`
	Metadata *patchMetadata `json:"metadata,omitempty"`
}

type patchMetadata struct {
	AllowedUsers   *[]string `json:"allowedUsers,omitempty"`
	AllowedSenders *[]string `json:"allowedSenders,omitempty"`
}

func (u ChannelUpdate) patch() channelPatch {
	p := channelPatch{Name: u.Name, Prompt: u.Prompt, AgentID: u.AgentID, Enabled: u.Enabled}
	if u.AllowedUsers != nil || u.AllowedSenders != nil {
		p.Metadata = &patchMetadata{}
		if u.AllowedUsers != nil {
			p.Metadata.AllowedUsers = &u.AllowedUsers
		}
		if u.AllowedSenders != nil {
			p.Metadata.AllowedSenders = &u.AllowedSenders
		}
	}
	return p
}

// Channels lists the session's channels in creation order (GET /channels).
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	var out struct {
		Channels []Channel `json:"channels"`
	}
	if err := c.call(ctx, http.MethodGet, "/channels", nil, &out); err != nil {
		return nil, err
	}
	return out.Channels, nil
}

// CreateChannel creates a channel (POST /channels). webhookURL is set for webhook channels only:
// it is the URL external systems POST to, token included, so treat it as a secret.
func (c *Client) CreateChannel(ctx context.Context, nc NewChannel) (ch Channel, webhookURL string, err error) {
	var out struct {
		Channel    Channel `json:"channel"`
		WebhookURL string  `json:"webhookUrl"`
	}
	if err := c.call(ctx, http.MethodPost, "/channels", nc, &out); err != nil {
		return Channel{}, "", err
	}
	return out.Channel, out.WebhookURL, nil
}

// UpdateChannel changes the set fields of channel id (PATCH /channels/:channelId) and returns
// the channel as GET /channels shows it.
func (c *Client) UpdateChannel(ctx context.Context, id string, u ChannelUpdate) (Channel, error) {
	if id == "" {
		return Channel{}, errors.New("client: update channel: empty id")
	}
	var out struct {
		Channel Channel `json:"channel"`
	}
	if err := c.call(ctx, http.MethodPatch, channelPath(id), u.patch(), &out); err != nil {
		return Channel{}, err
	}
	return out.Channel, nil
}

// DeleteChannel deletes channel id (DELETE /channels/:channelId). The id stays taken for a
// while after (§3.6).
func (c *Client) DeleteChannel(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("client: delete channel: empty id")
	}
	return c.call(ctx, http.MethodDelete, channelPath(id), nil, nil)
}

func channelPath(id string) string {
	return "/channels/" + url.PathEscape(id)
}

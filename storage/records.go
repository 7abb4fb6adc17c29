package storage

import (
	"encoding/json"
	"time"
)

// Channel types and directions (PROTOCOL §3.1).
const (
	TypeWebhook  = "webhook"
	TypeTelegram = "telegram"
	TypeDiscord  = "discord"
	TypeEmail    = "email"
	TypeSlack    = "slack"

	DirectionInbound       = "inbound"
	DirectionBidirectional = "bidirectional"
)

// Delivery statuses (PROTOCOL §7.5).
const (
	StatusStored  = "stored"
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// PublicKey is a session's P-256 public key as its JWK coordinates
// (unpadded base64url of 32 bytes each).
type PublicKey struct {
	X string `json:"x"`
	Y string `json:"y"`
}

// Fingerprint is the reclaim index key "<x>:<y>" (PROTOCOL §2.2).
func (k PublicKey) Fingerprint() string { return k.X + ":" + k.Y }

// User is a session created by /auth/register.
type User struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"createdAt"`
	PublicKey *PublicKey `json:"publicKey,omitempty"`
}

// Channel is a user's inbound/outbound endpoint. Metadata is a compact JSON
// object whose member order is kept; secrets are stored apart from it, sealed.
type Channel struct {
	ID        string          `json:"id"`
	UserID    string          `json:"userId"`
	Type      string          `json:"type"`
	Direction string          `json:"direction"`
	AgentID   string          `json:"agentId"`
	Enabled   bool            `json:"enabled"`
	Metadata  json.RawMessage `json:"metadata"`
	Name      string          `json:"name,omitempty"`
	Prompt    string          `json:"prompt,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	// Seq orders a user's channels by creation; assigned by CreateChannel.
	Seq uint64 `json:"seq"`
	// Platform holds non-secret platform ids (Discord application id, verify key, bot user id).
	Platform map[string]string `json:"platform,omitempty"`
	// Address is an email channel's inbound address, unique across channels.
	Address string `json:"address,omitempty"`
	// Retention is how long the channel's messages and responses are kept;
	// 0 is the relay's retention.
	Retention time.Duration `json:"retention,omitempty"`
}

// ChannelView is what AppendResponse's decide callback sees of a channel.
type ChannelView struct {
	Channel     Channel
	ReplyTarget string
	// Secrets lists the names of the channel's sealed secrets (not their values).
	Secrets []string
	// Accepted reports whether the channel accepted mail from addr within the
	// retention period.
	Accepted func(addr string) bool
}

// HasSecret reports whether the channel has the sealed secret name.
func (v ChannelView) HasSecret(name string) bool {
	for _, s := range v.Secrets {
		if s == name {
			return true
		}
	}
	return false
}

// Message is an inbound message stored for its owner (PROTOCOL §5.1).
type Message struct {
	ID          string
	UserID      string
	ChannelType string
	ChannelID   string
	From        string
	Content     string
	Timestamp   time.Time
	Metadata    json.RawMessage
}

// Response is an agent's reply through a channel (PROTOCOL §7.3).
type Response struct {
	ID          string
	UserID      string
	ChannelType string
	ChannelID   string
	From        string
	Content     string
	Timestamp   time.Time
	Metadata    json.RawMessage
}

// Delivery is a response's delivery record (PROTOCOL §7.5).
type Delivery struct {
	ResponseID    string    `json:"responseId"`
	UserID        string    `json:"userId"`
	ChannelID     string    `json:"channelId"`
	ChannelType   string    `json:"channelType"`
	Target        string    `json:"target,omitempty"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	PartsSent     int       `json:"partsSent"`
	PartsTotal    int       `json:"partsTotal"`
	LastError     string    `json:"lastError,omitempty"`
	NextAttemptAt time.Time `json:"nextAttemptAt"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	// History is this relay's addition: the newest attempts, oldest first
	// (Record; the outbox writes it).
	History []Attempt `json:"history,omitempty"`
}

// Package storage defines the relay's persistent records and the Store contract
// that every backend satisfies. Backends live in subpackages (storage/bolt); the
// contract suite that proves a backend correct lives in storage/storagetest.
//
// Every mutating method returns only after its change is committed durably
// (fsynced), so a caller may acknowledge the change as soon as the call returns.
package storage

import (
	"context"
	"errors"
	"iter"
	"time"
)

// Errors every backend returns (wrapped or not) so that callers can use errors.Is.
var (
	// ErrNotFound: the record does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a record with the same unique key exists (channel ids).
	ErrConflict = errors.New("storage: already exists")
	// ErrInboxFull: the owner's retained backlog is at its cap; nothing was stored.
	ErrInboxFull = errors.New("storage: inbox full")
	// ErrDuplicate: the message's dedupe key was seen before; nothing was stored.
	ErrDuplicate = errors.New("storage: duplicate")
	// ErrUnavailable: the commit failed; nothing of the write was acknowledged.
	ErrUnavailable = errors.New("storage: unavailable")
	// ErrAddressTaken: another channel holds the inbound email address.
	ErrAddressTaken = errors.New("storage: address taken")
	// ErrSecretMismatch: a one-time secret did not match (or was used).
	ErrSecretMismatch = errors.New("storage: secret mismatch")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("storage: closed")
)

// Store is the relay's persistence contract. Methods are safe for concurrent use.
//
// Callback arguments (UpdateChannel's fn, AppendResponse's decide) run inside the
// write transaction and may run more than once when a group commit is retried, so
// they must derive everything from their arguments and have no side effects.
type Store interface {
	// Secret returns the sealed store-wide secret name, creating it with create
	// on first use. The value is sealed at rest.
	Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)

	// RegisterUser creates u with its API-key index entry and, when u has a
	// public key, its fingerprint index entry, in one transaction. When the
	// fingerprint already belongs to a user, that user is returned unchanged with
	// created == false (reclaim).
	RegisterUser(ctx context.Context, u User, apiKeyHash []byte) (user User, created bool, err error)
	// UserByAPIKeyHash returns the user whose API-key hash is hash.
	UserByAPIKeyHash(ctx context.Context, hash []byte) (User, error)
	// User returns the user with id.
	User(ctx context.Context, id string) (User, error)

	// CreateChannel stores c (c.Seq is assigned) with its sealed secrets.
	// ErrConflict when the id is taken, including by a channel whose deletion
	// is still being purged.
	CreateChannel(ctx context.Context, c *Channel, secrets map[string][]byte) error
	// Channel returns the channel with id.
	Channel(ctx context.Context, id string) (Channel, error)
	// CurrentChannel is Channel with every change made before the call
	// through any instance of the store. Channel may be a moment behind a
	// change made through another instance (JetStream); this costs a read
	// of the stream's leader there, and nothing more than Channel on bbolt.
	CurrentChannel(ctx context.Context, id string) (Channel, error)
	// ChannelsOfType returns every live channel of a type (Discord gateway
	// sessions are restored from it at startup).
	ChannelsOfType(ctx context.Context, typ string) ([]Channel, error)
	// Channels returns the user's channels in creation order.
	Channels(ctx context.Context, userID string) ([]Channel, error)
	// UpdateChannel applies fn to the channel in one write transaction and
	// returns the result. An error from fn aborts the update and is returned.
	UpdateChannel(ctx context.Context, id string, fn func(*Channel) error) (Channel, error)
	// DeleteChannel removes the user's channel, its indexes, secrets and reply
	// target, and fails its pending deliveries. Its responses are purged later
	// (PurgeDeleted), after which the id can be reused.
	DeleteChannel(ctx context.Context, userID, id string) error
	// ChannelByAddress returns the channel whose inbound email address is addr.
	ChannelByAddress(ctx context.Context, addr string) (Channel, error)
	// ConsumeChannelSecret checks the channel's one-time secret name with
	// match, and when it matches deletes it and applies fn to the channel, in
	// one transaction. ErrSecretMismatch when it does not match or is gone.
	ConsumeChannelSecret(ctx context.Context, channelID, name string, match func([]byte) bool, fn func(*Channel) error) (Channel, error)
	// ReplyTarget returns where the channel's inbound traffic came from last
	// ("" when nothing did).
	ReplyTarget(ctx context.Context, channelID string) (string, error)
	// ChannelSecret opens the channel's sealed secret name.
	ChannelSecret(ctx context.Context, channelID, name string) ([]byte, error)

	// AppendMessage assigns m's id and timestamp (strictly increasing per user)
	// and stores it durably, or refuses with ErrInboxFull or ErrDuplicate.
	AppendMessage(ctx context.Context, m *Message, opts AppendOptions) error
	// MessagesAfter returns up to limit of the user's messages with a timestamp
	// strictly later than after, oldest first, read from one snapshot, and
	// whether more existed in that snapshot.
	MessagesAfter(ctx context.Context, userID string, after time.Time, limit int) ([]Message, bool, error)
	// Message returns the message with id, whoever owns it (the admin's
	// message timeline). Message ids are UUIDv7 whose time is the message's
	// timestamp (TimeOfID), so a backend can look in that millisecond only.
	// ErrNotFound when there is none, also for an id that is not a UUIDv7.
	Message(ctx context.Context, id string) (Message, error)

	// AppendResponse assigns r's id and timestamp (strictly increasing per
	// channel) and stores it with the delivery record returned by decide, in one
	// transaction. decide sees the channel as it is in that transaction;
	// ErrNotFound when the channel does not exist or is not r.UserID's.
	AppendResponse(ctx context.Context, r *Response, decide func(ChannelView) (Delivery, error)) (Delivery, error)
	// ResponsesAfter is MessagesAfter for a channel's responses.
	ResponsesAfter(ctx context.Context, channelID string, after time.Time, limit int) ([]Response, bool, error)
	// Delivery returns the delivery record of a response, with every change
	// made before the call through any instance of the store (an outbox that
	// takes a channel over from another node resumes from the parts it sent).
	Delivery(ctx context.Context, responseID string) (Delivery, error)
	// PendingHeads returns, for every channel with pending deliveries, the
	// oldest one with its response: the only one of the channel that may be
	// attempted (replies go out in order).
	PendingHeads(ctx context.Context) ([]PendingReply, error)
	// PendingHead is PendingHeads for one channel; ErrNotFound when the
	// channel has no pending delivery.
	PendingHead(ctx context.Context, channelID string) (PendingReply, error)
	// UpdateDelivery applies fn to a delivery record in one write transaction.
	// A record that leaves the pending status leaves the pending index.
	UpdateDelivery(ctx context.Context, responseID string, fn func(*Delivery) error) (Delivery, error)

	// Sweep deletes, at most batch keys per transaction, what retention lets
	// go at now: messages stored with AppendOptions.Retention once it has
	// passed, other messages older than now − retention, and each channel's
	// responses and dedupe keys older than now − its own retention
	// (Channel.Retention, else retention), keeping responses whose delivery
	// is pending. Every message it deletes moves its owner's horizon.
	Sweep(ctx context.Context, now time.Time, retention time.Duration, batch int) (SweepResult, error)
	// Horizon is the newest timestamp of a message of the user that the
	// store deleted (zero when none): a client whose cursor is older may
	// have missed messages (the gap signal).
	Horizon(ctx context.Context, userID string) (time.Time, error)
	// PurgeDeleted deletes the responses and state of deleted channels, at most
	// batch keys per transaction, and then releases their ids.
	PurgeDeleted(ctx context.Context, batch int) (int, error)

	// Admin sessions: SHA-256 of the cookie token → sealed creation time.
	PutAdminSession(ctx context.Context, tokenHash []byte, createdAt time.Time) error
	AdminSession(ctx context.Context, tokenHash []byte) (time.Time, error)
	DeleteAdminSession(ctx context.Context, tokenHash []byte) error
	// ExpireAdminSessions deletes admin sessions created before before.
	ExpireAdminSessions(ctx context.Context, before time.Time) (int, error)

	// CountUsers and UsersNewestFirst page the sessions for the admin.
	CountUsers(ctx context.Context) (int, error)
	UsersNewestFirst(ctx context.Context, offset, limit int) ([]User, error)
	// CountMessagesSince counts everyone's messages with a timestamp at or
	// after since (it walks their keys: the cost grows with the count).
	CountMessagesSince(ctx context.Context, since time.Time) (int, error)
	// RecentItems returns everyone's newest messages and responses together.
	RecentItems(ctx context.Context, limit int) ([]Item, error)
	// UserItems returns a user's messages and their channels' responses,
	// newest first, strictly older than before (zero: the newest).
	UserItems(ctx context.Context, userID string, before time.Time, limit int) ([]Item, error)
	// Deliveries returns delivery records newest first, after the cursor (a
	// response id; "" for the newest), of one status or of all ("").
	Deliveries(ctx context.Context, status, cursor string, limit int) ([]Delivery, error)
	// PendingCounts counts pending deliveries by channel type.
	PendingCounts(ctx context.Context) (map[string]int, error)
	// DeliveryCounts counts delivery records by status.
	DeliveryCounts(ctx context.Context) (map[string]int, error)
	// DeleteUser deletes a session and everything it owns in one
	// transaction, failing its pending deliveries; it returns the deleted
	// channels so that their platform resources can be released.
	DeleteUser(ctx context.Context, userID string) ([]Channel, error)
	// Buckets and Browse are the read-only store browser.
	Buckets(ctx context.Context) ([]BucketCount, error)
	Browse(ctx context.Context, path []string, limit int) ([]Entry, error)

	// Export calls fn with every record of the store, from one consistent
	// snapshot, in the portable form of `relay export` (export.go). It may
	// run while the relay serves.
	Export(ctx context.Context, fn func(Record) error) error
	// Import loads exported records into an empty store (ErrNotEmpty
	// otherwise: a store holds only the secrets it creates when it opens),
	// sealed under the same root key. Nothing else may write meanwhile.
	Import(ctx context.Context, records iter.Seq2[Record, error]) error

	// Health reports whether the store is open and whether the most recent
	// commit failed.
	Health() Health
	// Close waits for queued writes and closes the store.
	Close() error
}

// AppendOptions are the per-route rules applied inside AppendMessage's transaction.
type AppendOptions struct {
	// MaxBacklog caps the owner's retained messages (0 = no cap).
	MaxBacklog int
	// DedupeKey, when set, is remembered per channel; a repeat is refused with ErrDuplicate.
	DedupeKey string
	// ReplyTarget, when set, becomes the channel's reply target.
	ReplyTarget string
	// AcceptSender, when set, records that the channel accepted mail from this
	// address (replies may go to it within the retention period).
	AcceptSender string
	// Retention, when set, is how long this message is kept (its channel's
	// retention when it was stored); otherwise the relay's retention applies
	// at each sweep.
	Retention time.Duration
}

// Health is the store's state for /health and metrics.
type Health struct {
	Engine    string // "bolt" or "nats": /health's "storage"
	Open      bool
	Degraded  bool
	SizeBytes int64
}

// PendingReply is a pending delivery with the response it delivers.
type PendingReply struct {
	Delivery Delivery
	Response Response
	Channel  Channel
}

// SweepResult counts what a sweep removed.
type SweepResult struct {
	Messages  int
	Responses int
}

// Commit describes one group commit of a store, for its metrics.
type Commit struct {
	Duration time.Duration // including fsync
	Writes   int           // writes the group held
	Pages    int           // pages written to the file: what fsync waits for
	Err      error
}

package jetstream

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// userRecord is a user with what its deletion needs to find. Its public key
// is not in it: it is sealed in r.ukey, and the reclaim index holds only
// FingerprintHash.
type userRecord struct {
	storage.User
	APIKeyHash      []byte `json:"apiKeyHash"`
	FingerprintHash []byte `json:"fingerprintHash,omitempty"`
}

// userRef is an index record (API-key hash or fingerprint → user).
type userRef struct {
	UserID string `json:"userId"`
}

// channelRef is the address index record.
type channelRef struct {
	ChannelID string `json:"channelId"`
}

// channelRecord is a channel, or a deleted one whose responses are still
// being purged (its id stays taken until then). Seq is 0 in the record that
// creates the channel: the channel's Seq is that record's stream sequence
// (plus the floorChannel of an import), and every later version carries it.
// The stored metadata holds null in place of its secret members, sealed as
// channel secrets; the view keeps that form in public and the opened one
// in Metadata.
type channelRecord struct {
	storage.Channel
	Deleted bool            `json:"deleted,omitempty"`
	public  json.RawMessage // the metadata as stored
}

// floorRecord is a floor an import carried over (kindFloor).
type floorRecord struct {
	Value uint64 `json:"value"`
}

// targetRecord is a channel's reply target.
type targetRecord struct {
	ReplyTarget string `json:"replyTarget"`
}

// encodeKey is how a dedupe key or an accepted sender travels in a header
// (hdrKey): keys are whatever a platform sends, and header values cannot
// hold every byte.
func encodeKey(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// senderKey is the key that records an accepted sender, as storage/bolt
// names it: accepted senders and dedupe keys share a channel's keys.
func senderKey(addr string) string { return "sender:" + addr }

// toMillis clamps t to the timestamps' range: times before the epoch are 0.
func toMillis(t time.Time) uint64 {
	if ms := t.UnixMilli(); ms > 0 {
		return uint64(ms)
	}
	return 0
}

func fromMillis(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

func formatMillis(ms uint64) string { return strconv.FormatUint(ms, 10) }

package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage/seal"
)

// Buckets. Composite keys join an id and a big-endian number with a 0x00 byte,
// which no id contains, so a prefix scan of "<id>\x00" sees one stream only and
// byte order equals time (or sequence) order.
var (
	bMeta         = []byte("meta")           // schema_version, sealed store secrets
	bUsers        = []byte("users")          // userId → user
	bAPIKeys      = []byte("apikeys")        // SHA-256(apiKey) → userId
	bPubKeys      = []byte("pubkeys")        // fingerprint x:y → userId
	bChannels     = []byte("channels")       // channelId → channel (or tombstone)
	bUserChannels = []byte("user_channels")  // userId \0 seq → channelId
	bSecrets      = []byte("secrets")        // channelId \0 name → sealed value
	bMessages     = []byte("messages")       // userId \0 ms → message
	bUserState    = []byte("user_state")     // userId → last timestamp, retained count
	bResponses    = []byte("responses")      // channelId \0 ms → response
	bChanState    = []byte("channel_state")  // channelId → last response timestamp, reply target, dedupe
	bDeliveries   = []byte("deliveries")     // responseId → delivery
	bPending      = []byte("pending")        // channelId \0 ms → responseId, for pending deliveries
	bDeleted      = []byte("deleted")        // channelId → nil, channels whose responses are being purged
	bDedupe       = []byte("dedupe")         // channelId \0 key → ms first seen
	bUsersByTime  = []byte("users_by_time")  // ms \0 userId → nil, for newest-first paging
	bAdmin        = []byte("admin_sessions") // SHA-256(token) → sealed {createdAt}
	bAddresses    = []byte("addresses")      // inbound email address → channelId
)

var allBuckets = [][]byte{bMeta, bUsers, bAPIKeys, bPubKeys, bChannels, bUserChannels, bSecrets,
	bMessages, bUserState, bResponses, bChanState, bDeliveries, bPending, bDeleted, bDedupe, bUsersByTime, bAdmin, bAddresses}

// sealedBuckets hold only sealed values (plus the meta bucket's schema version).
var sealedBuckets = [][]byte{bMeta, bSecrets, bAdmin}

const schemaVersion = "1"

var keySchemaVersion = []byte("schema_version")

func migrate(tx *bbolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bMeta)
	switch v := meta.Get(keySchemaVersion); {
	case v == nil:
		return meta.Put(keySchemaVersion, []byte(schemaVersion))
	case string(v) != schemaVersion:
		return fmt.Errorf("unknown schema version %q", v)
	}
	return nil
}

// checkKeyIDs refuses a store holding values sealed under another root key.
func checkKeyIDs(tx *bbolt.Tx, id string) error {
	for _, name := range sealedBuckets {
		err := tx.Bucket(name).ForEach(func(k, v []byte) error {
			if !seal.IsSealed(v) {
				return nil
			}
			got, err := seal.KeyID(v)
			if err != nil {
				return fmt.Errorf("bolt: sealed value %s/%q: %w", name, k, err)
			}
			if got != id {
				return fmt.Errorf("bolt: %w: store sealed under root key %s, configured key is %s", seal.ErrWrongKey, got, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// streamFill is the fill of stream buckets' pages. Streams grow at the end
// of each id's key range, so a page that splits is never written again: fill
// it, rather than leave it at bbolt's default of half (about a third less
// file, and fewer splits per commit).
const streamFill = 0.9

// streamBucket returns a stream bucket of tx (keys streamKey) set up for
// appends.
func streamBucket(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	b := tx.Bucket(name)
	b.FillPercent = streamFill
	return b
}

// streamKey is "<id>\x00<big-endian ms>".
func streamKey(id string, ms uint64) []byte {
	k := make([]byte, len(id)+9)
	copy(k, id)
	binary.BigEndian.PutUint64(k[len(id)+1:], ms)
	return k
}

// streamPrefix is "<id>\x00".
func streamPrefix(id string) []byte {
	k := make([]byte, len(id)+1)
	copy(k, id)
	return k
}

// streamNumber returns the number at the end of a stream key.
func streamNumber(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

// toMillis clamps t to the key space: times before the epoch sort first.
func toMillis(t time.Time) uint64 {
	if ms := t.UnixMilli(); ms > 0 {
		return uint64(ms)
	}
	return 0
}

func fromMillis(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

// secretKey is "<channelId>\x00<name>".
func secretKey(channelID, name string) []byte {
	return append(streamPrefix(channelID), name...)
}

// hasPrefix reports whether k is in the stream of prefix.
func hasPrefix(k, prefix []byte) bool { return k != nil && bytes.HasPrefix(k, prefix) }

// sealAAD binds a sealed value to its bucket and key.
func sealAAD(bucket, key []byte) []byte { return seal.AAD(string(bucket), string(key)) }

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
	bMeta         = []byte("meta")           // schema_version, swept_through, sealed store secrets
	bUsers        = []byte("users")          // userId → user
	bAPIKeys      = []byte("apikeys")        // SHA-256(apiKey) → userId
	bPubKeys      = []byte("pubkeys")        // fingerprint x:y → userId
	bChannels     = []byte("channels")       // channelId → channel (or tombstone)
	bUserChannels = []byte("user_channels")  // userId \0 seq → channelId
	bSecrets      = []byte("secrets")        // channelId \0 name → sealed value
	bMessageLog   = []byte("message_log")    // ms \0 userId → message (index.go finds a user's)
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
	bMessageLog, bResponses, bChanState, bDeliveries, bPending, bDeleted, bDedupe, bUsersByTime, bAdmin, bAddresses}

// sealedBuckets hold only sealed values (plus the meta bucket's schema version).
var sealedBuckets = [][]byte{bMeta, bSecrets, bAdmin}

// schemaVersion is the layout of the store's keys. Version 1 kept messages
// per user ("messages": userId \0 ms); version 2 keeps them in one log in time
// order.
const schemaVersion = "2"

var (
	keySchemaVersion = []byte("schema_version")
	keySweptThrough  = []byte("swept_through") // the newest message timestamp the sweep deleted
)

func migrate(tx *bbolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bMeta)
	switch v := meta.Get(keySchemaVersion); {
	case v == nil: // a new store
	case string(v) == "1":
		if err := migrateMessageLog(tx); err != nil {
			return fmt.Errorf("schema 1 to 2: %w", err)
		}
	case string(v) != schemaVersion:
		return fmt.Errorf("unknown schema version %q", v)
	default:
		return nil
	}
	return meta.Put(keySchemaVersion, []byte(schemaVersion))
}

// Schema 1's per-user buckets: userId \0 ms → message, and userId → the
// user's newest timestamp and retained count (two big-endian uint64s).
var (
	bMessagesV1  = []byte("messages")
	bUserStateV1 = []byte("user_state")
)

// migrateMessageLog moves schema 1's per-user messages into the message log,
// values unchanged, in the transaction that opens the store. The newest
// timestamp of any user becomes the floor of new ones, as if swept.
func migrateMessageLog(tx *bbolt.Tx) error {
	if old := tx.Bucket(bMessagesV1); old != nil {
		log := streamBucket(tx, bMessageLog)
		err := old.ForEach(func(k, v []byte) error {
			if len(k) < 9 || k[len(k)-9] != 0 {
				return fmt.Errorf("message key %q is not userId\\0ms", k)
			}
			return log.Put(timeKey(streamNumber(k), string(k[:len(k)-9])), v)
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bMessagesV1); err != nil {
			return err
		}
	}
	if state := tx.Bucket(bUserStateV1); state != nil {
		var floor uint64
		_ = state.ForEach(func(_, v []byte) error {
			if len(v) == 16 {
				floor = max(floor, binary.BigEndian.Uint64(v))
			}
			return nil
		})
		if err := tx.Bucket(bMeta).Put(keySweptThrough, putUint64(floor)); err != nil {
			return err
		}
		return tx.DeleteBucket(bUserStateV1)
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

// streamFill is the fill of append-only buckets' pages. The message log grows
// at its end and a response stream at the end of its channel's key range, so
// a page that splits is never written again: fill it, rather than leave it at
// bbolt's default of half (about a third less file, and fewer splits per
// commit).
const streamFill = 0.9

// streamBucket returns an append-only bucket of tx (the message log, or a
// bucket of streamKey streams) set up for appends.
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

// timeKey is "<big-endian ms>\x00<id>": time order first.
func timeKey(ms uint64, id string) []byte {
	k := make([]byte, 9+len(id))
	binary.BigEndian.PutUint64(k, ms)
	copy(k[9:], id)
	return k
}

// getUint64 returns the big-endian number at b[key], or 0.
func getUint64(b *bbolt.Bucket, key []byte) uint64 {
	if v := b.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// splitTimeKey returns the number and the id of a timeKey.
func splitTimeKey(k []byte) (uint64, []byte) { return binary.BigEndian.Uint64(k), k[9:] }

// secretKey is "<channelId>\x00<name>".
func secretKey(channelID, name string) []byte {
	return append(streamPrefix(channelID), name...)
}

// hasPrefix reports whether k is in the stream of prefix.
func hasPrefix(k, prefix []byte) bool { return k != nil && bytes.HasPrefix(k, prefix) }

// sealAAD binds a sealed value to its bucket and key.
func sealAAD(bucket, key []byte) []byte { return seal.AAD(string(bucket), string(key)) }

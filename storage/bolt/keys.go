package bolt

import (
	"bytes"
	"crypto/rand"
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
	bUsers        = []byte("users")          // userId → user (without its public key)
	bUserKeys     = []byte("user_keys")      // userId → sealed public key
	bAPIKeys      = []byte("apikeys")        // SHA-256(apiKey) → userId
	bPubKeys      = []byte("pubkeys")        // HMAC(index key, fingerprint x:y) → userId
	bChannels     = []byte("channels")       // channelId → channel (or tombstone), secret metadata members null
	bUserChannels = []byte("user_channels")  // userId \0 seq → channelId
	bSecrets      = []byte("secrets")        // channelId \0 name → sealed value (meta:<member> for metadata)
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
	bExpiry       = []byte("expiry")         // expiry ms \0 log key → nil, for messages stored with a retention of their own
	bKeep         = []byte("keep")           // log key → nil: the same messages, which the log's sweep skips
	bHorizons     = []byte("horizons")       // userId → newest deleted ms (the gap signal)
)

var allBuckets = [][]byte{bMeta, bUsers, bUserKeys, bAPIKeys, bPubKeys, bChannels, bUserChannels, bSecrets,
	bMessageLog, bResponses, bChanState, bDeliveries, bPending, bDeleted, bDedupe, bUsersByTime, bAdmin, bAddresses,
	bExpiry, bKeep, bHorizons}

// sealedBuckets hold only sealed values (plus the meta bucket's schema version).
var sealedBuckets = [][]byte{bMeta, bUserKeys, bSecrets, bAdmin}

// schemaVersion is the layout of the store. Version 3 seals users' public
// keys and channels' secret metadata members, and indexes public keys by a
// keyed hash (version 2 kept them plain); Open converts a version 2 store.
const schemaVersion = "3"

var (
	keySchemaVersion = []byte("schema_version")
	keySweptThrough  = []byte("swept_through") // the newest message timestamp the sweep deleted
	keyIndexKey      = []byte("secret:index_key")
)

// prepare makes tx's store current under key: it creates the buckets of a new
// store, refuses one sealed under another root key, converts a version 2 store
// and returns the index key (created on first use).
func prepare(tx *bbolt.Tx, key *seal.RootKey) (indexKey []byte, err error) {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	meta := tx.Bucket(bMeta)
	version := string(meta.Get(keySchemaVersion))
	if version != "" && version != "2" && version != schemaVersion {
		return nil, fmt.Errorf("bolt: unknown schema version %q", version)
	}
	if err := checkKeyIDs(tx, key.ID()); err != nil {
		return nil, err
	}
	if indexKey, err = loadIndexKey(meta, key); err != nil {
		return nil, err
	}
	if version == "2" {
		if err := sealAtRest(tx, key, indexKey); err != nil {
			return nil, fmt.Errorf("bolt: convert schema 2 to 3: %w", err)
		}
	}
	if version != schemaVersion {
		return indexKey, meta.Put(keySchemaVersion, []byte(schemaVersion))
	}
	return indexKey, nil
}

// loadIndexKey opens the store's index key, creating it on first use.
func loadIndexKey(meta *bbolt.Bucket, key *seal.RootKey) ([]byte, error) {
	aad := sealAAD(bMeta, keyIndexKey)
	if v := meta.Get(keyIndexKey); v != nil {
		return seal.Open(key, aad, v)
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	v, err := seal.Seal(key, aad, fresh)
	if err != nil {
		return nil, err
	}
	return fresh, meta.Put(keyIndexKey, v)
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

package jetstream

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Subjects, relative to the prefix (doc.go has the layout). Record subjects
// start with "r.", which the records consumer follows; the message logs with
// "m.", which the index consumer follows.
const (
	nsRecords  = "r"
	nsMessages = "m"

	kindUser    = "user"  // r.user.<userId>: userRecord (without the public key)
	kindUserKey = "ukey"  // r.ukey.<userId>: the user's sealed public key
	kindAPIKey  = "key"   // r.key.<hex(SHA-256(apiKey))>: userRef
	kindPubKey  = "fp"    // r.fp.<hex(storage.FingerprintHash)>: userRef
	kindChannel = "ch"    // r.ch.<channelId>: channelRecord (live, or deleted and being purged)
	kindSecret  = "sec"   // r.sec.<channelId>.<tok(name)>: sealed
	kindAddress = "addr"  // r.addr.<tok(address)>: channelRef
	kindTarget  = "rt"    // r.rt.<channelId>: targetRecord
	kindOut     = "out"   // r.out.<channelId>: the channel's responses, in timestamp order, and markers
	kindDeliv   = "dlv"   // r.dlv.<responseId>: storage.Delivery
	kindAdmin   = "adm"   // r.adm.<hex(tokenHash)>: sealed
	kindMeta    = "meta"  // r.meta.<tok(name)>: sealed store secrets and the root key's check value
	kindFloor   = "floor" // r.floor.<name>: floorRecord, what an import carries over (floorClock, floorChannel)
	keycheckKey = "keycheck"

	floorClock   = "clock"   // no message of any user has a timestamp at or below it (storage.ClockRecord)
	floorChannel = "channel" // channels created after an import number their Seq from it
)

// Headers the store sets. Relay-Ts is on every message, key entry and
// response (the message consumer indexes by it), Relay-Op on markers,
// key entries and tombstones.
const (
	hdrTs      = "Relay-Ts"      // the item's timestamp, unix ms
	hdrChannel = "Relay-Ch"      // a message's or key entry's channel id
	hdrExp     = "Relay-Exp"     // a message stored with a retention of its own: when it expires, unix ms
	hdrKey     = "Relay-Key"     // a dedupe key or accepted sender ("sender:<address>") the entry carries, base64url; may repeat
	hdrOp      = "Relay-Op"      // what a marker does (below); absent on records and items
	hdrThrough = "Relay-Through" // removal markers: the newest timestamp the log ever removed (its horizon), unix ms
	hdrSeqs    = "Relay-Seqs"    // a message log's removal marker: the sequences it removes ("a-b,c")
	hdrTx      = "Relay-Tx"      // the write's nonce, to tell after a lost answer whether it landed

	opDelete = "del"   // a record's tombstone
	opTrim   = "trim"  // a message log: every message up to Relay-Through is removed (written by earlier versions)
	opDrop   = "drop"  // a log: every item is removed (rolled up)
	opRemove = "rm"    // a log: the entries at the sequences in Relay-Seqs (message log) or the body (response log) are removed
	opKey    = "key"   // a message log: an entry that only carries a key (an imported dedupe key)
	opUnkey  = "unkey" // a message log: the keys of the channel Relay-Ch are forgotten (it was deleted)
)

// subjects builds the subjects of one store.
type subjects struct {
	prefix string // "relay"
}

func (s subjects) msgLog(userID string) string { return s.prefix + ".m." + userID }
func (s subjects) rec(kind string, keys ...string) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString(".r.")
	b.WriteString(kind)
	for _, k := range keys {
		b.WriteByte('.')
		b.WriteString(k)
	}
	return b.String()
}

// split returns the namespace and the tokens after it of a subject of the
// store, or false.
func (s subjects) split(subject string) (string, []string, bool) {
	rest, ok := strings.CutPrefix(subject, s.prefix+".")
	if !ok {
		return "", nil, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 {
		return "", nil, false
	}
	return parts[0], parts[1:], true
}

// maxRawToken is the longest key written into a subject as it is. Longer
// keys (an email's Message-ID can be long) are replaced by their hash.
const maxRawToken = 96

// token makes a subject token of any string. Ids of the relay's own alphabet
// ([A-Za-z0-9_-], UUIDs and caller-chosen channel ids) stay as they are;
// anything else becomes "~" and its unpadded base64url, and anything long
// "~~" and the base64url of its SHA-256. '~' is outside the id alphabet, so
// the forms cannot collide.
func token(s string) string {
	if len(s) > maxRawToken {
		sum := sha256.Sum256([]byte(s))
		return "~~" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if s != "" && plainToken(s) {
		return s
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// untoken reverses token; a hashed token comes back as it is.
func untoken(t string) string {
	if strings.HasPrefix(t, "~~") || !strings.HasPrefix(t, "~") {
		return t
	}
	b, err := base64.RawURLEncoding.DecodeString(t[1:])
	if err != nil {
		return t
	}
	return string(b)
}

func plainToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hashToken is the token of a binary key (an API-key or admin-token hash).
func hashToken(b []byte) string { return hex.EncodeToString(b) }

// ValidPrefix reports whether p can name the stream and prefix its subjects
// (Options.Prefix).
func ValidPrefix(p string) bool { return p != "" && len(p) <= 32 && plainToken(p) }

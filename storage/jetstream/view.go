package jetstream

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// view is this instance's replica of the records (r.*), decoded: every
// record but the response bodies, which stay in JetStream (a pending
// response's body is kept while it is pending, for the delivery workers).
// The records consumer keeps it current, and this instance's writes update
// it as soon as JetStream acknowledged them.
//
// A record subject holds one message: every write rolls the subject up, and
// a deletion writes a tombstone. The view applies a message only when it is
// newer than what it holds for the subject, so messages may come from the
// consumer, from this instance's writes and from reads of JetStream in any
// order. The sequence it holds for each subject is what the next write of
// the subject expects.
type view struct {
	mu  sync.RWMutex
	key *seal.RootKey // opens sealed public keys and metadata members as they are applied
	// gen counts the changes of the view (written with mu held): a write
	// that read the view knows whether it read one state (Store.update).
	gen atomic.Uint64

	seqs  map[string]uint64 // record key ("ch.<id>") → sequence of the message applied last, tombstones included
	tombs []tomb            // tombstones, forgotten after the TTL they have in JetStream

	users     map[string]userRecord
	userKeys  map[string][]byte             // user id → sealed public key
	opened    map[string]*storage.PublicKey // user id → public key, opened
	apiKeys   map[string]string             // hex(hash) → user id
	pubKeys   map[string]string             // hex(fingerprint hash) → user id
	channels  map[string]*channelRecord     // with their metadata members opened
	userChans map[string]map[string]bool    // user id → ids of their live channels
	secrets   map[string]map[string][]byte
	addresses map[string]string // address → channel id
	targets   map[string]string // channel id → reply target
	outs      map[string]*itemLog
	delivs    map[string]storage.Delivery
	byChan    map[string]map[string]bool // channel id → ids of its delivery records
	pending   map[string][]pendingRef    // channel id → pending deliveries, oldest first
	admin     map[string][]byte          // hex(token hash) → sealed
	meta      map[string][]byte          // name → sealed
	floors    map[string]uint64          // kindFloor records

	// bodies holds the responses whose delivery is pending; lastResponse
	// is the response applied last, whose delivery record follows it in the
	// same atomic batch.
	bodies       map[string]storage.Response
	lastResponse storage.Response
}

// tomb is a tombstone the view applied.
type tomb struct {
	key string
	seq uint64
	at  time.Time
}

// pendingRef is a pending delivery in its channel's order.
type pendingRef struct {
	ts uint64 // the response's timestamp
	id string // the response's id
}

func newView(key *seal.RootKey) *view {
	return &view{
		key:  key,
		seqs: map[string]uint64{}, users: map[string]userRecord{}, userKeys: map[string][]byte{},
		opened: map[string]*storage.PublicKey{}, apiKeys: map[string]string{},
		pubKeys: map[string]string{}, channels: map[string]*channelRecord{}, userChans: map[string]map[string]bool{},
		secrets: map[string]map[string][]byte{}, addresses: map[string]string{}, targets: map[string]string{},
		outs: map[string]*itemLog{}, delivs: map[string]storage.Delivery{}, byChan: map[string]map[string]bool{}, pending: map[string][]pendingRef{},
		admin: map[string][]byte{}, meta: map[string][]byte{}, floors: map[string]uint64{}, bodies: map[string]storage.Response{},
	}
}

// recKey is a record's key in the view: its subject's tokens after "r.".
func recKey(kind string, keys ...string) string {
	return kind + "." + strings.Join(keys, ".")
}

// seqOf is the sequence a write of the record key must expect: that of the
// message the view applied last (0 when it has none).
func (v *view) seqOf(key string) uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.seqs[key]
}

// record is a message of a record subject, to apply.
type record struct {
	kind string
	keys []string // the subject's tokens after the kind
	seq  uint64
	prev uint64 // the sequence the write expected (logs), or anyPrev
	hdr  nats.Header
	data []byte
	at   time.Time // when JetStream stored it
}

// apply applies a record message. It reports false when the message is a
// log's and the view does not hold everything before it yet (see itemLog).
func (v *view) apply(r record) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.kind == kindOut {
		before := v.outs[recKeyOne(r.keys)].tailOrZero()
		ok := v.applyOut(r)
		if v.outs[recKeyOne(r.keys)].tailOrZero() != before {
			v.gen.Add(1)
		}
		return ok
	}
	key := recKey(r.kind, r.keys...)
	if r.seq <= v.seqs[key] {
		return true // applied already, or older than what the view holds
	}
	v.gen.Add(1)
	v.seqs[key] = r.seq
	if r.hdr.Get(hdrOp) == opDelete {
		v.remove(r.kind, r.keys)
		v.tombs = append(v.tombs, tomb{key: key, seq: r.seq, at: r.at})
		return true
	}
	v.set(r)
	return true
}

// set applies a record's value. Lock must be held.
func (v *view) set(r record) {
	one := func() string { return strings.Join(r.keys, ".") }
	switch r.kind {
	case kindUser:
		var u userRecord
		if json.Unmarshal(r.data, &u) == nil {
			v.users[one()] = u
		}
	case kindUserKey:
		id := one()
		v.userKeys[id] = r.data
		if pk, err := storage.OpenPublicKey(v.key, id, r.data); err == nil {
			v.opened[id] = pk
		}
	case kindAPIKey, kindPubKey:
		var ref userRef
		if json.Unmarshal(r.data, &ref) == nil {
			if r.kind == kindAPIKey {
				v.apiKeys[one()] = ref.UserID
			} else {
				v.pubKeys[one()] = ref.UserID
			}
		}
	case kindChannel:
		var c channelRecord
		if json.Unmarshal(r.data, &c) != nil {
			return
		}
		id := one()
		c.ID, c.public = id, c.Metadata
		if c.Seq == 0 {
			// The creating record: its sequence orders the user's channels,
			// after those an import brought.
			c.Seq = v.floors[floorChannel] + r.seq
		}
		v.openMembers(&c)
		v.unlinkChannel(id)
		v.channels[id] = &c
		if !c.Deleted {
			if v.userChans[c.UserID] == nil {
				v.userChans[c.UserID] = map[string]bool{}
			}
			v.userChans[c.UserID][id] = true
		}
	case kindSecret:
		if len(r.keys) == 2 {
			if v.secrets[r.keys[0]] == nil {
				v.secrets[r.keys[0]] = map[string][]byte{}
			}
			name := untoken(r.keys[1])
			v.secrets[r.keys[0]][name] = r.data
			v.secretChanged(r.keys[0], name)
		}
	case kindAddress:
		var ref channelRef
		if json.Unmarshal(r.data, &ref) == nil {
			v.addresses[untoken(one())] = ref.ChannelID
		}
	case kindTarget:
		var t targetRecord
		if json.Unmarshal(r.data, &t) == nil {
			v.targets[one()] = t.ReplyTarget
		}
	case kindDeliv:
		var d storage.Delivery
		if json.Unmarshal(r.data, &d) == nil {
			v.setDelivery(d)
		}
	case kindAdmin:
		v.admin[one()] = r.data
	case kindMeta:
		v.meta[untoken(one())] = r.data
	case kindFloor:
		var f floorRecord
		if json.Unmarshal(r.data, &f) == nil {
			v.floors[one()] = f.Value
		}
	}
}

// openMembers puts a channel's sealed metadata members into its metadata
// (a value that does not open stays null). Lock must be held.
func (v *view) openMembers(c *channelRecord) {
	c.Metadata = c.public
	if meta, err := storage.OpenMembers(v.key, c.ID, c.public, v.secrets[c.ID]); err == nil {
		c.Metadata = meta
	}
}

// secretChanged opens a channel's metadata again when one of its members
// changed. (A write puts a channel's members before its record, so a
// reader sees the record with the members it was written with.) Lock must
// be held.
func (v *view) secretChanged(channelID, name string) {
	if c := v.channels[channelID]; c != nil && strings.HasPrefix(name, storage.MemberSecretPrefix) {
		nc := *c
		v.openMembers(&nc)
		v.channels[channelID] = &nc
	}
}

// remove applies a tombstone. Lock must be held.
func (v *view) remove(kind string, keys []string) {
	one := strings.Join(keys, ".")
	switch kind {
	case kindUser:
		delete(v.users, one)
		delete(v.userChans, one)
	case kindUserKey:
		delete(v.userKeys, one)
		delete(v.opened, one)
	case kindAPIKey:
		delete(v.apiKeys, one)
	case kindPubKey:
		delete(v.pubKeys, one)
	case kindChannel:
		// Its response log stays: the write that deletes the channel for
		// good drops the log's items, and the marker it leaves is what the
		// next channel of that id expects.
		v.unlinkChannel(one)
		delete(v.channels, one)
	case kindSecret:
		if len(keys) == 2 {
			name := untoken(keys[1])
			delete(v.secrets[keys[0]], name)
			if len(v.secrets[keys[0]]) == 0 {
				delete(v.secrets, keys[0])
			}
			v.secretChanged(keys[0], name)
		}
	case kindAddress:
		delete(v.addresses, untoken(one))
	case kindTarget:
		delete(v.targets, one)
	case kindDeliv:
		if d, ok := v.delivs[one]; ok {
			v.unpend(d)
			delete(v.delivs, one)
			delete(v.byChan[d.ChannelID], one)
			if len(v.byChan[d.ChannelID]) == 0 {
				delete(v.byChan, d.ChannelID)
			}
		}
	case kindAdmin:
		delete(v.admin, one)
	case kindMeta:
		delete(v.meta, untoken(one))
	case kindFloor:
		delete(v.floors, one)
	}
}

// unlinkChannel takes a channel out of its user's list. Lock must be held.
func (v *view) unlinkChannel(id string) {
	if c := v.channels[id]; c != nil {
		delete(v.userChans[c.UserID], id)
		if len(v.userChans[c.UserID]) == 0 {
			delete(v.userChans, c.UserID)
		}
	}
}

// setDelivery stores d and keeps the pending index in step. Lock must be held.
func (v *view) setDelivery(d storage.Delivery) {
	if old, ok := v.delivs[d.ResponseID]; ok {
		v.unpend(old)
	}
	v.delivs[d.ResponseID] = d
	if v.byChan[d.ChannelID] == nil {
		v.byChan[d.ChannelID] = map[string]bool{}
	}
	v.byChan[d.ChannelID][d.ResponseID] = true
	if d.Status != storage.StatusPending {
		delete(v.bodies, d.ResponseID)
		return
	}
	ref := pendingRef{ts: toMillis(d.CreatedAt), id: d.ResponseID}
	list := v.pending[d.ChannelID]
	i, _ := slices.BinarySearchFunc(list, ref, comparePending)
	v.pending[d.ChannelID] = slices.Insert(list, i, ref)
	if v.lastResponse.ID == d.ResponseID {
		v.bodies[d.ResponseID] = v.lastResponse
	}
}

// unpend takes d out of the pending index. Lock must be held.
func (v *view) unpend(d storage.Delivery) {
	if d.Status != storage.StatusPending {
		return
	}
	list := v.pending[d.ChannelID]
	ref := pendingRef{ts: toMillis(d.CreatedAt), id: d.ResponseID}
	if i, found := slices.BinarySearchFunc(list, ref, comparePending); found {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(v.pending, d.ChannelID)
	} else {
		v.pending[d.ChannelID] = list
	}
}

func comparePending(a, b pendingRef) int {
	switch {
	case a.ts < b.ts:
		return -1
	case a.ts > b.ts:
		return 1
	}
	return strings.Compare(a.id, b.id)
}

// applyOut applies a message of a channel's response log. Lock must be held.
func (v *view) applyOut(r record) bool {
	if len(r.keys) != 1 {
		return true
	}
	id := r.keys[0]
	l := v.outs[id]
	if l == nil {
		l = &itemLog{}
		v.outs[id] = l
	}
	if !l.canApply(r.seq, r.prev) {
		return r.seq <= l.last
	}
	switch r.hdr.Get(hdrOp) {
	case "":
		ts := headerMillis(r.hdr, hdrTs)
		l.add(ts, r.seq, 0)
		var rec storage.StoredResponse
		if json.Unmarshal(r.data, &rec) == nil {
			v.lastResponse = responseOf(id, ts, rec)
		}
		return true
	case opRemove:
		var seqs []uint64
		_ = json.Unmarshal(r.data, &seqs)
		l.removeSeqs(seqs)
		l.newest = max(l.newest, headerMillis(r.hdr, hdrThrough)) // an import's floor of the channel's timestamps
	case opDrop:
		l.clear()
	}
	l.last = r.seq
	return true
}

// forgetTombs forgets the tombstones stored before before: JetStream has
// let them expire, so a write of their subject expects nothing there.
func (v *view) forgetTombs(before time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, t := range v.tombs {
		if t.at.After(before) {
			v.tombs[n] = t
			n++
			continue
		}
		if v.seqs[t.key] == t.seq {
			delete(v.seqs, t.key)
			v.gen.Add(1)
		}
	}
	clear(v.tombs[n:])
	v.tombs = v.tombs[:n]
}

func responseOf(channelID string, ts uint64, rec storage.StoredResponse) storage.Response {
	return storage.Response{ID: rec.ID, UserID: rec.UserID, ChannelType: rec.ChannelType, ChannelID: channelID,
		From: rec.From, Content: rec.Content, Timestamp: fromMillis(ts), Metadata: rec.Metadata}
}

// reset makes the view's record of (kind, keys) what the stream leader
// holds: r, or nothing. Unlike apply it may go back, since the leader has
// the truth (a tombstone the view holds may have expired there), unless
// the view applied something since seen, the sequence it held when the
// leader was asked: then its record is at least as new as the answer.
func (v *view) reset(kind string, keys []string, r *record, seen uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := recKey(kind, keys...)
	switch {
	case v.seqs[key] != seen:
	case r == nil:
		if _, held := v.seqs[key]; held {
			v.gen.Add(1)
		}
		v.remove(kind, keys)
		delete(v.seqs, key)
	case r.seq == v.seqs[key]:
	case r.hdr.Get(hdrOp) == opDelete:
		v.gen.Add(1)
		v.remove(kind, keys)
		v.seqs[key] = r.seq
		v.tombs = append(v.tombs, tomb{key: key, seq: r.seq, at: r.at})
	default:
		v.gen.Add(1)
		v.seqs[key] = r.seq
		v.set(*r)
	}
}

// generation counts the changes of the view so far.
func (v *view) generation() uint64 { return v.gen.Load() }

func recKeyOne(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	return ""
}

// metaValue returns the sealed store value name, or nil.
func (v *view) metaValue(name string) []byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.meta[name]
}

// sealedValues returns every sealed value the view holds, by a name for
// errors.
func (v *view) sealedValues() map[string][]byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string][]byte)
	for name, val := range v.meta {
		out["meta/"+name] = val
	}
	for id, names := range v.secrets {
		for name, val := range names {
			out["secrets/"+id+"/"+name] = val
		}
	}
	for h, val := range v.admin {
		out["admin_sessions/"+h] = val
	}
	for id, val := range v.userKeys {
		out["user_keys/"+id] = val
	}
	return out
}

// floor returns a floor an import carried over (0 when none did).
func (v *view) floor(name string) uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.floors[name]
}

// empty reports whether the view holds nothing but store secrets: no user,
// channel, response, delivery or admin session.
func (v *view) empty() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(v.users)+len(v.channels)+len(v.delivs)+len(v.admin) > 0 {
		return false
	}
	for _, l := range v.outs {
		if l.count() > 0 {
			return false
		}
	}
	return true
}

// resetAllButMeta forgets every record but the store secrets (an import
// rolled back: they were purged).
func (v *view) resetAllButMeta() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen.Add(1)
	fresh := newView(v.key)
	fresh.meta = v.meta
	for key, seq := range v.seqs {
		if strings.HasPrefix(key, kindMeta+".") {
			fresh.seqs[key] = seq
		}
	}
	for _, t := range v.tombs {
		if strings.HasPrefix(t.key, kindMeta+".") {
			fresh.tombs = append(fresh.tombs, t)
		}
	}
	v.seqs, v.tombs = fresh.seqs, fresh.tombs
	v.users, v.userKeys, v.opened, v.apiKeys, v.pubKeys = fresh.users, fresh.userKeys, fresh.opened, fresh.apiKeys, fresh.pubKeys
	v.channels, v.userChans, v.secrets, v.addresses, v.targets = fresh.channels, fresh.userChans, fresh.secrets, fresh.addresses, fresh.targets
	v.outs, v.delivs, v.byChan, v.pending, v.admin = fresh.outs, fresh.delivs, fresh.byChan, fresh.pending, fresh.admin
	v.floors, v.bodies, v.lastResponse = fresh.floors, fresh.bodies, storage.Response{}
}

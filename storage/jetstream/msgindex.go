package jetstream

import (
	"hash/maphash"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// msgIndex is this instance's index of every user's message log (m.*),
// built from the headers of the log's messages: 16 bytes per retained
// message (24 while the log holds messages stored with a retention of their
// own), and about 45 more per dedupe key or accepted sender. The consumer
// of the message logs keeps it current, and this instance's appends update
// it as soon as they are acknowledged (itemLog says when they may).
type msgIndex struct {
	mu    sync.RWMutex
	seed  maphash.Seed // hashes the keys entries carry
	users map[string]*userLog
}

// userLog indexes one user's log: its messages, the keys its entries carry
// (dedupe keys and accepted senders, of the user's channels), and its
// horizon.
type userLog struct {
	itemLog
	// horizon is the newest timestamp of a message the log removed (the
	// gap signal); every removal marker carries it.
	horizon uint64
	// keys maps the hash of a channel's key (keyHash) to the sequence of
	// the newest entry that carries it; carriers lists the keys' entries in
	// sequence order, so that a removal finds the keys it takes.
	keys     map[uint64]uint64
	carriers []carrier
	// unkeyed holds, per deleted channel, the sequence of the marker that
	// forgot its keys: keys carried before it are not the channel's any
	// more (they go with their entries).
	unkeyed map[string]uint64
	// only lists the key entries (opKey: an imported key without its
	// message), in sequence order; they go with their channel's retention.
	only []keyEntry
}

// carrier is an entry that carries a key.
type carrier struct{ seq, hash uint64 }

// keyEntry is a key entry of a log.
type keyEntry struct {
	seq, ts uint64
	channel string
}

func newMsgIndex() *msgIndex {
	return &msgIndex{seed: maphash.MakeSeed(), users: make(map[string]*userLog)}
}

// keyHash is the index's hash of a channel's key as a header carries it
// (encodeKey).
func (x *msgIndex) keyHash(channel, encoded string) uint64 {
	var h maphash.Hash
	h.SetSeed(x.seed)
	h.WriteString(channel)
	h.WriteByte(0)
	h.WriteString(encoded)
	return h.Sum64()
}

// apply applies the message at seq of user's log, published expecting prev
// (anyPrev from the consumer). It reports whether the log took it, and
// whether a new message became readable.
func (x *msgIndex) apply(user string, seq, prev uint64, hdr nats.Header) (applied, added bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	l := x.users[user]
	if l == nil {
		l = &userLog{}
		x.users[user] = l
	}
	if !l.canApply(seq, prev) {
		return seq <= l.last, false
	}
	through := headerMillis(hdr, hdrThrough)
	switch hdr.Get(hdrOp) {
	case "":
		ts, err := strconv.ParseUint(hdr.Get(hdrTs), 10, 64)
		if err != nil {
			break // not a message of ours: step over it
		}
		l.add(ts, seq, headerMillis(hdr, hdrExp))
		x.addKeys(l, hdr, seq)
		return true, true
	case opKey:
		l.only = append(l.only, keyEntry{seq: seq, ts: headerMillis(hdr, hdrTs), channel: hdr.Get(hdrChannel)})
		x.addKeys(l, hdr, seq)
	case opRemove:
		l.remove(parseRanges(hdr.Get(hdrSeqs)))
		l.horizon, l.newest = max(l.horizon, through), max(l.newest, through)
	case opTrim:
		l.trim(through)
		l.horizon = max(l.horizon, through)
	case opDrop:
		l.clear()
		l.newest = max(l.newest, through)
		l.horizon, l.keys, l.carriers, l.unkeyed, l.only = 0, nil, nil, nil, nil
	case opUnkey:
		ch := hdr.Get(hdrChannel)
		if l.unkeyed == nil {
			l.unkeyed = map[string]uint64{}
		}
		l.unkeyed[ch] = seq
	}
	l.last = seq
	return true, false
}

// addKeys records the keys an entry carries. Lock must be held.
func (x *msgIndex) addKeys(l *userLog, hdr nats.Header, seq uint64) {
	values := hdr.Values(hdrKey)
	if len(values) == 0 {
		return
	}
	if l.keys == nil {
		l.keys = map[uint64]uint64{}
	}
	ch := hdr.Get(hdrChannel)
	for _, v := range values {
		h := x.keyHash(ch, v)
		l.keys[h] = seq // entries come in sequence order: this one is the newest
		l.carriers = append(l.carriers, carrier{seq: seq, hash: h})
	}
}

// hasKey reports whether a channel of the log has a key (by keyHash).
func (l *userLog) hasKey(channel string, h uint64) bool {
	seq, ok := l.keys[h]
	return ok && seq > l.unkeyed[channel]
}

// remove removes the entries at the sequences of gone, and the keys they
// carried (unless a newer entry carries them too).
func (l *userLog) remove(gone seqRanges) {
	if len(gone) == 0 {
		return
	}
	l.itemLog.remove(gone)
	l.only = slices.DeleteFunc(l.only, func(e keyEntry) bool { return gone.has(e.seq) })
	lo, _ := slices.BinarySearchFunc(l.carriers, gone[0][0], cmpCarrier)
	hi, _ := slices.BinarySearchFunc(l.carriers, gone[len(gone)-1][1]+1, cmpCarrier)
	n := lo
	for i := lo; i < hi; i++ {
		c := l.carriers[i]
		if !gone.has(c.seq) {
			l.carriers[n] = c
			n++
			continue
		}
		if l.keys[c.hash] == c.seq {
			delete(l.keys, c.hash)
		}
	}
	if n == 0 {
		l.carriers = l.carriers[hi:]
		if len(l.carriers) < cap(l.carriers)/4 {
			l.carriers = slices.Clone(l.carriers)
		}
	} else {
		l.carriers = append(l.carriers[:n], l.carriers[hi:]...)
	}
}

func cmpCarrier(c carrier, seq uint64) int { return cmpUint(c.seq, seq) }

// headerMillis reads a header holding unix ms, or 0.
func headerMillis(hdr nats.Header, key string) uint64 {
	v, _ := strconv.ParseUint(hdr.Get(key), 10, 64)
	return v
}

// appendState is what an append of user's needs: the log's bounds and
// retained count, and whether the channel's key (encoded; "" for none) is
// taken.
func (x *msgIndex) appendState(user, channel, key string) (lastSeq, newest uint64, count int, dup bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l := x.users[user]
	if l == nil {
		return 0, 0, 0, false
	}
	if key != "" {
		dup = l.hasKey(channel, x.keyHash(channel, key))
	}
	return l.last, l.newest, len(l.ts), dup
}

// hasKey reports whether a channel of user's has the key (encoded).
func (x *msgIndex) hasKey(user, channel, key string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l := x.users[user]
	return l != nil && l.hasKey(channel, x.keyHash(channel, key))
}

// tail returns user's log bounds and retained count.
func (x *msgIndex) tail(user string) (lastSeq, newest uint64, count int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l := x.users[user]
	if l == nil {
		return 0, 0, 0
	}
	return l.last, l.newest, len(l.ts)
}

// horizon returns the newest timestamp of user's removed messages (0: none).
func (x *msgIndex) horizon(user string) uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if l := x.users[user]; l != nil {
		return l.horizon
	}
	return 0
}

// after returns up to n of user's messages with a timestamp ≥ from.
func (x *msgIndex) after(user string, from uint64, n int) []entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if l := x.users[user]; l != nil {
		return l.after(from, n)
	}
	return nil
}

// at returns, by user, the message stamped at the millisecond ms: a user
// has at most one (timestamps are strictly increasing per user).
func (x *msgIndex) at(ms uint64) map[string][]entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string][]entry{}
	for user, l := range x.users {
		if es := l.after(ms, 1); len(es) == 1 && es[0].ts == ms {
			out[user] = es
		}
	}
	return out
}

// before returns up to n of user's newest messages older than end.
func (x *msgIndex) before(user string, end uint64, n int) []entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if l := x.users[user]; l != nil {
		return l.before(end, n)
	}
	return nil
}

// countSince counts everyone's messages with a timestamp ≥ from.
func (x *msgIndex) countSince(from uint64) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, l := range x.users {
		n += l.countSince(from)
	}
	return n
}

// total counts everyone's retained messages.
func (x *msgIndex) total() int { return x.countSince(0) }

// empty reports whether no log holds a message or a key entry.
func (x *msgIndex) empty() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, l := range x.users {
		if len(l.ts) > 0 || len(l.only) > 0 {
			return false
		}
	}
	return true
}

// reset forgets every log (an import rolled back: they were purged).
func (x *msgIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.users = make(map[string]*userLog)
}

// newest returns up to n of the newest messages over all users, newest first.
func (x *msgIndex) newest(n int) []userEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []userEntry
	newestFirst := func(a, b userEntry) int { return cmpUint(b.ts, a.ts) }
	for user, l := range x.users {
		for _, e := range l.before(^uint64(0), n) {
			out = append(out, userEntry{user: user, entry: e})
		}
		if len(out) > 4*n { // keep the candidates few
			slices.SortFunc(out, newestFirst)
			out = out[:n]
		}
	}
	slices.SortFunc(out, newestFirst)
	return out[:min(n, len(out))]
}

// userEntry is a message of a user.
type userEntry struct {
	user string
	entry
}

// sweepRule is what a sweep at now removes from the logs: messages stored
// with a retention of their own once it has passed, the others older than
// cut, and key entries older than their channel's cutoff (cutoffs for the
// channels with a retention of their own, else cut). All in unix ms.
type sweepRule struct {
	now, cut uint64
	cutoffs  map[string]uint64
}

func (r sweepRule) messageGone(ts, exp uint64) bool {
	if exp != 0 {
		return exp <= r.now
	}
	return ts < r.cut
}

func (r sweepRule) keyGone(e keyEntry) bool {
	if c, ok := r.cutoffs[e.channel]; ok {
		return e.ts < c
	}
	return e.ts < r.cut
}

// sweepable returns the users whose logs hold something r removes.
func (x *msgIndex) sweepable(r sweepRule) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	for user, l := range x.users {
		if l.sweepable(r) {
			out = append(out, user)
		}
	}
	slices.Sort(out)
	return out
}

func (l *userLog) sweepable(r sweepRule) bool {
	for i := range l.ts {
		if r.messageGone(l.ts[i], l.expiry(i)) {
			return true
		}
		if l.exp == nil {
			break // in timestamp order: if the first stays, all do
		}
	}
	return slices.ContainsFunc(l.only, r.keyGone)
}

// removal is what one write of a sweep removes from a user's log.
type removal struct {
	seqs     []uint64 // the entries it removes, ascending
	messages int      // how many of them are messages
	horizon  uint64   // the log's horizon after it
	keepFrom uint64   // the lowest sequence of an entry the log keeps (0: none)
	last     uint64   // the log's last sequence when the sweep looked
}

// plan says what sweeping user's log at r removes, at most n entries, the
// oldest first (those a scan from the head meets first).
func (x *msgIndex) plan(user string, r sweepRule, n int) (removal, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l := x.users[user]
	if l == nil {
		return removal{}, false
	}
	type gone struct {
		seq, ts uint64
		message bool
	}
	var all []gone
	for i := 0; i < len(l.ts) && len(all) < n; i++ {
		if r.messageGone(l.ts[i], l.expiry(i)) {
			all = append(all, gone{seq: l.seq[i], ts: l.ts[i], message: true})
		} else if l.exp == nil {
			break // in timestamp order: if this one stays, the later ones do
		}
	}
	for i := 0; i < len(l.only) && i < n; i++ {
		if e := l.only[i]; r.keyGone(e) {
			all = append(all, gone{seq: e.seq, ts: e.ts})
		}
	}
	if len(all) == 0 {
		return removal{}, false
	}
	slices.SortFunc(all, func(a, b gone) int { return cmpUint(a.seq, b.seq) })
	all = all[:min(n, len(all))]
	rm := removal{horizon: l.horizon, last: l.last, seqs: make([]uint64, len(all))}
	for i, g := range all {
		rm.seqs[i] = g.seq
		if g.message {
			rm.messages++
			rm.horizon = max(rm.horizon, g.ts)
		}
	}
	removed := rangesOf(rm.seqs)
	rm.keepFrom = l.firstKept(removed)
	for _, e := range l.only {
		if !removed.has(e.seq) {
			if rm.keepFrom == 0 || e.seq < rm.keepFrom {
				rm.keepFrom = e.seq
			}
			break // in sequence order
		}
	}
	return rm, true
}

// logCopy is a copy of what an export needs of a user's log.
type logCopy struct {
	user    string
	seqs    []uint64 // the sequences of its messages and key entries, ascending
	horizon uint64
	keys    map[uint64]uint64 // keyHash → the sequence of the entry that carries it
	unkeyed map[string]uint64 // deleted channel → the sequence below which its keys are forgotten
}

// copies copies every log that holds entries or has a horizon.
func (x *msgIndex) copies() []logCopy {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]logCopy, 0, len(x.users))
	for user, l := range x.users {
		if len(l.ts) == 0 && len(l.only) == 0 && l.horizon == 0 {
			continue
		}
		c := logCopy{user: user, horizon: l.horizon, seqs: slices.Clone(l.seq), keys: maps.Clone(l.keys), unkeyed: maps.Clone(l.unkeyed)}
		for _, e := range l.only {
			c.seqs = append(c.seqs, e.seq)
		}
		slices.Sort(c.seqs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b logCopy) int { return strings.Compare(a.user, b.user) })
	return out
}

// seqRanges are ascending, disjoint ranges of sequences, as a removal
// marker lists them ("3-7,9").
type seqRanges [][2]uint64

// rangesOf returns the ranges of ascending sequences.
func rangesOf(seqs []uint64) seqRanges {
	var out seqRanges
	for _, s := range seqs {
		if n := len(out); n > 0 && out[n-1][1]+1 == s {
			out[n-1][1] = s
			continue
		}
		out = append(out, [2]uint64{s, s})
	}
	return out
}

func (r seqRanges) String() string {
	var b []byte
	for i, p := range r {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, p[0], 10)
		if p[1] != p[0] {
			b = strconv.AppendUint(append(b, '-'), p[1], 10)
		}
	}
	return string(b)
}

// parseRanges reads what String wrote; what does not parse is left out.
func parseRanges(s string) seqRanges {
	var out seqRanges
	for len(s) > 0 {
		var part string
		part, s, _ = strings.Cut(s, ",")
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				continue
			}
		}
		out = append(out, [2]uint64{a, b})
	}
	return out
}

// has reports whether seq is in one of the ranges.
func (r seqRanges) has(seq uint64) bool {
	i, _ := slices.BinarySearchFunc(r, seq, func(p [2]uint64, s uint64) int {
		switch {
		case p[1] < s:
			return -1
		case p[0] > s:
			return 1
		}
		return 0
	})
	return i < len(r) && r[i][0] <= seq && seq <= r[i][1]
}

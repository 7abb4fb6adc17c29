package jetstream

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/chaos-relay/relay/storage"
)

// Export implements storage.Store. The snapshot is this instance's view and
// index, copied one right after the other: every record as its latest
// write left it, and every log as a prefix of its history (see doc.go);
// message and response bodies are then read from JetStream by sequence. Unlike a bbolt
// transaction this is not one cut across the whole stream: a change that
// another instance is writing at that moment may be in the copy of the
// records and not yet in that of the message logs (a user's deletion, an
// append with a new reply target), and a message that a sweep removes
// while the export reads is left out, with the horizon the copy had.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	records := s.view.exportCopy()
	logs := s.idx.copies()
	err := s.export(ctx, records, logs, fn)
	return wrap("export", err)
}

func (s *Store) export(ctx context.Context, c viewCopy, logs []logCopy, fn func(storage.Record) error) error {
	clock := c.clock
	for _, l := range logs {
		clock = max(clock, l.horizon)
	}
	var head []storage.Record
	for i := range c.secrets {
		head = append(head, storage.Record{Secret: &c.secrets[i]})
	}
	if clock > 0 {
		head = append(head, storage.Record{Clock: &storage.ClockRecord{Floor: fromMillis(clock)}})
	}
	for i := range c.users {
		head = append(head, storage.Record{User: &c.users[i]})
	}
	for i := range c.channels {
		head = append(head, storage.Record{Channel: &c.channels[i]})
	}
	for i := range c.channelSecrets {
		head = append(head, storage.Record{ChannelSecret: &c.channelSecrets[i]})
	}
	for i := range c.deliveries {
		head = append(head, storage.Record{Delivery: &c.deliveries[i]})
	}
	for i := range c.admin {
		head = append(head, storage.Record{AdminSession: &c.admin[i]})
	}
	for _, l := range logs {
		if l.horizon > 0 {
			head = append(head, storage.Record{Horizon: &storage.HorizonRecord{UserID: l.user, Horizon: fromMillis(l.horizon)}})
		}
	}
	for _, r := range head {
		if err := fn(r); err != nil {
			return err
		}
	}
	for _, l := range logs {
		if err := s.exportLog(ctx, l, fn); err != nil {
			return err
		}
	}
	for _, o := range c.outs {
		err := s.readLog(ctx, s.subj.rec(kindOut, o.channelID), o.seqs, func(m *jetstream.RawStreamMsg) error {
			if m.Header.Get(hdrOp) != "" {
				return nil
			}
			r, err := toResponse(o.channelID, item{entry: entry{ts: headerMillis(m.Header, hdrTs)}, data: m.Data})
			if err != nil {
				return fmt.Errorf("response %d: %w", m.Sequence, err)
			}
			return fn(storage.Record{Response: &storage.ResponseRecord{ID: r.ID, UserID: r.UserID, ChannelType: r.ChannelType,
				ChannelID: r.ChannelID, From: r.From, Content: r.Content, Timestamp: r.Timestamp, Metadata: r.Metadata}})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// exportLog exports a user's messages, and the dedupe keys and accepted
// senders their entries carry.
func (s *Store) exportLog(ctx context.Context, l logCopy, fn func(storage.Record) error) error {
	return s.readLog(ctx, s.subj.msgLog(l.user), l.seqs, func(m *jetstream.RawStreamMsg) error {
		ts := headerMillis(m.Header, hdrTs)
		channelID := m.Header.Get(hdrChannel)
		switch m.Header.Get(hdrOp) {
		case "":
			msg, err := toMessage(l.user, item{entry: entry{ts: ts}, data: m.Data})
			if err != nil {
				return fmt.Errorf("message %d: %w", m.Sequence, err)
			}
			rec := &storage.MessageRecord{ID: msg.ID, UserID: l.user, ChannelType: msg.ChannelType, ChannelID: msg.ChannelID,
				From: msg.From, Content: msg.Content, Timestamp: msg.Timestamp, Metadata: msg.Metadata}
			if exp := headerMillis(m.Header, hdrExp); exp > 0 {
				rec.ExpiresAt = fromMillis(exp)
			}
			if err := fn(storage.Record{Message: rec}); err != nil {
				return err
			}
		case opKey:
		default:
			return nil
		}
		for _, v := range m.Header.Values(hdrKey) {
			if seq := l.keys[s.idx.keyHash(channelID, v)]; seq != m.Sequence || seq <= l.unkeyed[channelID] {
				continue // a newer entry carries it, or its channel was deleted
			}
			key, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil {
				return fmt.Errorf("key of %d: %w", m.Sequence, err)
			}
			if err := fn(storage.Record{Dedupe: &storage.DedupeRecord{ChannelID: channelID, Key: string(key), Seen: fromMillis(ts)}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportBatch is how many messages one direct batch get of an export asks for.
const exportBatch = 256

// readLog calls fn with the messages of subject at seqs (ascending), with
// their headers, in order: direct batch gets along the subject, and the
// leader for what they lack (a replica behind). A message that no longer
// exists is left out.
func (s *Store) readLog(ctx context.Context, subject string, seqs []uint64, fn func(*jetstream.RawStreamMsg) error) error {
	i := 0
	fromLeader := func(upTo uint64) error { // the wanted sequences below upTo that the batch skipped
		for ; i < len(seqs) && seqs[i] < upTo; i++ {
			m, err := s.leaderGet(ctx, msgGetRequest{Seq: seqs[i]})
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if m.Subject == subject {
				if err := fn(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for i < len(seqs) {
		batch, err := jetstreamext.GetBatch(ctx, s.js, s.opts.Prefix, exportBatch,
			jetstreamext.GetBatchSeq(seqs[i]), jetstreamext.GetBatchSubject(subject))
		if err != nil {
			return readError(err)
		}
		n := 0
		for m, err := range batch {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return readError(err)
			}
			n++
			if err := fromLeader(m.Sequence); err != nil {
				return err
			}
			if i < len(seqs) && seqs[i] == m.Sequence {
				i++
				if err := fn(m); err != nil {
					return err
				}
			}
			if i == len(seqs) {
				break
			}
		}
		if n == 0 {
			break
		}
	}
	return fromLeader(^uint64(0))
}

// viewCopy is what an export takes of the view, in the export's form.
type viewCopy struct {
	secrets        []storage.SealedRecord
	users          []storage.UserRecord
	channels       []storage.ChannelRecord
	channelSecrets []storage.SealedRecord
	deliveries     []storage.Delivery
	admin          []storage.SealedRecord
	outs           []outCopy
	clock          uint64
}

// outCopy is a channel's response log as an export reads it.
type outCopy struct {
	channelID string
	seqs      []uint64 // its responses' sequences, ascending
}

// exportCopy copies the view for an export.
func (v *view) exportCopy() viewCopy {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var c viewCopy
	for name, val := range v.meta {
		if n, ok := strings.CutPrefix(name, "secret:"); ok {
			c.secrets = append(c.secrets, storage.SealedRecord{Name: n, Sealed: val})
		}
	}
	for id, u := range v.users {
		c.users = append(c.users, storage.UserRecord{ID: id, CreatedAt: u.CreatedAt, APIKeyHash: u.APIKeyHash,
			FingerprintHash: u.FingerprintHash, SealedKey: v.userKeys[id]})
	}
	for id, ch := range v.channels {
		rec := storage.ChannelRecord{Channel: ch.Channel, Deleted: ch.Deleted, ReplyTarget: v.targets[id]}
		rec.Channel.Metadata = ch.public
		if _, newest := v.outs[id].tail(); newest > 0 {
			rec.LastResponse = fromMillis(newest)
		}
		c.channels = append(c.channels, rec)
	}
	for id, names := range v.secrets {
		for name, val := range names {
			c.channelSecrets = append(c.channelSecrets, storage.SealedRecord{Owner: id, Name: name, Sealed: val})
		}
	}
	for _, d := range v.delivs {
		c.deliveries = append(c.deliveries, d)
	}
	for ht, val := range v.admin {
		c.admin = append(c.admin, storage.SealedRecord{Name: ht, Sealed: val})
	}
	for id, l := range v.outs {
		if l.count() > 0 {
			seqs := slices.Clone(l.seq)
			slices.Sort(seqs)
			c.outs = append(c.outs, outCopy{channelID: id, seqs: seqs})
		}
	}
	c.clock = v.floors[floorClock]
	return c
}

// Import implements storage.Store. It checks that the store is empty, then
// writes the records in atomic batches (the records, the response logs
// and the message logs as Export reads them; each dedupe key or accepted
// sender as a key entry in its channel's user's log), and last, in one
// batch, the store secrets and the floors (storage.ClockRecord, and the
// channels' Seq) that the next writes number from.
//
// When the records fail (a file cut short: storage.ErrCutShort) or a write
// fails, nothing of the import stays: what it wrote is purged, and this
// instance's view and index forget it. Only when that purge fails too (NATS
// is gone) does part of the import stay; the error says so, and the stream
// must then be deleted before an import is tried again. Other instances
// must not run meanwhile: their views would keep what the purge removed.
func (s *Store) Import(ctx context.Context, records iter.Seq2[storage.Record, error]) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if !s.view.empty() || !s.idx.empty() {
		return wrap("import", storage.ErrNotEmpty)
	}
	im := &importer{s: s, w: s.newWrite(), owners: map[string]string{}}
	err := im.run(ctx, records)
	if err == nil {
		return nil
	}
	if rerr := s.rollBack(im); rerr != nil {
		err = fmt.Errorf("%w; part of the import stays, delete the stream %s before importing again: %w", err, s.opts.Prefix, rerr)
	}
	return wrap("import", err)
}

// importBytes bounds the payload of one import write (a write holds at
// most maxWriteMsgs messages).
const importBytes = 4 << 20

// importer writes an import's records, batch by batch.
type importer struct {
	s    *Store
	w    *write
	size int
	// lastRecord and lastMessage are the highest sequences written to the
	// records and to the message logs, for a roll-back to wait for.
	lastRecord, lastMessage uint64

	owners  map[string]string // channel id → its user's id
	keys    []storage.DedupeRecord
	secrets []storage.SealedRecord
	clock   uint64 // the floor of timestamps (ms)
	chanSeq uint64 // the highest channel Seq
}

func (im *importer) run(ctx context.Context, records iter.Seq2[storage.Record, error]) error {
	for rec, err := range records {
		if err == nil {
			err = im.record(rec)
		}
		if err == nil && (len(im.w.msgs) >= maxWriteMsgs-8 || im.size >= importBytes) {
			err = im.flush(ctx)
		}
		if err != nil {
			return err
		}
	}
	for _, k := range im.keys { // the keys of channels that came after them
		if err := im.key(k, true); err != nil {
			return err
		}
		if len(im.w.msgs) >= maxWriteMsgs-8 {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := im.flush(ctx); err != nil {
		return err
	}
	s := im.s
	for _, sec := range im.secrets {
		im.w.putBlind(s.subj.rec(kindMeta, token("secret:"+sec.Name)), sec.Sealed, 0)
	}
	for name, value := range map[string]uint64{floorClock: im.clock, floorChannel: im.chanSeq} {
		if value > 0 {
			raw, _ := json.Marshal(floorRecord{Value: value})
			im.w.putBlind(s.subj.rec(kindFloor, name), raw, 0)
		}
	}
	if len(im.w.msgs) > maxWriteMsgs {
		return fmt.Errorf("%d store secrets: more than one write holds", len(im.secrets))
	}
	return im.flush(ctx)
}

// add adds a message to the current write.
func (im *importer) add(subject string, data []byte, hdrs ...string) {
	im.w.add(subject, data, hdrs...)
	im.size += len(subject) + len(data)
}

// put adds a record (a subject of one message).
func (im *importer) put(kind string, key string, data []byte) {
	im.add(im.s.subj.rec(kind, key), data, "Nats-Rollup", "sub")
}

func (im *importer) flush(ctx context.Context) error {
	w := im.w
	if len(w.msgs) == 0 {
		return nil
	}
	if err := im.s.commit(ctx, w); err != nil {
		return err
	}
	for i, m := range w.msgs {
		if ns, _, _ := im.s.subj.split(m.Subject); ns == nsMessages {
			im.lastMessage = w.first + uint64(i)
		} else {
			im.lastRecord = w.first + uint64(i)
		}
	}
	im.w, im.size = im.s.newWrite(), 0
	return nil
}

// record adds one record to the import.
func (im *importer) record(rec storage.Record) error {
	s := im.s
	switch {
	case rec.Secret != nil:
		if err := storage.CheckSealedBy(s.key, "secret "+rec.Secret.Name, rec.Secret.Sealed); err != nil {
			return err
		}
		im.secrets = append(im.secrets, *rec.Secret)
	case rec.Clock != nil:
		im.clock = max(im.clock, toMillis(rec.Clock.Floor))
	case rec.User != nil:
		return im.user(rec.User)
	case rec.Channel != nil:
		return im.channel(rec.Channel)
	case rec.ChannelSecret != nil:
		cs := rec.ChannelSecret
		if err := storage.CheckSealedBy(s.key, "channel secret "+cs.Name, cs.Sealed); err != nil {
			return err
		}
		im.add(s.subj.rec(kindSecret, cs.Owner, token(cs.Name)), cs.Sealed, "Nats-Rollup", "sub")
	case rec.Message != nil:
		m := rec.Message
		ms := toMillis(m.Timestamp)
		hdrs := []string{hdrTs, formatMillis(ms), hdrChannel, m.ChannelID}
		if !m.ExpiresAt.IsZero() {
			hdrs = append(hdrs, hdrExp, formatMillis(toMillis(m.ExpiresAt)))
		}
		im.add(s.subj.msgLog(m.UserID), storage.EncodeMessage(storage.StoredMessage{ID: m.ID, ChannelType: m.ChannelType, ChannelID: m.ChannelID,
			From: m.From, Content: m.Content, Metadata: m.Metadata}), hdrs...)
	case rec.Response != nil:
		r := rec.Response
		body, err := storage.EncodeJSON(storage.StoredResponse{ID: r.ID, UserID: r.UserID, ChannelType: r.ChannelType, From: r.From, Content: r.Content, Metadata: r.Metadata})
		if err != nil {
			return err
		}
		im.add(s.subj.rec(kindOut, r.ChannelID), body, hdrTs, formatMillis(toMillis(r.Timestamp)))
	case rec.Delivery != nil:
		raw, err := json.Marshal(rec.Delivery)
		if err != nil {
			return err
		}
		im.put(kindDeliv, rec.Delivery.ResponseID, raw)
	case rec.Dedupe != nil:
		return im.key(*rec.Dedupe, false)
	case rec.AdminSession != nil:
		a := rec.AdminSession
		if _, err := hex.DecodeString(a.Name); err != nil {
			return fmt.Errorf("admin session %q: %w", a.Name, err)
		}
		if err := storage.CheckSealedBy(s.key, "admin session", a.Sealed); err != nil {
			return err
		}
		im.put(kindAdmin, strings.ToLower(a.Name), a.Sealed)
	case rec.Horizon != nil:
		// A removal marker that removes nothing carries the horizon.
		im.add(s.subj.msgLog(rec.Horizon.UserID), nil, hdrOp, opRemove, hdrThrough, formatMillis(toMillis(rec.Horizon.Horizon)))
	case rec.Meta != nil:
		// Nothing this version knows.
	default:
		return errors.New("a record of no known kind")
	}
	return nil
}

func (im *importer) user(u *storage.UserRecord) error {
	s := im.s
	if u.SealedKey != nil {
		if err := storage.CheckSealedBy(s.key, "public key of "+u.ID, u.SealedKey); err != nil {
			return err
		}
		im.put(kindUserKey, u.ID, u.SealedKey)
	}
	ref, _ := json.Marshal(userRef{UserID: u.ID})
	if u.FingerprintHash != nil {
		im.put(kindPubKey, hashToken(u.FingerprintHash), ref)
	}
	raw, err := storage.EncodeJSON(userRecord{User: storage.User{ID: u.ID, CreatedAt: u.CreatedAt}, APIKeyHash: u.APIKeyHash, FingerprintHash: u.FingerprintHash})
	if err != nil {
		return err
	}
	im.put(kindUser, u.ID, raw)
	im.put(kindAPIKey, hashToken(u.APIKeyHash), ref)
	return nil
}

func (im *importer) channel(c *storage.ChannelRecord) error {
	s := im.s
	ch := c.Channel
	raw, err := storage.EncodeJSON(channelRecord{Channel: ch, Deleted: c.Deleted})
	if err != nil {
		return err
	}
	im.put(kindChannel, ch.ID, raw)
	im.owners[ch.ID] = ch.UserID
	im.chanSeq = max(im.chanSeq, ch.Seq)
	if ch.Address != "" && !c.Deleted {
		ref, _ := json.Marshal(channelRef{ChannelID: ch.ID})
		im.put(kindAddress, token(ch.Address), ref)
	}
	if c.ReplyTarget != "" {
		raw, _ := json.Marshal(targetRecord{ReplyTarget: c.ReplyTarget})
		im.put(kindTarget, ch.ID, raw)
	}
	if !c.LastResponse.IsZero() {
		// The floor of the channel's next timestamps, on its response log.
		im.add(s.subj.rec(kindOut, ch.ID), []byte("[]"), hdrOp, opRemove, hdrThrough, formatMillis(toMillis(c.LastResponse)))
	}
	return nil
}

// key adds a dedupe key or accepted sender as a key entry of its channel's
// user's log. Until the channel's record came, it waits; a channel that
// never comes has no log to hold it (nothing can append to it either), so
// its key is dropped at the end (last).
func (im *importer) key(k storage.DedupeRecord, last bool) error {
	owner, ok := im.owners[k.ChannelID]
	if !ok {
		if !last {
			im.keys = append(im.keys, k)
		}
		return nil
	}
	im.add(im.s.subj.msgLog(owner), nil, hdrOp, opKey, hdrTs, formatMillis(toMillis(k.Seen)), hdrChannel, k.ChannelID,
		hdrKey, encodeKey(k.Key))
	return nil
}

// rollBack removes what an import wrote: it waits until this instance's
// consumers have applied it (so that none of it reaches the view later),
// purges every subject but the store secrets, and resets the view and the
// index.
func (s *Store) rollBack(im *importer) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.WriteTimeout)
	defer cancel()
	if im.lastRecord > 0 {
		_ = s.rFollow.wait(ctx, im.lastRecord, applyWait)
	}
	if im.lastMessage > 0 {
		_ = s.mFollow.wait(ctx, im.lastMessage, applyWait)
	}
	var errs []error
	filters := []string{nsMessages + ".>"}
	for _, kind := range []string{kindUser, kindUserKey, kindAPIKey, kindPubKey, kindChannel, kindSecret, kindAddress, kindTarget,
		kindOut, kindDeliv, kindAdmin, kindFloor} {
		filters = append(filters, nsRecords+"."+kind+".>")
	}
	for _, f := range filters {
		if err := s.purge(ctx, s.opts.Prefix+"."+f, 0); err != nil {
			errs = append(errs, err)
		}
	}
	s.view.resetAllButMeta()
	s.idx.reset()
	return errors.Join(errs...)
}

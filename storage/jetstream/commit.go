package jetstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/chaos-relay/relay/storage"
)

// maxWriteMsgs bounds the messages of one atomic batch, well inside
// JetStream's default limit of 1,000 (max_batch_size). Changes that could
// be larger (a sweep, a purge, failing many pending deliveries) are split.
const maxWriteMsgs = 500

// write is one change: the messages of one publish, a single message or an
// atomic batch, each with the expectations that make it safe against every
// other writer. The first message expects its own subject's last sequence,
// which is how a write whose answer was lost is recognised (see landed),
// unless the write is blind, and so harmless to store twice.
type write struct {
	msgs  []*nats.Msg
	nonce string
	first uint64 // once committed: msgs[i] is at first+i (an atomic batch is stored contiguously)
	// stored, if set, runs once the write is acknowledged, before it becomes
	// readable on this instance.
	stored func(first uint64)
}

func (s *Store) newWrite() *write { return &write{nonce: newNonce()} }

// newNonce is a random name: a write's, a consumer's.
func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// add appends a message with the given data and headers (pairs).
func (w *write) add(subject string, data []byte, hdrs ...string) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: data, Header: make(nats.Header, len(hdrs)/2+2)}
	for i := 0; i+1 < len(hdrs); i += 2 {
		m.Header.Set(hdrs[i], hdrs[i+1])
	}
	w.msgs = append(w.msgs, m)
	return m
}

// put writes a record's value, expecting the subject's last sequence to be
// expect, and rolls the subject up to it.
func (w *write) put(subject string, expect uint64, data []byte) *nats.Msg {
	m := w.add(subject, data, "Nats-Rollup", "sub")
	expectSeq(m, expect)
	return m
}

// putBlind writes a record's value whatever the subject holds: for values
// where the last writer wins (a reply target, an admin session).
func (w *write) putBlind(subject string, data []byte, ttl time.Duration) *nats.Msg {
	m := w.add(subject, data, "Nats-Rollup", "sub")
	if ttl > 0 {
		m.Header.Set(jetstream.MsgTTLHeader, ttl.String())
	}
	return m
}

// del writes a record's tombstone, expecting the subject's last sequence,
// and rolls the subject up to it; JetStream lets the tombstone expire after
// ttl.
func (w *write) del(subject string, expect uint64, ttl time.Duration) *nats.Msg {
	m := w.add(subject, nil, hdrOp, opDelete, "Nats-Rollup", "sub", jetstream.MsgTTLHeader, ttl.String())
	expectSeq(m, expect)
	return m
}

func expectSeq(m *nats.Msg, seq uint64) {
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
}

// expectOther makes m expect another subject's last sequence.
func expectOther(m *nats.Msg, subject string, seq uint64) {
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, subject)
}

// expectation returns the subject and sequence m expects, if any.
func expectation(m *nats.Msg) (string, uint64, bool) {
	v := m.Header.Get(jetstream.ExpectedLastSubjSeqHeader)
	if v == "" {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return "", 0, false
	}
	subject := m.Subject
	if other := m.Header.Get(jetstream.ExpectedLastSubjSeqSubjHeader); other != "" {
		subject = other
	}
	return subject, seq, true
}

// conflictError: an expectation of the write did not hold, so another
// writer came first; nothing of the write was stored. last is the failing
// subject's last sequence as JetStream reported it (0 when it did not).
type conflictError struct{ last uint64 }

func (e *conflictError) Error() string {
	return fmt.Sprintf("jetstream: write conflict (last sequence %d)", e.last)
}

func isConflict(err error) bool {
	var c *conflictError
	return errors.As(err, &c)
}

// errDuplicate: JetStream had a message with the write's Nats-Msg-Id within
// the duplicate window; nothing was stored. (The store sets no message ids:
// dedupe keys are the index's, messages.go.)
var errDuplicate = errors.New("jetstream: duplicate message id")

// dupAck is a publish acknowledged as a duplicate of the message at seq.
type dupAck struct{ seq uint64 }

func (e *dupAck) Error() string { return fmt.Sprintf("jetstream: duplicate of %d", e.seq) }

// commit publishes w and, once JetStream acknowledged it, applies it to this
// instance's view and index, so that the caller's next read sees it. It
// retries while JetStream does not answer, up to WriteTimeout, and fails
// with storage.ErrUnavailable (nothing acknowledged) after that or at once
// when NATS is disconnected. A conflict is returned as *conflictError.
func (s *Store) commit(ctx context.Context, w *write) error {
	start := time.Now()
	err := s.publish(ctx, w)
	if s.onCommit != nil && !isConflict(err) {
		s.onCommit(storage.Commit{Duration: time.Since(start), Writes: 1, Err: err})
	}
	switch {
	case err == nil:
		s.degraded.Store(false)
		if w.stored != nil {
			w.stored(w.first)
		}
		s.applyLocal(w)
	case errors.Is(err, storage.ErrUnavailable):
		s.degraded.Store(true)
	}
	return err
}

// publish sends w until JetStream answers it. A retry sends the very same
// messages, whose expectations let at most one of the attempts be stored:
// when an earlier attempt's answer was lost and a later one conflicts,
// landed tells whether the earlier one was stored after all.
func (s *Store) publish(ctx context.Context, w *write) error {
	w.msgs[0].Header.Set(hdrTx, w.nonce)
	deadline := time.Now().Add(s.opts.WriteTimeout)
	uncertain := false
	backoff := 10 * time.Millisecond
	var last error
	for {
		if s.ctx.Err() != nil {
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, storage.ErrClosed)
		}
		if !s.waitConnected(ctx) {
			return unavailable("disconnected from NATS", last)
		}
		first, err := s.publishOnce(ctx, w, min(attemptTimeout, time.Until(deadline)))
		if err == nil {
			w.first = first
			return nil
		}
		switch kind, seq := classify(err); kind {
		case outcomeConflict, outcomeDuplicate:
			if uncertain {
				if first, ok := s.landed(ctx, w); ok {
					w.first = first
					return nil
				}
			}
			if kind == outcomeDuplicate {
				return errDuplicate
			}
			return &conflictError{last: seq}
		case outcomeRefused:
			return err
		case outcomeUncertain:
			uncertain = true
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Until(deadline) <= 0 {
			return unavailable("JetStream did not answer", last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
		case <-time.After(min(backoff, time.Until(deadline))):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

func unavailable(why string, last error) error {
	if last == nil {
		return fmt.Errorf("%w: %s", storage.ErrUnavailable, why)
	}
	return fmt.Errorf("%w: %s: %w", storage.ErrUnavailable, why, last)
}

// publishOnce sends w once, waiting at most timeout for the answer: a
// single message as a plain request, several as an atomic batch whose
// commit is the only request (one round trip). It returns the first
// message's sequence.
func (s *Store) publishOnce(ctx context.Context, w *write, timeout time.Duration) (uint64, error) {
	if len(w.msgs) == 1 {
		// A request with a timeout, not a context: its timer is pooled.
		resp, err := s.nc.RequestMsg(w.msgs[0], timeout)
		if err != nil {
			return 0, err
		}
		return parseAck(resp.Data)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, w.msgs, jetstreamext.BatchFlowControl{AckFirst: false})
	if err != nil {
		return 0, err
	}
	return ack.Sequence - uint64(len(w.msgs)) + 1, nil
}

// parseAck reads a publish acknowledgement, {"stream":"…","seq":N} with
// perhaps "duplicate": true, without encoding/json in the common case: it
// cost as much CPU as the request. An error answer is decoded in full.
func parseAck(b []byte) (uint64, error) {
	if bytes.Contains(b, []byte(`"error"`)) {
		var ack struct {
			Error *jetstream.APIError `json:"error"`
		}
		if err := json.Unmarshal(b, &ack); err != nil || ack.Error == nil {
			return 0, jetstream.ErrInvalidJSAck
		}
		return 0, ack.Error
	}
	i := bytes.Index(b, []byte(`"seq":`))
	if i < 0 || !bytes.Contains(b, []byte(`"stream":`)) {
		return 0, jetstream.ErrInvalidJSAck
	}
	rest := bytes.TrimLeft(b[i+len(`"seq":`):], " ")
	n := 0
	for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if j := bytes.Index(b, []byte(`"duplicate":`)); j >= 0 && bytes.HasPrefix(bytes.TrimLeft(b[j+len(`"duplicate":`):], " "), []byte("true")) {
		return 0, &dupAck{seq: seq}
	}
	return seq, nil
}

// outcome is what a failed attempt means for the write.
type outcome int

const (
	outcomeRetry     outcome = iota // nothing was stored; try again
	outcomeUncertain                // it may have been stored; try again, then check
	outcomeConflict                 // an expectation failed
	outcomeDuplicate                // a message id was seen: nothing was stored
	outcomeRefused                  // JetStream refused the write for good
)

// classify says what a failed attempt means, and for a conflict the
// failing subject's last sequence.
func classify(err error) (outcome, uint64) {
	var apiErr *jetstream.APIError
	var dup *dupAck
	switch {
	case errors.As(err, &dup):
		return outcomeDuplicate, dup.seq
	case errors.As(err, &apiErr):
		switch {
		case apiErr.ErrorCode == jetstreamext.JSErrCodeBatchPublishDuplicateMsgID:
			return outcomeDuplicate, 0
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
			last, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(apiErr.Description, "wrong last sequence:")), 10, 64)
			return outcomeConflict, last
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			// The subject has a write in flight (perhaps this one's earlier
			// attempt): its outcome decides.
			return outcomeRetry, 0
		case apiErr.Code >= 500 || apiErr.Code == 429:
			return outcomeRetry, 0
		}
		return outcomeRefused, 0
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrReconnectBufExceeded):
		return outcomeRetry, 0 // nobody received it
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, jetstreamext.ErrBatchClosed):
		return outcomeRefused, 0
	}
	// Timeouts, a connection lost mid-request, an unreadable answer.
	return outcomeUncertain, 0
}

// landed tells whether an earlier attempt of w was stored: its first
// message expected its subject's last sequence to be E, so if it was
// stored, it is the subject's first message after E.
func (s *Store) landed(ctx context.Context, w *write) (uint64, bool) {
	subject, e, ok := expectation(w.msgs[0])
	if !ok || subject != w.msgs[0].Subject {
		return 0, false
	}
	m, err := s.leaderGet(ctx, msgGetRequest{Seq: e + 1, NextFor: subject})
	if err != nil || m.Header.Get(hdrTx) != w.nonce {
		return 0, false
	}
	return m.Sequence, true
}

// applyLocal applies a committed write to the view and the index. A log
// message applies only if the log holds everything before it; otherwise
// the write waits (briefly) for the consumer to bring it.
func (s *Store) applyLocal(w *write) {
	at := time.Now()
	for i, m := range w.msgs {
		seq := w.first + uint64(i)
		ns, toks, ok := s.subj.split(m.Subject)
		if !ok {
			continue
		}
		prev := anyPrev
		if subject, e, ok := expectation(m); ok && subject == m.Subject {
			prev = e
		}
		switch ns {
		case nsRecords:
			isLog := toks[0] == kindOut
			if isLog && prev == anyPrev || !s.view.apply(record{kind: toks[0], keys: toks[1:], seq: seq, prev: prev, hdr: m.Header, data: m.Data, at: at}) {
				_ = s.rFollow.wait(s.ctx, seq, applyWait)
			}
		case nsMessages:
			applied, added := false, false
			if prev != anyPrev {
				applied, added = s.idx.apply(toks[0], seq, prev, m.Header)
			}
			if !applied {
				_ = s.mFollow.wait(s.ctx, seq, applyWait)
			}
			if added && s.opts.OnAppend != nil {
				s.opts.OnAppend(toks[0])
			}
		}
	}
}

// resolve brings what w expected up to date after a conflict, so that a
// retry sees what the other writer wrote: records are read again from the
// stream leader; for a log, the consumer is waited for until it has applied
// the log's last message. Expectations on other subjects (dedupe keys) are
// the caller's to check.
func (s *Store) resolve(ctx context.Context, w *write) error {
	for _, m := range w.msgs {
		subject, _, ok := expectation(m)
		if !ok {
			continue
		}
		ns, toks, ok := s.subj.split(subject)
		switch {
		case !ok:
		case ns == nsMessages || ns == nsRecords && toks[0] == kindOut:
			if err := s.catchUp(ctx, subject); err != nil {
				return err
			}
		case ns == nsRecords:
			if err := s.reload(ctx, subject); err != nil {
				return err
			}
		}
	}
	return nil
}

// reload replaces the view's record of subject with the stream's.
func (s *Store) reload(ctx context.Context, subject string) error {
	_, toks, _ := s.subj.split(subject)
	seen := s.view.seqOf(recKey(toks[0], toks[1:]...))
	m, err := s.lastOf(ctx, subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.view.reset(toks[0], toks[1:], nil, seen)
		return nil
	case err != nil:
		return err
	}
	s.view.reset(toks[0], toks[1:], &record{kind: toks[0], keys: toks[1:], seq: m.Sequence, prev: anyPrev, hdr: m.Header, data: m.Data, at: m.Time}, seen)
	return nil
}

// settle runs op, which brings this instance up to date after a write
// conflicted (resolve, catchUp: a read from the stream leader, a wait for a
// consumer), until it succeeds, fails otherwise than with
// storage.ErrUnavailable, or the write's deadline passes. While JetStream
// elects a new stream leader (4–9 s after a server is lost) both stall: the
// write holds on within its WriteTimeout, as publish does, instead of
// failing after one attempt. A lost connection fails it, as in publish.
func (s *Store) settle(ctx context.Context, deadline time.Time, op func() error) error {
	backoff := 10 * time.Millisecond
	for {
		err := op()
		if err == nil || !errors.Is(err, storage.ErrUnavailable) || time.Until(deadline) <= 0 || !s.waitConnected(ctx) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return err
		case <-time.After(min(backoff, time.Until(deadline))):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// catchUp waits until this instance holds a log up to its last message as
// the stream leader has it. The consumer that follows the stream brings it
// within milliseconds, unless the consumer is being made again on another
// server after the one it lived on was lost: that takes seconds (two missed
// heartbeats, then JetStream's own back-off), so a message log's missing
// messages are then read from the leader instead.
func (s *Store) catchUp(ctx context.Context, subject string) error {
	m, err := s.lastOf(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ns, toks, _ := s.subj.split(subject)
	if ns != nsMessages {
		return s.rFollow.wait(ctx, m.Sequence, attemptTimeout)
	}
	err = s.mFollow.wait(ctx, m.Sequence, followGrace)
	if !errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	return s.readAhead(ctx, toks[0], subject, m.Sequence)
}

// followGrace is how long catchUp waits for the consumer before reading a
// message log itself.
const followGrace = 300 * time.Millisecond

// readAhead applies user's messages from the leader to the index, up to the
// one at through, one get each: what the consumer has not brought yet.
func (s *Store) readAhead(ctx context.Context, user, subject string, through uint64) error {
	for {
		last, _, _ := s.idx.tail(user)
		if last >= through {
			return nil
		}
		m, err := s.leaderGet(ctx, msgGetRequest{Seq: last + 1, NextFor: subject})
		if errors.Is(err, storage.ErrNotFound) {
			return nil // removed since: the next attempt finds out
		}
		if err != nil {
			return err
		}
		if _, added := s.idx.apply(user, m.Sequence, anyPrev, m.Header); added {
			s.appended(user)
		}
	}
}

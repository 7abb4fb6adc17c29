package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/chaos-relay/relay/storage"
)

// Reads of JetStream itself. The view and the index say what exists; these
// fetch bodies (messages, responses) and, where the view may be behind (a
// record another instance just wrote), the current record.
//
// Direct gets may be answered by any replica, and a follower can lack a
// message whose write was already acknowledged. A follower holds a prefix of
// the stream, so what it returns is a prefix of what was asked: a read that
// finds less than the index promised asks the leader for the rest.

// msgGetRequest is the body of JetStream's message get API.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

type msgGetResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Subject  string    `json:"subject"`
		Sequence uint64    `json:"seq"`
		Header   []byte    `json:"hdrs,omitempty"`
		Data     []byte    `json:"data,omitempty"`
		Time     time.Time `json:"time"`
	} `json:"message,omitempty"`
}

// leaderGet reads one message from the stream leader (the message get API,
// never a direct get): the current state, including every acknowledged
// write. storage.ErrNotFound when there is no such message.
func (s *Store) leaderGet(ctx context.Context, req msgGetRequest) (*jetstream.RawStreamMsg, error) {
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+s.opts.Prefix, body)
	if err != nil {
		return nil, readError(err)
	}
	var r msgGetResponse
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("%w: bad message get response: %w", storage.ErrUnavailable, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, storage.ErrNotFound
		}
		return nil, readError(r.Error)
	}
	if r.Message == nil {
		return nil, storage.ErrNotFound
	}
	m := &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Sequence, Data: r.Message.Data, Time: r.Message.Time}
	if len(r.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(r.Message.Header); err != nil {
			return nil, err
		}
	} else {
		m.Header = nats.Header{}
	}
	return m, nil
}

// lastOf reads the current message of a subject from the leader.
func (s *Store) lastOf(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return s.leaderGet(ctx, msgGetRequest{LastFor: subject})
}

// readError marks errors of a read that did not reach JetStream as
// storage.ErrUnavailable.
func readError(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code < 500 {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// getItems returns the messages of subject at the given sequences (which
// the index lists, ascending), in that order, leaving out those that no
// longer exist. One direct batch get fetches them all; what it lacks is
// asked of the leader one by one.
func (s *Store) getItems(ctx context.Context, subject string, seqs []uint64) ([]*jetstream.RawStreamMsg, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	got := make(map[uint64]*jetstream.RawStreamMsg, len(seqs))
	n := len(seqs)
	if n > 1 {
		n += 2 // room for a sweep's marker or two between the items
	}
	if err := s.directBatch(ctx, subject, seqs[0], n, got); err != nil {
		return nil, err
	}
	out := make([]*jetstream.RawStreamMsg, 0, len(seqs))
	for _, seq := range seqs {
		m := got[seq]
		if m == nil {
			var err error
			m, err = s.leaderGet(ctx, msgGetRequest{Seq: seq})
			if errors.Is(err, storage.ErrNotFound) {
				continue // removed since the index listed it
			}
			if err != nil {
				return nil, err
			}
			if m.Subject != subject {
				continue
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// directBatch fetches up to n messages of subject from sequence from on,
// into got by sequence. A single message is a plain direct get.
func (s *Store) directBatch(ctx context.Context, subject string, from uint64, n int, got map[uint64]*jetstream.RawStreamMsg) error {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	if n == 1 {
		m, err := s.stream.GetMsg(ctx, from)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return nil
		case err != nil:
			return readError(err)
		case m.Subject == subject:
			got[m.Sequence] = m
		}
		return nil
	}
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.opts.Prefix, n, jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(subject))
	if err != nil {
		return readError(err)
	}
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return nil
		}
		if err != nil {
			return readError(err)
		}
		got[m.Sequence] = m
	}
	return nil
}

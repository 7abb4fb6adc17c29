package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage"
)

// Reads of JetStream itself. The view and the index say what exists; these
// fetch bodies (messages, responses) and, where the view may be behind (a
// record another instance just wrote), the current record.
//
// Direct gets may be answered by any replica, and a follower can lack a
// message whose write was already acknowledged: a read that finds less than
// the index promised asks the leader for the rest.

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

// item is a log item: its index entry and its payload.
type item struct {
	entry
	data []byte
}

// getItems returns the payloads of the items of subject that the index
// lists (es), in that order, leaving out those that no longer exist. Messages
// appended a moment ago come from the recent cache; one
// direct get per other item, all sent at once, fetches the rest; what a
// replica lacks is asked of the leader one by one.
func (s *Store) getItems(ctx context.Context, subject string, es []entry) ([]item, error) {
	if len(es) == 0 {
		return nil, nil
	}
	got := make(map[uint64][]byte, len(es))
	var fetch []uint64
	for _, e := range es {
		if data, ok := s.recent.get(e.seq); ok {
			got[e.seq] = data
		} else {
			fetch = append(fetch, e.seq)
		}
	}
	if len(fetch) > 0 {
		err := s.getter.get(ctx, fetch, got)
		if errors.Is(err, nats.ErrTimeout) {
			// A get routed to a server lost a moment ago goes unanswered:
			// ask again for what did not come, once.
			fetch = slices.DeleteFunc(fetch, func(seq uint64) bool { _, ok := got[seq]; return ok })
			err = s.getter.get(ctx, fetch, got)
		}
		if err != nil {
			return nil, readError(err)
		}
	}
	out := make([]item, 0, len(es))
	for _, e := range es {
		data, ok := got[e.seq]
		if !ok {
			m, err := s.leaderGet(ctx, msgGetRequest{Seq: e.seq})
			if errors.Is(err, storage.ErrNotFound) {
				continue // removed since the index listed it
			}
			if err != nil {
				return nil, err
			}
			if m.Subject != subject {
				continue
			}
			data = m.Data
		}
		out = append(out, item{entry: e, data: data})
	}
	return out, nil
}

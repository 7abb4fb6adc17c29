package cluster

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A write that conflicts reads the key again before it retries. KV's Get
// is a direct get, which any replica answers: a follower may not have a
// write that was already acknowledged, and a retry on its stale revision
// would only conflict again. last asks the stream leader instead.

// kvOperation is the header of KV deletions and purges.
const kvOperation = "KV-Operation"

// current is the last revision of a key, as the stream leader has it.
type current struct {
	rev   uint64 // 0: the key has never been written, or everything expired
	value []byte // nil unless put
	put   bool   // false for a deletion, a purge, an expiry's marker, or no revision
}

// msgGetRequest and msgGetResponse are JetStream's message get API.
type msgGetRequest struct {
	LastFor string `json:"last_by_subj"`
}

type msgGetResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Sequence uint64 `json:"seq"`
		Header   []byte `json:"hdrs,omitempty"`
		Data     []byte `json:"data,omitempty"`
	} `json:"message,omitempty"`
}

// last reads key's last revision in kv from the stream leader.
func (c *Cluster) last(ctx context.Context, kv jetstream.KeyValue, key string) (current, error) {
	body, _ := json.Marshal(msgGetRequest{LastFor: kvSubject(kv, key)}) // cannot fail
	resp, err := c.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+kv.Bucket(), body)
	if err != nil {
		return current{}, err
	}
	var r msgGetResponse
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return current{}, fmt.Errorf("bad message get response: %w", err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return current{}, nil
		}
		return current{}, r.Error
	}
	if r.Message == nil {
		return current{}, nil
	}
	cur := current{rev: r.Message.Sequence, value: r.Message.Data, put: true}
	if len(r.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(r.Message.Header)
		if err != nil {
			return current{}, err
		}
		if h.Get(kvOperation) != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
			cur.value, cur.put = nil, false
		}
	}
	return cur, nil
}

// kvSubject is the subject that holds key in kv.
func kvSubject(kv jetstream.KeyValue, key string) string {
	return "$KV." + kv.Bucket() + "." + key
}

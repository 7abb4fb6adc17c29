package cluster

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvEntry is a key's current value, as leaderGet reads it.
type kvEntry struct {
	key   string
	value []byte
	rev   uint64
}

// leaderGet reads key's current value from the leader of kv's stream:
// jetstream.ErrKeyNotFound when it has none (never written, deleted,
// purged or expired). kv.Get may be answered by any replica (a direct
// get), and a follower can lack a write already acknowledged to the node
// that made it; the leader has every one, so another node reads its own
// writes.
func (c *Cluster) leaderGet(ctx context.Context, kv jetstream.KeyValue, key string) (kvEntry, error) {
	body, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{"$KV." + kv.Bucket() + "." + key})
	if err != nil {
		return kvEntry{}, err
	}
	resp, err := c.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+kv.Bucket(), body)
	if err != nil {
		return kvEntry{}, err
	}
	var r struct {
		Error   *jetstream.APIError `json:"error,omitempty"`
		Message *struct {
			Sequence uint64 `json:"seq"`
			Header   []byte `json:"hdrs,omitempty"`
			Data     []byte `json:"data,omitempty"`
		} `json:"message,omitempty"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return kvEntry{}, fmt.Errorf("bad message get response: %w", err)
	}
	switch {
	case r.Error != nil && r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound, r.Error == nil && r.Message == nil:
		return kvEntry{}, jetstream.ErrKeyNotFound
	case r.Error != nil:
		return kvEntry{}, r.Error
	}
	if len(r.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(r.Message.Header)
		if err != nil {
			return kvEntry{}, err
		}
		// A delete, a purge, or the marker of an expiry.
		if h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
			return kvEntry{}, jetstream.ErrKeyNotFound
		}
	}
	return kvEntry{key: key, value: r.Message.Data, rev: r.Message.Sequence}, nil
}

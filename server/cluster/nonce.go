package cluster

import (
	"context"
	"encoding/hex"
	"fmt"
)

// UseNonce marks a user's nonce as used and reports whether it was fresh:
// true for exactly one call per (user, nonce) in the whole cluster within
// 10 minutes. It costs one KV create, decided by the bucket's leader, so it
// is exact under any concurrency. On error (NATS unreachable) the nonce's
// state is unknown: the caller should refuse the request.
func (c *Cluster) UseNonce(ctx context.Context, userID string, key [16]byte) (fresh bool, err error) {
	k := token(userID) + "." + hex.EncodeToString(key[:])
	_, err = c.kv.nonces.Create(ctx, k, nil)
	switch {
	case err == nil:
		return true, nil
	case isConflict(err):
		return false, nil
	default:
		return false, fmt.Errorf("cluster: use nonce: %w", err)
	}
}

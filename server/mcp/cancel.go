package mcp

import "encoding/json"

// trackKey names a forwarded request of a session: the session's id and
// the request's id (idKey).
type trackKey struct{ session, request string }

// tracking is a forwarded request that notifications/cancelled may cancel.
type tracking struct{ cancel func(error) }

// track registers a forwarded request of a session under its request id
// key, with the function that cancels it; the returned func forgets it.
func (b *Bridge) track(sessionID, key string, cancel func(error)) (untrack func()) {
	k := trackKey{sessionID, key}
	t := &tracking{cancel: cancel}
	b.mu.Lock()
	b.tracked[k] = t
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.tracked[k] == t { // a later request may reuse the id
			delete(b.tracked, k)
		}
	}
}

// cancel cancels the session's forwarded request of that id key, if this
// node forwarded it and it is in flight, and reports whether it was.
func (b *Bridge) cancel(sessionID, key string) bool {
	b.mu.Lock()
	t := b.tracked[trackKey{sessionID, key}]
	b.mu.Unlock()
	if t == nil {
		return false
	}
	t.cancel(ErrCancelled)
	return true
}

// cancelled is told of the cancellations other nodes publish (Cancels).
func (b *Bridge) cancelled(sessionID string, requestID json.RawMessage) {
	if validID(requestID) {
		b.cancel(sessionID, idKey(requestID))
	}
}

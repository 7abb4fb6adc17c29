package live

import "encoding/json"

// grant is what the open grants of one user and frame type allow.
type grant struct {
	n        int   // open grants
	maxBytes int64 // the largest they allow
}

// Grant lets the user's sockets read frames of type frameType (the frame's
// "type" member) up to maxBytes, above Config.MaxFrameBytes, until release is
// called. Grants nest: the larger size lasts while any grant is open. A frame
// over MaxFrameBytes that no open grant covers still closes its socket with
// 1009, as does any frame over the largest grant.
//
// The MCP bridge opens one per forwarded request, so that the answer (an
// mcp-response frame) may be large while other frames stay small.
func (h *Hub) Grant(userID, frameType string, maxBytes int64) (release func()) {
	h.gmu.Lock()
	types := h.grants[userID]
	if types == nil {
		types = map[string]*grant{}
		h.grants[userID] = types
	}
	g := types[frameType]
	if g == nil {
		g = &grant{}
		types[frameType] = g
	}
	g.n++
	g.maxBytes = max(g.maxBytes, maxBytes)
	h.gmu.Unlock()
	released := false
	return func() {
		h.gmu.Lock()
		defer h.gmu.Unlock()
		if released {
			return
		}
		released = true
		if g.n--; g.n == 0 {
			delete(types, frameType)
			if len(types) == 0 {
				delete(h.grants, userID)
			}
		}
	}
}

// grantedMax is the largest frame any open grant of the user allows (0: none).
func (h *Hub) grantedMax(userID string) int64 {
	h.gmu.Lock()
	defer h.gmu.Unlock()
	var m int64
	for _, g := range h.grants[userID] {
		m = max(m, g.maxBytes)
	}
	return m
}

// granted reports whether an open grant of the user covers a frame of size
// bytes whose JSON "type" member is the granted type.
func (h *Hub) granted(userID string, frame []byte) bool {
	var f struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(frame, &f) != nil {
		return false
	}
	h.gmu.Lock()
	defer h.gmu.Unlock()
	g := h.grants[userID][f.Type]
	return g != nil && int64(len(frame)) <= g.maxBytes
}

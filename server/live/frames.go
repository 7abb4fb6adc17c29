package live

import (
	"sync"

	"github.com/gorilla/websocket"

	"github.com/chaos-relay/relay/storage"
)

// frameCacheSize is how many recent message frames are kept encoded: enough
// for every socket of a user to find the frame its first socket built.
const frameCacheSize = 4096

// frameCache shares the encoded WebSocket frame of a message between the
// sockets that send it, so fan-out encodes each message once.
type frameCache struct {
	encode func(storage.Message) ([]byte, error)

	mu   sync.Mutex
	m    map[string]*websocket.PreparedMessage
	ring []string // insertion order, for eviction
	next int
}

func newFrameCache(encode func(storage.Message) ([]byte, error)) *frameCache {
	return &frameCache{encode: encode, m: make(map[string]*websocket.PreparedMessage, frameCacheSize), ring: make([]string, frameCacheSize)}
}

// get returns the prepared message frame of m, building it on first use.
func (f *frameCache) get(m storage.Message) (*websocket.PreparedMessage, error) {
	f.mu.Lock()
	pm := f.m[m.ID]
	f.mu.Unlock()
	if pm != nil {
		return pm, nil
	}
	b, err := f.encode(m)
	if err != nil {
		return nil, err
	}
	if pm, err = websocket.NewPreparedMessage(websocket.TextMessage, b); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.m[m.ID]; old != nil {
		return old, nil // built concurrently: keep one
	}
	delete(f.m, f.ring[f.next])
	f.ring[f.next] = m.ID
	f.next = (f.next + 1) % len(f.ring)
	f.m[m.ID] = pm
	return pm, nil
}

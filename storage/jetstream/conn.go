package jetstream

import "github.com/nats-io/nats.go"

// Conn is the store's connection to NATS, for what shares it (the relay's
// cluster membership). The store owns it: Close closes it, and its handlers
// are the store's.
func (s *Store) Conn() *nats.Conn { return s.nc }

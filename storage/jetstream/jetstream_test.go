package jetstream_test

import (
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// TestContract runs the contract suite, every case on its own stream of one
// shared server.
func TestContract(t *testing.T) {
	srv := natstest.Start(t)
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		return open(t, jetstream.Options{URLs: srv.URL(), Now: now})
	})
}

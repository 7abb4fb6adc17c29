package bolt

import (
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// TestPlaceholderIDFitsTimeID: AppendMessage encodes a record with
// placeholderID and sets the real id inside the transaction, so every id
// TimeID makes must have its length.
func TestPlaceholderIDFitsTimeID(t *testing.T) {
	if id := storage.TimeID(time.Now(), [10]byte{1, 2, 3}); len(id) != len(placeholderID) {
		t.Fatalf("TimeID has %d bytes, placeholderID %d", len(id), len(placeholderID))
	}
}

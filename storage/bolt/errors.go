package bolt

import (
	"errors"
	"fmt"

	"github.com/chaos-relay/relay/storage"
)

// wrap prefixes err with the operation, keeping nil nil and sentinels matchable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("bolt: %s: %w", op, err)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

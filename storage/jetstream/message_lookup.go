package jetstream

import (
	"context"

	"github.com/chaos-relay/relay/storage"
)

// Message implements storage.Store. A message's id carries its timestamp,
// so the lookup reads, in each user's log, only the messages of that
// millisecond: one index search per user, and a read of what it finds (an
// admin's lookup, not a client's).
func (s *Store) Message(ctx context.Context, id string) (storage.Message, error) {
	if err := s.enter(); err != nil {
		return storage.Message{}, err
	}
	defer s.leave()
	t, ok := storage.TimeOfID(id)
	if !ok {
		return storage.Message{}, wrap("message", storage.ErrNotFound)
	}
	ms := uint64(t.UnixMilli())
	for user, es := range s.idx.at(ms) {
		items, err := s.getItems(ctx, s.subj.msgLog(user), es)
		if err != nil {
			return storage.Message{}, wrap("message", err)
		}
		for _, it := range items {
			if m, err := toMessage(user, it); err == nil && m.ID == id {
				return m, nil
			}
		}
	}
	return storage.Message{}, wrap("message", storage.ErrNotFound)
}

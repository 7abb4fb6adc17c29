package bolt

import (
	"bytes"
	"context"
	"encoding/binary"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// Message implements storage.Store. The message log is keyed by time first,
// and an id's time is its message's timestamp, so the lookup reads only the
// messages of that millisecond, whoever they belong to.
func (s *Store) Message(_ context.Context, id string) (storage.Message, error) {
	t, ok := storage.TimeOfID(id)
	if !ok {
		return storage.Message{}, wrap("message", storage.ErrNotFound)
	}
	ms := toMillis(t)
	var out storage.Message
	err := s.view(func(tx *bbolt.Tx) error {
		prefix := binary.BigEndian.AppendUint64(nil, ms)
		c := tx.Bucket(bMessageLog).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) < 2+len(id) || int(v[1]) != len(id) || string(v[2:2+len(id)]) != id { // the id is the record's first field (storage/stored.go)
				continue
			}
			rec, err := storage.DecodeMessage(v)
			if err != nil {
				return err
			}
			_, user := splitTimeKey(k)
			out = storage.Message{ID: rec.ID, UserID: string(user), ChannelType: rec.ChannelType, ChannelID: rec.ChannelID,
				From: rec.From, Content: rec.Content, Timestamp: fromMillis(ms), Metadata: rec.Metadata}
			return nil
		}
		return storage.ErrNotFound
	})
	return out, wrap("message", err)
}

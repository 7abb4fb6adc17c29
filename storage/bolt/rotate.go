package bolt

import (
	"fmt"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage/seal"
)

// RotateRootKey re-wraps the data key of every sealed value in dir's store from
// old to new, in one transaction, without touching the sealed payloads. It runs
// while the relay is stopped: the file lock makes it fail fast otherwise. It
// returns how many values were re-wrapped.
func RotateRootKey(dir string, old, new *seal.RootKey) (int, error) {
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("bolt: rotate root key: %w", err)
	}
	n := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := prepare(tx, old); err != nil {
			return err
		}
		for _, name := range sealedBuckets {
			b := tx.Bucket(name)
			type kv struct{ k, v []byte }
			var out []kv
			err := b.ForEach(func(k, v []byte) error {
				if !seal.IsSealed(v) {
					return nil
				}
				nv, err := seal.Rewrap(old, new, sealAAD(name, k), v)
				if err != nil {
					return fmt.Errorf("%s/%q: %w", name, k, err)
				}
				out = append(out, kv{append([]byte(nil), k...), nv})
				return nil
			})
			if err != nil {
				return err
			}
			for _, e := range out {
				if err := b.Put(e.k, e.v); err != nil {
					return err
				}
			}
			n += len(out)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("bolt: rotate root key: %w", err)
	}
	return n, nil
}

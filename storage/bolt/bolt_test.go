package bolt_test

import (
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
	"github.com/chaos-relay/relay/storage/storagetest"
)

func openTemp(t testing.TB, dir string, key *seal.RootKey, now func() time.Time) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(dir, bolt.Options{RootKey: key, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testKey(t testing.TB) *seal.RootKey {
	t.Helper()
	k, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		return openTemp(t, t.TempDir(), testKey(t), now)
	})
}

package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// TestConvertSchema2: a store of the previous layout, with users' public keys
// and channels' webhook secrets in plain form, is converted when it opens:
// afterwards no plain key, fingerprint or secret is left in the file, and
// reclaim, the users and the channels read as before.
func TestConvertSchema2(t *testing.T) {
	dir, key := t.TempDir(), rootKey(t)
	pk := storage.PublicKey{X: "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg", Y: "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXk"}
	user := storage.User{ID: "u1", CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PublicKey: &pk}
	meta := `{"botUsername":"bot","webhookSecret":"plain-secret-1","pairingCode":"ABCD1234"}`
	ch := storage.Channel{ID: "tg", UserID: "u1", Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(meta), Seq: 1}
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bMeta).Put(keySchemaVersion, []byte("2")); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bUsers), []byte("u1"), userRecord{User: user, APIKeyHash: []byte("hash")}); err != nil {
			return err
		}
		if err := tx.Bucket(bAPIKeys).Put([]byte("hash"), []byte("u1")); err != nil {
			return err
		}
		if err := tx.Bucket(bPubKeys).Put([]byte(pk.Fingerprint()), []byte("u1")); err != nil {
			return err
		}
		if err := tx.Bucket(bUserChannels).Put(streamKey("u1", 1), []byte("tg")); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bChannels), []byte("tg"), channelRecord{Channel: ch})
	})
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}

	s := openStore(t, dir, key, nil)
	ctx := context.Background()
	got, created, err := s.RegisterUser(ctx, storage.User{ID: "other", PublicKey: &pk}, []byte("other-hash"))
	if err != nil || created || got.ID != "u1" || got.PublicKey == nil || *got.PublicKey != pk {
		t.Fatalf("reclaim after conversion: %+v, created %v, %v", got, created, err)
	}
	if u, err := s.UserByAPIKeyHash(ctx, []byte("hash")); err != nil || u.PublicKey == nil || *u.PublicKey != pk {
		t.Fatalf("user after conversion: %+v, %v", u, err)
	}
	c, err := s.Channel(ctx, "tg")
	if err != nil || string(c.Metadata) != meta {
		t.Fatalf("channel after conversion: %s, %v", c.Metadata, err)
	}
	noPlainSecrets(t, s, pk)
}

// noPlainSecrets fails when any record of the file holds a public key's
// coordinates or fingerprint, or a channel's secret metadata member, as they
// were given.
func noPlainSecrets(t *testing.T, s *Store, pk storage.PublicKey) {
	t.Helper()
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				for _, plain := range []string{pk.X, pk.Y, "plain-secret", "ABCD1234"} {
					if bytes.Contains(k, []byte(plain)) || bytes.Contains(v, []byte(plain)) {
						t.Errorf("bucket %s, key %q holds %q in plain form: %q", name, k, plain, v)
					}
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSecretsSealedAtRest: what a new store writes holds no public key and
// no inbound secret in plain form, and gives them back on read, through
// updates that remove one and set another.
func TestSecretsSealedAtRest(t *testing.T) {
	s := openStore(t, t.TempDir(), rootKey(t), nil)
	ctx := context.Background()
	pk := storage.PublicKey{X: "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg", Y: "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXk"}
	if _, _, err := s.RegisterUser(ctx, storage.User{ID: "u1", PublicKey: &pk}, []byte("hash")); err != nil {
		t.Fatal(err)
	}
	meta := `{"botUsername":"bot","webhookSecret":"plain-secret-1","pairingCode":"ABCD1234"}`
	ch := storage.Channel{ID: "tg", UserID: "u1", Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(meta)}
	if err := s.CreateChannel(ctx, &ch, nil); err != nil {
		t.Fatal(err)
	}
	noPlainSecrets(t, s, pk)
	paired := `{"botUsername":"bot","webhookSecret":"plain-secret-2","allowedUsers":["7"]}`
	if _, err := s.UpdateChannel(ctx, "tg", func(c *storage.Channel) error { c.Metadata = json.RawMessage(paired); return nil }); err != nil {
		t.Fatal(err)
	}
	noPlainSecrets(t, s, pk)
	s.channels.invalidate() // read the file, not the cache
	for _, read := range []func() (storage.Channel, error){
		func() (storage.Channel, error) { return s.Channel(ctx, "tg") },
		func() (storage.Channel, error) { l, err := s.Channels(ctx, "u1"); return l[0], err },
		func() (storage.Channel, error) {
			l, err := s.ChannelsOfType(ctx, storage.TypeTelegram)
			return l[0], err
		},
	} {
		if c, err := read(); err != nil || string(c.Metadata) != paired {
			t.Fatalf("read %s, %v; want %s", c.Metadata, err, paired)
		}
	}
}

// TestSealedValuesUseTheStorageAADs: every sealed value is bound to the
// associated data that storage defines for every backend (so that export
// moves it unopened), which is also what rotate-root-key derives from the
// bucket and key.
func TestSealedValuesUseTheStorageAADs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bolt, std []byte
	}{
		{"store secret", sealAAD(bMeta, []byte("secret:apikey_secret")), storage.StoreSecretAAD("apikey_secret")},
		{"index key", sealAAD(bMeta, keyIndexKey), storage.StoreSecretAAD("index_key")},
		{"user key", sealAAD(bUserKeys, []byte("u1")), storage.UserKeyAAD("u1")},
		{"channel secret", sealAAD(bSecrets, secretKey("c1", "botToken")), storage.ChannelSecretAAD("c1", "botToken")},
		{"admin session", sealAAD(bAdmin, []byte("hash")), storage.AdminSessionAAD([]byte("hash"))},
	} {
		if !bytes.Equal(tc.bolt, tc.std) {
			t.Errorf("%s: bolt binds to %q, storage defines %q", tc.name, tc.bolt, tc.std)
		}
	}
}

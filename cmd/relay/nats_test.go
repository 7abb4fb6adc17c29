package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

// openNATS opens the JetStream store at url under key and reads the api-key
// secret, creating it with value when absent.
func openNATS(t *testing.T, url string, key *seal.RootKey, value []byte) ([]byte, error) {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Options{URLs: url, RootKey: key})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Wait(context.Background()); err != nil {
		return nil, err
	}
	return s.Secret(context.Background(), "apikey_secret", func() ([]byte, error) {
		if value == nil {
			return nil, errors.New("lost")
		}
		return value, nil
	})
}

// A relay on NATS refuses to generate a root key: every node must share one.
// It says so, and writes nothing beside a data directory.
func TestNATSNeedsRootKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"RELAY_NATS_URL": "nats://127.0.0.1:1", "RELAY_DATA_DIR": dir, "RELAY_PORT": "0"}
	for _, cmd := range []string{"serve", "rotate-root-key"} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{cmd}, env(vars), &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "RELAY_NATS_URL is set, so RELAY_ROOT_KEY must be too") {
			t.Fatalf("%s: exit %d, stderr %q; want 1 and the reason", cmd, code, errOut.String())
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created (%v)", err)
	}
}

// rotate-root-key re-wraps the sealed values in JetStream: the new key opens
// the store and the old one is refused.
func TestRotateRootKeyNATS(t *testing.T) {
	srv := natstest.Start(t)
	old, _ := seal.GenerateRootKey()
	next, _ := seal.GenerateRootKey()
	secret, err := openNATS(t, srv.URL(), old, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	vars := map[string]string{"RELAY_NATS_URL": srv.URL(), "RELAY_ROOT_KEY": old.Encode(), "RELAY_NEW_ROOT_KEY": next.Encode()}
	if code := run(context.Background(), []string{"rotate-root-key"}, env(vars), &out, &errOut); code != 0 {
		t.Fatalf("rotate exited %d: %s", code, errOut.String())
	}
	if got, err := openNATS(t, srv.URL(), next, nil); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the new key opens %q, %v", got, err)
	}
	if _, err := openNATS(t, srv.URL(), old, nil); !errors.Is(err, seal.ErrWrongKey) {
		t.Fatalf("the old key: %v, want ErrWrongKey", err)
	}
}

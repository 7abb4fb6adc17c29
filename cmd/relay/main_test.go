package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		vars     map[string]string
		code     int
		out, err string
	}{
		{"version", []string{"version"}, nil, 0, "dev\n", ""},
		{"version flag", []string{"--version"}, nil, 0, "dev\n", ""},
		{"bad port flag", []string{"--port=70000"}, map[string]string{"RELAY_PORT": "8080"}, 2, "", "relay: --port: must be 0-65535"},
		{"bad original variable", []string{"serve"}, map[string]string{"PORT": "70000", "RELAY_MAX_BODY_BYTES": "0"}, 2, "", "relay: RELAY_MAX_BODY_BYTES: must be positive"},
		{"unknown command", []string{"frobnicate"}, nil, 2, "", `relay: unknown command "frobnicate"`},
		{"bad configuration", []string{"serve"}, map[string]string{"RELAY_PORT": "eighty"}, 2, "", "RELAY_PORT"},
		{"bad flag", []string{"--port=eighty"}, nil, 2, "", "--port"},
		{"config dump", []string{"--config-dump"}, map[string]string{"RELAY_ADMIN_KEY": "hunter2"}, 0, "RELAY_ADMIN_KEY=[redacted]", ""},
		{"help", []string{"-h"}, nil, 0, "RELAY_DATA_DIR", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, env(tc.vars), &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.err) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errOut.String(), tc.code, tc.out, tc.err)
			}
			if strings.Contains(out.String()+errOut.String(), "hunter2") {
				t.Fatal("a secret was printed")
			}
		})
	}
}

// TestPortInUseWritesNothing: the relay binds its port before anything else,
// so a port in use fails at once and leaves no key file or store behind.
func TestPortInUseWritesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"serve"}, env(map[string]string{"RELAY_DATA_DIR": dir, "RELAY_PORT": port}), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "address already in use") {
		t.Fatalf("exit %d, stderr %q; want 1 and the listen error", code, errOut.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created (%v): something was written before the port was bound", err)
	}
}

// sealSomething creates a store under key with a sealed value, as a relay's
// first start does.
func sealSomething(t *testing.T, dir string, key *seal.RootKey) []byte {
	t.Helper()
	s, err := bolt.Open(dir, bolt.Options{RootKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Secret(context.Background(), "apikey_secret", func() ([]byte, error) { return []byte("0123456789abcdef"), nil })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func openWith(t *testing.T, dir string, key *seal.RootKey) ([]byte, error) {
	t.Helper()
	s, err := bolt.Open(dir, bolt.Options{RootKey: key})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Secret(context.Background(), "apikey_secret", func() ([]byte, error) { return nil, errors.New("lost") })
}

// TestRotateRootKeyFile: with the key file beside the data, rotation re-wraps
// every sealed value and replaces the file; the old key no longer opens the store.
func TestRotateRootKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	old, _, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := sealSomething(t, dir, old)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rotate-root-key"}, env(map[string]string{"RELAY_DATA_DIR": dir}), &out, &errOut); code != 0 {
		t.Fatalf("rotate exited %d: %s", code, errOut.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next, err := seal.ParseRootKey(string(raw))
	if err != nil || next.ID() == old.ID() {
		t.Fatalf("key file after rotation: %v (same id: %v)", err, next != nil && next.ID() == old.ID())
	}
	if got, err := openWith(t, dir, next); err != nil || string(got) != string(secret) {
		t.Fatalf("the new key opens %q, %v", got, err)
	}
	if _, err := openWith(t, dir, old); !errors.Is(err, seal.ErrWrongKey) {
		t.Fatalf("the old key: %v, want ErrWrongKey", err)
	}
	if _, err := os.Stat(path + ".new"); !os.IsNotExist(err) {
		t.Fatal("root.key.new left behind")
	}
}

// TestRotateRootKeyEnv: with RELAY_ROOT_KEY the new key is taken from
// RELAY_NEW_ROOT_KEY, or generated and printed once.
func TestRotateRootKeyEnv(t *testing.T) {
	dir := t.TempDir()
	old, _ := seal.GenerateRootKey()
	sealSomething(t, dir, old)
	var out, errOut bytes.Buffer
	vars := map[string]string{"RELAY_DATA_DIR": dir, "RELAY_ROOT_KEY": old.Encode()}
	if code := run(context.Background(), []string{"rotate-root-key"}, env(vars), &out, &errOut); code != 0 {
		t.Fatalf("rotate exited %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	next, err := seal.ParseRootKey(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("printed key %q: %v", out.String(), err)
	}
	if _, err := openWith(t, dir, next); err != nil {
		t.Fatalf("the printed key does not open the store: %v", err)
	}
	if strings.Contains(out.String()+errOut.String(), old.Encode()) {
		t.Fatal("the old key was printed")
	}
	// A given new key is used and not printed.
	third, _ := seal.GenerateRootKey()
	out.Reset()
	vars = map[string]string{"RELAY_DATA_DIR": dir, "RELAY_ROOT_KEY": next.Encode(), "RELAY_NEW_ROOT_KEY": third.Encode()}
	if code := run(context.Background(), []string{"rotate-root-key"}, env(vars), &out, &errOut); code != 0 {
		t.Fatalf("second rotate exited %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), third.Encode()) {
		t.Fatal("a given key was printed")
	}
	if _, err := openWith(t, dir, third); err != nil {
		t.Fatalf("RELAY_NEW_ROOT_KEY does not open the store: %v", err)
	}
}

// TestJSONLogsNameOneComponent: every JSON log line of a relay at work has
// exactly one component key (some log pipelines reject a line with a key
// twice; the server's parts used to add theirs to the server's), on bbolt
// and on NATS, where the store and the cluster log too (NATS is stopped
// and started again meanwhile, so that the store has something to say).
func TestJSONLogsNameOneComponent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Run("bolt", func(t *testing.T) { testOneComponent(t, nil, nil, "server", "admin", "relay", "crypto") })
	t.Run("nats", func(t *testing.T) {
		srv := natstest.Start(t)
		key, err := seal.GenerateRootKey()
		if err != nil {
			t.Fatal(err)
		}
		env := []string{"RELAY_NATS_URL=" + srv.URL(), "RELAY_ROOT_KEY=" + key.Encode()}
		testOneComponent(t, env, func(p *process) {
			srv.Stop()
			srv.Restart()
			waitWithin(t, 10*time.Second, "the store to reconnect", func() bool {
				return slices.ContainsFunc(p.logged(), func(l string) bool { return strings.Contains(l, "reconnected to NATS") })
			})
		}, "server", "admin", "relay", "store", "cluster")
	})
}

// testOneComponent runs a relay with env, puts it to work (and calls more,
// if set), and checks its log lines.
func testOneComponent(t *testing.T, env []string, more func(*process), want ...string) {
	p := startProcess(t, t.TempDir(), append([]string{"RELAY_LOG_LEVEL=debug", "RELAY_ADMIN_KEY=admin-password"}, env...)...)
	ctx := context.Background()
	c, err := client.Register(ctx, p.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, hook, err := c.CreateChannel(ctx, client.NewChannel{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PostWebhook(ctx, nil, hook, "text/plain", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/status", "/nowhere", "/messages"} { // admin, 404, auth failure
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(p.URL+"/admin/login", "application/json", strings.NewReader(`{"password":"wrong"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if more != nil {
		more(p)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("relay exit: %v", err)
	}
	components := map[string]bool{}
	for _, line := range p.logged() {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %s", line)
		}
		if n := strings.Count(line, `"component":`); n != 1 {
			t.Errorf("%d component keys in %s", n, line)
		}
		components[fmt.Sprint(m["component"])] = true
	}
	for _, w := range want {
		if !components[w] {
			t.Errorf("no line of component %q among %v", w, components)
		}
	}
}

package seal

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func checkMode(t *testing.T, path string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	noErr(t, err)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("%s has mode %o, want 600", path, got)
	}
}

// checkOnly fails unless dir holds exactly the named entries (no temp files left).
func checkOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	noErr(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("directory holds %q, want %q", got, names)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")

	k1, created, err := LoadOrCreateKeyFile(path)
	noErr(t, err)
	if !created {
		t.Fatal("created = false for a new file")
	}
	checkMode(t, path)
	checkOnly(t, dir, "root.key")
	b, err := os.ReadFile(path)
	noErr(t, err)
	if got, want := string(b), k1.Encode()+"\n"; got != want {
		t.Fatalf("file holds %q, want the key's base64 and a newline", got)
	}

	k2, created, err := LoadOrCreateKeyFile(path)
	noErr(t, err)
	if created {
		t.Fatal("created = true for an existing file")
	}
	if k2.Encode() != k1.Encode() {
		t.Fatal("second load returned another key")
	}
}

func TestLoadOrCreateKeyFileExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	want := testKey(t, 0)
	// Written by an operator: trailing whitespace, loose mode. Accepted as is.
	noErr(t, os.WriteFile(path, []byte("  "+want.Encode()+"\r\n\n"), 0o644))
	k, created, err := LoadOrCreateKeyFile(path)
	noErr(t, err)
	if created || k.ID() != want.ID() {
		t.Fatalf("got %s created=%v, want %s created=false", k.ID(), created, want.ID())
	}
}

func TestLoadOrCreateKeyFileInvalid(t *testing.T) {
	for name, content := range map[string]string{
		"empty":   "",
		"garbage": "not a key\n",
		"short":   "AAAA\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			noErr(t, os.WriteFile(path, []byte(content), 0o600))
			_, _, err := LoadOrCreateKeyFile(path)
			errorIs(t, err, ErrRootKey)
			b, err := os.ReadFile(path)
			noErr(t, err)
			if string(b) != content {
				t.Fatal("an invalid key file was overwritten")
			}
		})
	}
}

func TestLoadOrCreateKeyFileErrors(t *testing.T) {
	_, _, err := LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "missing", "root.key"))
	if err == nil {
		t.Fatal("created a key file in a missing directory")
	}
	dir := t.TempDir()
	_, _, err = LoadOrCreateKeyFile(dir) // a directory, not a file
	if err == nil {
		t.Fatal("read a directory as a key file")
	}
}

// TestLoadOrCreateKeyFileRace checks that concurrent creators agree on one key.
func TestLoadOrCreateKeyFileRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]bool{}
		creates int
	)
	for range n {
		wg.Go(func() {
			k, created, err := LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[k.ID()] = true
			if created {
				creates++
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 || creates != 1 {
		t.Fatalf("%d distinct keys, %d creators; want 1 and 1", len(ids), creates)
	}
	checkOnly(t, dir, "root.key")
}

func TestWriteKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	old, _, err := LoadOrCreateKeyFile(path)
	noErr(t, err)
	noErr(t, os.Chmod(path, 0o644)) // replacing also tightens the mode

	k := testKey(t, 5)
	noErr(t, WriteKeyFile(path, k))
	checkMode(t, path)
	checkOnly(t, dir, "root.key")
	got, created, err := LoadOrCreateKeyFile(path)
	noErr(t, err)
	if created || got.ID() != k.ID() || got.ID() == old.ID() {
		t.Fatalf("read %s created=%v after WriteKeyFile(%s)", got.ID(), created, k.ID())
	}

	// Writing into a fresh path works too.
	other := filepath.Join(dir, "new.key")
	noErr(t, WriteKeyFile(other, k))
	checkMode(t, other)

	err = WriteKeyFile(filepath.Join(dir, "missing", "root.key"), k)
	if err == nil {
		t.Fatal("wrote into a missing directory")
	}
	checkOnly(t, dir, "new.key", "root.key")
}

// TestLoadOrCreateKeyFileRemovesStaleTemps: a kill during the first start can
// leave a temporary file holding a key; the next start removes it.
func TestLoadOrCreateKeyFileRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	k, err := GenerateRootKey()
	noErr(t, err)
	stale, err := writeTemp(path, k)
	noErr(t, err)
	if !strings.HasPrefix(filepath.Base(stale), ".root.key.tmp") {
		t.Fatalf("temporary file %s", stale)
	}
	_, created, err := LoadOrCreateKeyFile(path)
	noErr(t, err)
	if !created {
		t.Fatal("the key file was not created")
	}
	checkOnly(t, dir, "root.key")
	noErr(t, os.WriteFile(filepath.Join(dir, ".root.key.tmp123"), []byte("left by a kill"), 0o600))
	_, _, err = LoadOrCreateKeyFile(path) // the file exists now
	noErr(t, err)
	checkOnly(t, dir, "root.key")
}

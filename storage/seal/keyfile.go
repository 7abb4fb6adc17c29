package seal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadOrCreateKeyFile reads the root key from the file at path (base64 text,
// see [ParseRootKey]). If the file does not exist, it generates a key, creates
// the file with mode 0600 and returns created=true; the caller should warn
// that the key sits beside the data and must be backed up separately.
//
// Creation is atomic and never replaces a file: the key is written to a
// temporary file in the same directory and fsynced, then hard-linked to path,
// which fails if path exists. If another process creates path first, its key
// is read and returned with created=false. An existing file that does not
// parse is an error; it is never overwritten. A file readable by group or
// others is accepted; checking its mode is left to the caller.
//
// Temporary files that a kill during an earlier creation left behind (they
// hold a key) are removed once the key file is read.
func LoadOrCreateKeyFile(path string) (k *RootKey, created bool, err error) {
	defer func() {
		if err == nil {
			removeStaleTemps(path)
		}
	}()
	k, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = GenerateRootKey()
	if err != nil {
		return nil, false, err
	}
	err = createKeyFile(path, k)
	if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
		// Lost a race with another process: use the key it wrote. (Its
		// clean-up may have removed our temporary file before we linked it.)
		k, err = readKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("seal: create key file %s: %w", path, err)
	}
	return k, true, nil
}

// WriteKeyFile atomically replaces the file at path with k, with mode 0600: it
// writes a temporary file in the same directory, fsyncs it, renames it over
// path and fsyncs the directory. Readers see the old key or the new one.
func WriteKeyFile(path string, k *RootKey) error {
	if err := k.check(); err != nil {
		return err
	}
	tmp, err := writeTemp(path, k)
	if err != nil {
		return fmt.Errorf("seal: write key file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("seal: write key file %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("seal: write key file %s: %w", path, err)
	}
	return nil
}

func readKeyFile(path string) (*RootKey, error) {
	b, err := os.ReadFile(path)
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("seal: read key file: %w", err)
	}
	k, err := ParseRootKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return k, nil
}

// createKeyFile creates path holding k, failing with an error matching
// fs.ErrExist if path already exists.
func createKeyFile(path string, k *RootKey) error {
	tmp, err := writeTemp(path, k)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission) {
		// Some filesystems (vfat, some FUSE mounts) have no hard links.
		// O_EXCL still keeps two processes from both creating the file, but
		// a concurrent reader may see it before it is complete.
		err = writeExclusive(path, k)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// tempPattern matches the temporary files writeTemp creates for path.
func tempPattern(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
}

// removeStaleTemps removes writeTemp's files for path. Once path exists, none
// of them is needed: a creation in progress elsewhere finds path and reads it.
func removeStaleTemps(path string) {
	names, _ := filepath.Glob(tempPattern(path)) // the pattern is well formed
	for _, name := range names {
		_ = os.Remove(name)
	}
}

// writeTemp writes k to a new 0600 file beside path, fsyncs it and returns
// its name.
func writeTemp(path string, k *RootKey) (name string, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(tempPattern(path)))
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	// CreateTemp uses 0600 already; Chmod makes it explicit and portable.
	if err := f.Chmod(0o600); err != nil {
		return "", err
	}
	if err := writeKey(f, k); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// writeExclusive creates path with O_EXCL and mode 0600, and writes k to it.
func writeExclusive(path string, k *RootKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeKey(f, k); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// writeKey writes k's encoding and a newline to f, fsyncs and closes f.
func writeKey(f *os.File, k *RootKey) error {
	_, err := f.WriteString(k.Encode() + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory so that a new or renamed entry in it survives a
// crash. Windows cannot fsync directories; NTFS journals renames itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage"
)

// TestExportAndImport: relay export writes a running relay's store through
// it; relay import loads the file into an empty store of another data
// directory (with the same root key), where the session finds its messages;
// the store of a running relay cannot be opened beside it.
func TestExportAndImport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	p := startProcess(t, dir, "RELAY_ADMIN_KEY=admin-password")
	c, err := client.Register(ctx, p.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, hook, err := c.CreateChannel(ctx, client.NewChannel{Name: "moving"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PostWebhook(ctx, nil, hook, "text/plain", []byte("carried over")); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	vars := map[string]string{"RELAY_DATA_DIR": dir, "RELAY_ADMIN_KEY": "admin-password"}
	if code := run(ctx, []string{"export"}, env(vars), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "is the relay running") {
		t.Fatalf("export beside a running relay: exit %d, %s", code, errOut.String())
	}
	out.Reset()
	if code := run(ctx, []string{"export", "--relay", p.URL}, env(vars), &out, &errOut); code != 0 {
		t.Fatalf("export through the relay: exit %d, %s", code, errOut.String())
	}
	n := 0
	for _, err := range storage.ReadExport(bytes.NewReader(out.Bytes())) {
		if err != nil {
			t.Fatalf("the export does not read back: %v", err)
		}
		n++
	}
	if n < 5 || strings.Contains(out.String(), "carried over") == false {
		t.Fatalf("%d records: %s", n, out.String())
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "relay.jsonl")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	moved := t.TempDir()
	key, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	importVars := map[string]string{"RELAY_DATA_DIR": moved, "RELAY_ROOT_KEY": strings.TrimSpace(string(key))}
	if code := run(ctx, []string{"import", file}, env(importVars), &out, &errOut); code != 0 {
		t.Fatalf("import: exit %d, %s", code, errOut.String())
	}
	if code := run(ctx, []string{"import", file}, env(importVars), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not empty") {
		t.Fatalf("a second import: exit %d, %s", code, errOut.String())
	}
	cut := filepath.Join(t.TempDir(), "cut.jsonl")
	if err := os.WriteFile(cut, out.Bytes()[:out.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run(ctx, []string{"import", cut}, env(map[string]string{"RELAY_DATA_DIR": t.TempDir()}), &out, &errOut); code != 1 {
		t.Fatalf("a cut file: exit %d, %s", code, errOut.String())
	}

	q := startProcess(t, moved, "RELAY_ROOT_KEY="+strings.TrimSpace(string(key)))
	c.BaseURL = q.URL
	page, err := c.Messages(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 || page.Messages[0].Content != "carried over" {
		t.Fatalf("after the move: %+v", page)
	}
}

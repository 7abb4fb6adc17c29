package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage"
)

// exportStore writes every record of the store to w as JSON lines (relay
// export). With relayURL it asks the running relay at that URL, logging in
// with RELAY_ADMIN_KEY: a running relay holds its bbolt file, and its export
// is one consistent snapshot while it serves. Without, it opens the store
// itself: a stopped relay's bbolt file, or JetStream, which any number of
// processes may read while relays serve.
func exportStore(ctx context.Context, cfg app.Config, relayURL string, log *slog.Logger, w io.Writer) int {
	var (
		n   int
		err error
	)
	if relayURL != "" {
		n, err = exportFrom(ctx, strings.TrimRight(relayURL, "/"), cfg.AdminKey, w)
	} else {
		var store storage.Store
		if store, err = app.OpenStore(ctx, cfg, log); err == nil {
			n, err = storage.WriteExport(ctx, store, w)
			err = errors.Join(err, store.Close())
		}
	}
	if err != nil {
		log.Error("export", "records", n, "err", err)
		return 1
	}
	log.Info("exported", "records", n)
	return 0
}

// exportFrom copies GET /admin/export of a running relay to w, and checks
// that it is complete.
func exportFrom(ctx context.Context, base, adminKey string, w io.Writer) (int, error) {
	if adminKey == "" {
		return 0, errors.New("export through a relay needs RELAY_ADMIN_KEY")
	}
	hc := &http.Client{Timeout: 0}
	body, _ := json.Marshal(map[string]string{"password": adminKey})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/login", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("log in: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("log in: %s", resp.Status)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/export", nil)
	if err != nil {
		return 0, err
	}
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("export: %s", resp.Status)
	}
	// Read it back as it is written: a cut stream fails here, not at import.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	n := 0
	go func() {
		for _, err := range storage.ReadExport(pr) {
			if err != nil {
				done <- err
				_ = pr.CloseWithError(err)
				return
			}
			n++
		}
		_, _ = io.Copy(io.Discard, pr) // whatever follows the end record
		done <- nil
	}()
	_, err = io.Copy(io.MultiWriter(w, pw), resp.Body)
	_ = pw.CloseWithError(err)
	return n, errors.Join(err, <-done)
}

// importStore loads an export file into the configured store, which must be
// empty (relay import).
func importStore(ctx context.Context, cfg app.Config, path string, log *slog.Logger) int {
	f, err := os.Open(path)
	if err != nil {
		log.Error("import", "err", err)
		return 1
	}
	defer f.Close()
	store, err := app.OpenStore(ctx, cfg, log)
	if err != nil {
		log.Error("import", "err", err)
		return 1
	}
	start, n := time.Now(), 0
	records := func(yield func(storage.Record, error) bool) {
		for r, err := range storage.ReadExport(f) {
			if err == nil {
				n++
			}
			if !yield(r, err) {
				return
			}
		}
	}
	err = errors.Join(store.Import(ctx, records), store.Close())
	if err != nil {
		log.Error("import", "records", n, "err", err)
		return 1
	}
	log.Info("imported", "records", n, "took", time.Since(start))
	return 0
}

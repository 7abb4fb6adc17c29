// Command relay runs the multi-channel messaging relay (see README.md).
//
//	relay [serve] [flags]   run the server (default)
//	relay rotate-root-key   re-wrap every sealed secret under a new root key
//	relay version           print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/channels/webhook"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
)

// version is stamped by the Makefile (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signalNotify(context.Background())
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalNotify is cancelled by SIGINT or SIGTERM: graceful shutdown.
func signalNotify(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// run is the whole program, testable: it returns the exit status (2 for a
// configuration error, 1 for a runtime failure).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	case "serve", "rotate-root-key":
	default:
		fmt.Fprintf(stderr, "relay: unknown command %q (want serve, rotate-root-key or version)\n", cmd)
		return 2
	}
	cfg, notes, err := loadConfig(args, getenv, os.ReadFile)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	if notes.Dump {
		dumpConfig(stdout, cfg)
		return 0
	}
	log := newLogger(cfg, stderr)
	if notes.IgnoredEncryptionKey {
		log.Warn("CHAOS_ENCRYPTION_KEY is set but not used: secrets are sealed under RELAY_ROOT_KEY", "component", "crypto")
	}
	if cmd == "rotate-root-key" {
		return rotateRootKey(cfg, log, stdout)
	}
	return serve(ctx, cfg, log)
}

func serve(ctx context.Context, cfg server.Config, log *slog.Logger) int {
	if cfg.RateLimits.Disabled {
		log.Warn("rate limits are off (RELAY_RATE_LIMITS=off): for benchmarks and tests only", "component", "server")
	}
	key, err := loadRootKey(cfg, log)
	if err != nil {
		log.Error("root key", "component", "crypto", "err", err)
		return 1
	}
	reg := prometheus.NewRegistry()
	observe := server.CommitObserver(reg)
	// A failed fsync may have lost pages that a later one will not bring back
	// (PROTOCOL §11.1): stop acknowledging, close the listeners and exit
	// non-zero, so that a supervisor restarts the relay on the last good file.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var commitFailed atomic.Bool
	store, err := bolt.Open(cfg.DataDir, bolt.Options{
		RootKey:      key,
		BatchMaxSize: cfg.StoreBatchMaxSize,
		OnCommit: func(c storage.Commit) {
			observe(c)
			if c.Err != nil && !commitFailed.Swap(true) {
				log.Error("store commit failed: shutting down", "component", "store", "err", c.Err)
				stop()
			}
		},
	})
	if err != nil {
		log.Error("open store", "component", "store", "err", err)
		return 1
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close store", "component", "store", "err", err)
		}
	}()
	tg := telegram.New(telegram.Config{APIURL: cfg.TelegramAPIURL}, log.With("component", "telegram"))
	dc := discord.New(discord.Config{APIURL: cfg.DiscordAPIURL, Gateway: cfg.DiscordGateway}, log.With("component", "discord"))
	mail := email.New(email.Config{APIURL: cfg.ResendAPIURL, APIKey: cfg.ResendAPIKey, Domain: cfg.EmailDomain,
		WebhookSecret: cfg.ResendWebhookSecret}, log.With("component", "email"))
	srv, err := server.New(ctx, cfg, server.Deps{
		Store:     store,
		Limits:    ratelimit.New(cfg.RateLimits, nil),
		Log:       log,
		Version:   version,
		Registry:  reg,
		Platforms: []channels.Platform{webhook.Platform{}, tg, dc, mail, channels.StoreOnly(storage.TypeSlack)},
	})
	if err != nil {
		log.Error("start", "component", "server", "err", err)
		return 1
	}
	if err := srv.Run(ctx, nil); err != nil {
		log.Error("run", "component", "server", "err", err)
		return 1
	}
	if commitFailed.Load() {
		return 1
	}
	log.Info("stopped", "component", "server")
	return 0
}

// loadRootKey reads RELAY_ROOT_KEY, or the key file beside the data,
// creating it on first start (PROTOCOL §11.3).
func loadRootKey(cfg server.Config, log *slog.Logger) (*seal.RootKey, error) {
	if cfg.RootKey != "" {
		return seal.ParseRootKey(cfg.RootKey)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, "root.key")
	key, created, err := seal.LoadOrCreateKeyFile(path)
	if created {
		log.Warn("generated a root key beside the data: back it up separately, or set RELAY_ROOT_KEY", "component", "crypto", "path", path)
	}
	return key, err
}

// rotateRootKey re-wraps every data key under a new root key. With a key
// file, the new key is written to root.key.new before the store changes and
// renamed over root.key after, so a crash never leaves the new key nowhere.
func rotateRootKey(cfg server.Config, log *slog.Logger, stdout io.Writer) int {
	log = log.With("component", "crypto")
	var (
		old *seal.RootKey
		err error
	)
	path := filepath.Join(cfg.DataDir, "root.key")
	if cfg.RootKey != "" {
		old, err = seal.ParseRootKey(cfg.RootKey)
	} else {
		var raw []byte
		if raw, err = os.ReadFile(path); err == nil {
			old, err = seal.ParseRootKey(string(raw))
		}
	}
	if err != nil {
		log.Error("current root key", "err", err)
		return 1
	}
	next, err := newRootKey(cfg)
	if err != nil {
		log.Error("new root key", "err", err)
		return 2
	}
	if cfg.RootKey == "" {
		if err := seal.WriteKeyFile(path+".new", next); err != nil {
			log.Error("write new key file", "err", err)
			return 1
		}
	}
	start := time.Now()
	n, err := bolt.RotateRootKey(cfg.DataDir, old, next)
	if err != nil {
		log.Error("rotate", "err", err)
		return 1
	}
	log.Info("re-wrapped sealed values", "count", n, "old_key_id", old.ID(), "new_key_id", next.ID(), "took", time.Since(start))
	if cfg.RootKey == "" {
		if err := os.Rename(path+".new", path); err != nil {
			log.Error("install new key file: the new key is in root.key.new", "err", err)
			return 1
		}
		return 0
	}
	if cfg.NewRootKey == "" {
		fmt.Fprintf(stdout, "New root key (set RELAY_ROOT_KEY to it before starting the relay):\n%s\n", next.Encode())
	}
	return 0
}

func newRootKey(cfg server.Config) (*seal.RootKey, error) {
	if cfg.NewRootKey != "" {
		return seal.ParseRootKey(cfg.NewRootKey)
	}
	return seal.GenerateRootKey()
}

// newLogger builds the one logger (PROTOCOL §10.4): json lines start with
// timestamp, level, message; text is for people.
func newLogger(cfg server.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("timestamp", a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z"))
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

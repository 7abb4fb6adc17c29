// Command relay runs the multi-channel messaging relay (see README.md).
//
//	relay [serve] [flags]          run the server (default)
//	relay rotate-root-key          re-wrap every sealed secret under a new root key
//	relay export [--relay URL]     every record as JSON lines on stdout
//	relay import FILE              load an export into an empty store
//	relay version                  print the version
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
	"strings"
	"syscall"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"
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
	var relayURL, file string
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	case "serve", "rotate-root-key":
	case "export":
		relayURL, args = cutFlag(args, "relay")
	case "import":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintln(stderr, "relay: import needs the export file: relay import FILE [flags]")
			return 2
		}
		file, args = args[0], args[1:]
	default:
		fmt.Fprintf(stderr, "relay: unknown command %q (want serve, rotate-root-key, export, import or version)\n", cmd)
		return 2
	}
	cfg, notes, err := loadConfig(args, getenv, os.ReadFile)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if notes.Version {
		fmt.Fprintln(stdout, version)
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
	log := newLogger(cfg.Log, stderr)
	if notes.IgnoredEncryptionKey {
		log.Warn("CHAOS_ENCRYPTION_KEY is set but not used: secrets are sealed under RELAY_ROOT_KEY", "component", "crypto")
	}
	switch cmd {
	case "rotate-root-key":
		return rotateRootKey(ctx, cfg, log.With("component", "crypto"), stdout)
	case "export":
		return exportStore(ctx, cfg, relayURL, log.With("component", "export"), stdout)
	case "import":
		return importStore(ctx, cfg, file, log.With("component", "import"))
	}
	return serve(ctx, cfg, log)
}

// cutFlag removes --name=value or --name value from args and returns value.
func cutFlag(args []string, name string) (value string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, append(args[:i:i], args[i+1:]...)
		}
		if a == name && i+1 < len(args) {
			return args[i+1], append(args[:i:i], args[i+2:]...)
		}
	}
	return "", args
}

func serve(ctx context.Context, cfg app.Config, log *slog.Logger) int {
	relay, err := app.New(ctx, cfg, app.Options{Log: log, Version: version})
	if err != nil {
		log.Error("start", "component", "relay", "err", err)
		return 1
	}
	if err := relay.Run(ctx); err != nil {
		log.Error("run", "component", "relay", "err", err)
		return 1
	}
	log.Info("stopped", "component", "relay")
	return 0
}

// rotateRootKey re-wraps every data key under a new root key. With a key
// file, the new key is written to root.key.new before the store changes and
// renamed over root.key after, so a crash never leaves the new key nowhere.
func rotateRootKey(ctx context.Context, cfg app.Config, log *slog.Logger, stdout io.Writer) int {
	var (
		old *seal.RootKey
		err error
	)
	path := filepath.Join(cfg.Store.DataDir, "root.key")
	switch {
	case cfg.Store.RootKey != "":
		old, err = seal.ParseRootKey(cfg.Store.RootKey)
	case cfg.Store.NATS.Enabled():
		err = app.ErrNoSharedKey
	default:
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
	if cfg.Store.RootKey == "" {
		if err := seal.WriteKeyFile(path+".new", next); err != nil {
			log.Error("write new key file", "err", err)
			return 1
		}
	}
	start := time.Now()
	n, err := app.RotateRootKey(ctx, cfg, log, old, next)
	if err != nil {
		log.Error("rotate", "err", err)
		return 1
	}
	log.Info("re-wrapped sealed values", "count", n, "old_key_id", old.ID(), "new_key_id", next.ID(), "took", time.Since(start))
	if cfg.Store.RootKey == "" {
		if err := os.Rename(path+".new", path); err != nil {
			log.Error("install new key file: the new key is in root.key.new", "err", err)
			return 1
		}
		return 0
	}
	if cfg.Store.NewRootKey == "" {
		fmt.Fprintf(stdout, "New root key (set RELAY_ROOT_KEY to it before starting the relay):\n%s\n", next.Encode())
	}
	return 0
}

func newRootKey(cfg app.Config) (*seal.RootKey, error) {
	if cfg.Store.NewRootKey != "" {
		return seal.ParseRootKey(cfg.Store.NewRootKey)
	}
	return seal.GenerateRootKey()
}

// newLogger builds the one logger (PROTOCOL §10.4): json lines start with
// timestamp, level, message; text is for people.
func newLogger(cfg app.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
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

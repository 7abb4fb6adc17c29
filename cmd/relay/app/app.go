// Package app assembles a relay process from its configuration: the
// listener, the root key, the store, the platforms and the server. cmd/relay
// runs it, and every test that needs a whole relay builds it the same way,
// through New.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolterrors "go.etcd.io/bbolt/errors"

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

// Options are what a relay takes besides its configuration.
type Options struct {
	Log     *slog.Logger // required; each component gets it with its "component"
	Version string
	// Listener serves the relay; nil listens on the configured address.
	Listener net.Listener
	// RootKey seals the store; nil reads RELAY_ROOT_KEY or the key file
	// beside the data, creating it on first start.
	RootKey *seal.RootKey
	// Registry receives the metrics; nil makes a private one.
	Registry *prometheus.Registry
	// Now is the relay's clock (default time.Now).
	Now func() time.Time
	// Senders replace platforms' reply delivery, by channel type (tests).
	Senders map[string]channels.Sender
}

// Relay is an assembled relay process, ready to Run.
type Relay struct {
	notify atomic.Pointer[server.Server] // the change feed's reader, once built
	ln     net.Listener
	store  storage.Store
	srv    *server.Server
	log    *slog.Logger
	failed atomic.Bool        // a store commit failed
	stop   context.CancelFunc // stops Run after a failed commit
	ctx    context.Context
}

// ErrCommitFailed: Run stopped because a store commit failed (PROTOCOL
// §11.1): the process must exit non-zero for a supervisor to restart it on
// the last good file.
var ErrCommitFailed = errors.New("app: a store commit failed")

// New builds a relay. It binds the listener first, so that a port in use
// fails before anything is written, then loads the root key, opens the
// store and builds the server on it.
func New(ctx context.Context, cfg Config, opts Options) (r *Relay, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Log
	r = &Relay{ln: opts.Listener, log: log.With("component", "relay")}
	if r.ln == nil {
		if r.ln, err = net.Listen("tcp", cfg.Addr()); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
		}
	}
	defer func() {
		if err != nil {
			_ = r.ln.Close()
			if r.store != nil {
				_ = r.store.Close()
			}
		}
	}()
	key := opts.RootKey
	if key == nil {
		if key, err = loadRootKey(cfg.Store, log.With("component", "crypto")); err != nil {
			return nil, fmt.Errorf("root key: %w", err)
		}
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	if r.store, err = r.openStore(cfg.Store, key, reg, log.With("component", "store")); err != nil {
		return nil, err
	}
	if cfg.RateLimits.Disabled {
		r.log.Warn("rate limits are off (RELAY_RATE_LIMITS=off): for benchmarks and tests only")
	}
	r.srv, err = server.New(ctx, cfg.Config, server.Deps{
		Store:     r.store,
		Limits:    ratelimit.New(cfg.RateLimits, nil),
		Log:       log,
		Version:   opts.Version,
		Registry:  reg,
		Now:       opts.Now,
		Platforms: Platforms(cfg, log),
		Senders:   opts.Senders,
	})
	if err != nil {
		return nil, err
	}
	r.notify.Store(r.srv)
	return r, nil
}

// appended is the store's change feed: it wakes the user's sockets. Before
// the server exists there is no socket to wake.
func (r *Relay) appended(userID string) {
	if srv := r.notify.Load(); srv != nil {
		srv.Notify(userID)
	}
}

// Platforms are the channel types a relay serves, configured: this list is
// where a new platform is registered.
func Platforms(cfg Config, log *slog.Logger) []channels.Platform {
	return []channels.Platform{
		webhook.Platform{},
		telegram.New(cfg.Telegram, log.With("component", "telegram")),
		discord.New(cfg.Discord, log.With("component", "discord")),
		email.New(cfg.Email, log.With("component", "email")),
		channels.StoreOnly(storage.TypeSlack),
	}
}

// openStore opens the bbolt store. A failed commit may have lost pages that
// a later fsync will not bring back (PROTOCOL §11.1): the relay then stops
// acknowledging, closes its listeners and exits non-zero.
func (r *Relay) openStore(cfg StoreConfig, key *seal.RootKey, reg prometheus.Registerer, log *slog.Logger) (storage.Store, error) {
	store, err := bolt.Open(cfg.DataDir, bolt.Options{
		RootKey:      key,
		BatchMaxSize: cfg.BatchMaxSize,
		Registry:     reg,
		OnAppend:     r.appended,
		OnCommit: func(c storage.Commit) {
			if c.Err != nil && !r.failed.Swap(true) {
				log.Error("store commit failed: shutting down", "err", c.Err)
				r.stop()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return store, nil
}

// OpenStore opens the configured store on its own, for the commands that
// work on the store without serving (export, import).
func OpenStore(cfg Config, log *slog.Logger) (storage.Store, error) {
	key, err := loadRootKey(cfg.Store, log.With("component", "crypto"))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	store, err := bolt.Open(cfg.Store.DataDir, bolt.Options{RootKey: key, BatchMaxSize: cfg.Store.BatchMaxSize})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store: %s is in use: is the relay running? (export through it with --relay URL)", cfg.Store.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return store, nil
}

// loadRootKey reads RELAY_ROOT_KEY, or the key file beside the data,
// creating it on first start (PROTOCOL §11.3).
func loadRootKey(cfg StoreConfig, log *slog.Logger) (*seal.RootKey, error) {
	if cfg.RootKey != "" {
		return seal.ParseRootKey(cfg.RootKey)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, "root.key")
	key, created, err := seal.LoadOrCreateKeyFile(path)
	if created {
		log.Warn("generated a root key beside the data: back it up separately, or set RELAY_ROOT_KEY", "path", path)
	}
	return key, err
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Handler is the relay's HTTP handler (benchmarks call it in process).
func (r *Relay) Handler() http.Handler { return r.srv.Handler() }

// Store is the relay's store (tests set up records through it).
func (r *Relay) Store() storage.Store { return r.store }

// Run serves until ctx is done or a store commit fails, shuts down
// gracefully and closes the store. It returns ErrCommitFailed after a
// failed commit.
func (r *Relay) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	err := r.srv.Run(ctx, r.ln)
	if cerr := r.store.Close(); cerr != nil {
		r.log.Error("close store", "err", cerr)
		err = errors.Join(err, cerr)
	}
	if r.failed.Load() {
		return ErrCommitFailed
	}
	return err
}

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

	"github.com/chaos-relay/relay/admin"
	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/channels/webhook"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server"
	"github.com/chaos-relay/relay/server/cluster"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/jetstream"
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
	failed atomic.Pointer[error] // why the store stopped the relay
	stop   context.CancelFunc    // stops Run once the store has failed
	ctx    context.Context
	node   *node // this node of a relay on NATS; nil on bbolt
	// leave ends the node's membership (its leases go to other nodes at
	// once); nil on bbolt.
	leave func(ctx context.Context) error
}

// leaveTimeout bounds a node's goodbye to the others at shutdown; what is
// not done by then expires on its own.
const leaveTimeout = 5 * time.Second

// ErrCommitFailed: Run stopped because a store commit failed (PROTOCOL
// §11.1): the process must exit non-zero for a supervisor to restart it on
// the last good file.
var ErrCommitFailed = errors.New("app: a store commit failed")

// fail stops Run for good with err, the first reason given.
func (r *Relay) fail(err error) {
	if r.failed.CompareAndSwap(nil, &err) {
		r.log.Error("the store failed: shutting down", "err", err)
		r.stop()
	}
}

// New builds a relay. It binds the listener first, so that a port in use
// fails before anything is written, then loads the root key, opens the
// store and builds the server on it.
func New(ctx context.Context, cfg Config, opts Options) (_ *Relay, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Log
	r := &Relay{ln: opts.Listener, log: log.With("component", "relay")}
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
	if r.store, err = r.openStore(ctx, cfg, key, reg, log.With("component", "store")); err != nil {
		return nil, err
	}
	if cfg.RateLimits.Disabled {
		r.log.Warn("rate limits are off (RELAY_RATE_LIMITS=off): for benchmarks and tests only")
	}
	deps := server.Deps{
		Store:     r.store,
		Limits:    ratelimit.New(cfg.RateLimits, nil),
		Log:       log,
		Version:   opts.Version,
		Registry:  reg,
		Now:       opts.Now,
		Platforms: Platforms(cfg, log),
		Senders:   opts.Senders,
	}
	if js, ok := r.store.(*jetstream.Store); ok {
		r.node = newNode(cfg.RateLimits, log)
		deps.Cluster = r.node
		if !cfg.RateLimits.Disabled {
			deps.Limits = r.node
		}
		defer func() {
			if err == nil {
				r.joinCluster(ctx, js, cfg.Store.NATS, opts.Version)
			}
		}()
	}
	if r.srv, err = server.New(ctx, cfg.Config, deps); err != nil {
		return nil, err
	}
	r.notify.Store(r.srv)
	return r, nil
}

// joinWait bounds how long New waits for a node to join the others when
// NATS is reachable: a node serves signed requests only once joined.
const joinWait = 10 * time.Second

// joinCluster makes this process a node of the relay on NATS: the other
// nodes see it, and it shares their leases, nonces, rate limits and
// sockets. When the store is up, it waits (within ctx and joinWait) for
// the join; otherwise, and after that, the node joins in the background.
func (r *Relay) joinCluster(ctx context.Context, js *jetstream.Store, cfg NATSConfig, version string) {
	r.node.onCutOff(r.srv.CutOff)
	r.node.setStats(func() cluster.Stats { return cluster.Stats{Sockets: r.srv.Sockets()} })
	joinCtx, cancel := context.WithCancel(r.ctx)
	r.leave = func(wait context.Context) error {
		cancel()
		return r.node.leave(wait)
	}
	info := cluster.Info{Version: version, Addr: "http://" + r.ln.Addr().String()}
	go r.node.join(joinCtx, js.Conn(), cfg, info)
	if js.Health().Open {
		t := time.NewTimer(joinWait)
		defer t.Stop()
		select {
		case <-r.node.joined:
		case <-t.C:
		case <-ctx.Done():
		}
	}
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

// openStore opens the configured store: JetStream when RELAY_NATS_URL is
// set, bbolt otherwise.
//
// On bbolt a failed commit may have lost pages that a later fsync will not
// bring back (PROTOCOL §11.1): the relay then stops acknowledging, closes
// its listeners and exits non-zero. On JetStream a failed write is answered
// 503 and retried by its sender; only a store that cannot come up at all
// (a root key it was not sealed with, found once NATS is reachable) stops
// the relay.
func (r *Relay) openStore(ctx context.Context, cfg Config, key *seal.RootKey, reg prometheus.Registerer, log *slog.Logger) (storage.Store, error) {
	if cfg.Store.NATS.Enabled() {
		opts := jetStreamOptions(cfg, key, log, r.appended)
		opts.Registry = reg
		store, err := jetstream.Open(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		go func() {
			if err := store.Wait(r.ctx); err != nil && r.ctx.Err() == nil {
				r.fail(err)
			}
		}()
		return store, nil
	}
	store, err := bolt.Open(cfg.Store.DataDir, bolt.Options{
		RootKey:      key,
		BatchMaxSize: cfg.Store.BatchMaxSize,
		Registry:     reg,
		OnAppend:     r.appended,
		OnCommit: func(c storage.Commit) {
			if c.Err != nil {
				r.fail(fmt.Errorf("%w: %w", ErrCommitFailed, c.Err))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return store, nil
}

// jetStreamOptions configures the JetStream store from the relay's
// settings. A record holds at most one request body and its metadata, so
// the largest record is the body limit plus 16 KiB.
func jetStreamOptions(cfg Config, key *seal.RootKey, log *slog.Logger, onAppend func(string)) jetstream.Options {
	n := cfg.Store.NATS
	return jetstream.Options{
		URLs:           n.URL,
		Creds:          []byte(n.Creds),
		Replicas:       n.Replicas,
		WriteTimeout:   n.WriteTimeout,
		Prefix:         n.Prefix,
		RootKey:        key,
		Logger:         log,
		OnAppend:       onAppend,
		MaxRecordBytes: int(cfg.MaxBodyBytes) + 16<<10,
	}
}

// openWait bounds how long OpenStore waits for JetStream to be ready.
const openWait = 2 * time.Minute

// OpenStore opens the configured store on its own, for the commands that
// work on the store without serving (export, import). On JetStream it
// waits until the store is ready, for at most openWait.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (storage.Store, error) {
	key, err := loadRootKey(cfg.Store, log.With("component", "crypto"))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	if cfg.Store.NATS.Enabled() {
		ctx, cancel := context.WithTimeout(ctx, openWait)
		defer cancel()
		store, err := jetstream.Open(ctx, jetStreamOptions(cfg, key, log.With("component", "store"), nil))
		if err == nil {
			if err = store.Wait(ctx); err != nil {
				_ = store.Close()
			}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("NATS at %s did not answer within %s", RedactURLs(cfg.Store.NATS.URL), openWait)
		}
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return store, nil
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

// ErrNoSharedKey: a relay on NATS was given no RELAY_ROOT_KEY. Every node
// must seal with the same key, so none is generated beside one node's data.
var ErrNoSharedKey = errors.New("RELAY_NATS_URL is set, so RELAY_ROOT_KEY must be too: every node of the relay seals with the same key, and none is generated")

// loadRootKey reads RELAY_ROOT_KEY, or the key file beside the data,
// creating it on first start (PROTOCOL §11.3).
func loadRootKey(cfg StoreConfig, log *slog.Logger) (*seal.RootKey, error) {
	if cfg.RootKey != "" {
		return seal.ParseRootKey(cfg.RootKey)
	}
	if cfg.NATS.Enabled() {
		return nil, ErrNoSharedKey
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

// RotateRootKey re-wraps every sealed value of the configured store from
// root key old to next (relay rotate-root-key; every relay process
// stopped) and returns how many it re-wrapped. On NATS it waits for the
// store as long as ctx lets it, logging its retries to log.
func RotateRootKey(ctx context.Context, cfg Config, log *slog.Logger, old, next *seal.RootKey) (int, error) {
	if cfg.Store.NATS.Enabled() {
		return jetstream.RotateRootKey(ctx, jetStreamOptions(cfg, nil, log, nil), old, next)
	}
	return bolt.RotateRootKey(cfg.Store.DataDir, old, next)
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Handler is the relay's HTTP handler (benchmarks call it in process).
func (r *Relay) Handler() http.Handler { return r.srv.Handler() }

// Nodes are the live nodes of a relay on NATS, as this node knows them
// (none until it has joined them, and none on bbolt).
func (r *Relay) Nodes() []admin.Node {
	if r.node == nil {
		return nil
	}
	return r.node.Nodes()
}

// Store is the relay's store (tests set up records through it).
func (r *Relay) Store() storage.Store { return r.store }

// Run serves until ctx is done or the store fails, shuts down gracefully
// and closes the store. It returns the store's failure: one wrapping
// ErrCommitFailed after a failed bbolt commit.
func (r *Relay) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	err := r.srv.Run(ctx, r.ln)
	if r.leave != nil { // before the store closes the connection they share
		wait, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		if lerr := r.leave(wait); lerr != nil {
			r.log.Warn("leave the other nodes", "err", lerr)
		}
		cancel()
	}
	if cerr := r.store.Close(); cerr != nil {
		r.log.Error("close store", "err", cerr)
		err = errors.Join(err, cerr)
	}
	if failed := r.failed.Load(); failed != nil {
		return *failed
	}
	return err
}

// Package server is the relay's HTTP side: routing, authentication, the
// inbound pipeline, polling and replies (PROTOCOL.md). New is the composition
// root: it receives built dependencies and wires them to the routes.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/server/outbox"
	"github.com/chaos-relay/relay/storage"
)

// Deps are the built dependencies of a Server.
type Deps struct {
	Store   storage.Store
	Limits  Limiter // nil admits everything
	Log     *slog.Logger
	Version string
	// Registry receives the relay's metrics; nil creates a private one.
	Registry *prometheus.Registry
	// Now is the clock for signatures, replay windows and retention (default time.Now).
	Now func() time.Time
	// Platforms are the channel types the relay serves, each with its routes
	// and reply rules; a platform that is a channels.Sender delivers replies.
	Platforms []channels.Platform
	// Senders replace the platforms' own senders, by channel type (tests
	// that stand in for a platform's delivery). A pending reply of a type
	// without a sender fails.
	Senders map[string]channels.Sender
	// Cluster is what this node shares with the other nodes of the relay;
	// nil on a relay of one node.
	Cluster Cluster
}

// Limiter applies the rate limits of PROTOCOL §8: ratelimit.Limiters in one
// process, or limits shared by every node of a relay.
type Limiter interface {
	// Allow takes a token from a limit's bucket for key; when it is empty,
	// ok is false and retryAfter says when a token will be there.
	Allow(name ratelimit.Name, key string) (retryAfter time.Duration, ok bool)
	// Prune forgets idle buckets.
	Prune() int
}

// Server is a configured relay.
type Server struct {
	cfg     Config
	store   storage.Store
	limits  Limiter
	cluster Cluster // nil on one node
	log     *slog.Logger
	root    *slog.Logger // without a component: each part gets its own
	version string
	now     func() time.Time
	started time.Time

	e       *echo.Echo
	metrics *metrics
	nonces  *nonceStore
	keys    *keyCache

	ident   atomic.Pointer[identity] // loaded on first use (identity)
	identMu sync.Mutex               // serialises loading it

	hub       *live.Hub
	mcp       *mcp.Bridge // the /mcp bridge (mcp.go)
	mcpLocal  *mcp.Local  // its forwarder to this process's sockets
	platforms platforms
	outbox    *outbox.Outbox
	ops       ops // the operator views' records (ops.go)

	purge  chan struct{} // wakes the sweeper after a channel is deleted
	reqIDs *requestIDs

	// Best-effort background tasks (see background.go).
	bgMu     sync.Mutex
	bgClosed bool
	bgWG     sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

// New builds a Server: it loads (or creates) the store's API-key secret and
// server key pair and registers every route.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Log == nil {
		return nil, errors.New("server: Store and Log are required")
	}
	s := &Server{
		cfg:     cfg,
		store:   deps.Store,
		limits:  deps.Limits,
		cluster: deps.Cluster,
		log:     deps.Log.With("component", "server"),
		root:    deps.Log,
		version: deps.Version,
		now:     deps.Now,
		purge:   make(chan struct{}, 1),
		keys:    newKeyCache(keyCacheMax),
		reqIDs:  newRequestIDs(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.limits == nil {
		s.limits = (*ratelimit.Limiters)(nil) // admits everything
	}
	if s.version == "" {
		s.version = "dev"
	}
	s.started = s.now()
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.nonces = newNonceStore(nonceTTL, maxNoncesPerUser)
	var err error
	if _, err = s.identity(ctx); err != nil && !errors.Is(err, storage.ErrUnavailable) {
		return nil, fmt.Errorf("server: %w", err)
	}
	reg := deps.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if s.platforms, err = newPlatforms(deps.Platforms); err != nil {
		return nil, err
	}
	senders := s.platforms.senders()
	for typ, snd := range deps.Senders {
		senders[typ] = snd
	}
	s.ops = newOps(cfg, s.now, reg, s.log)
	outboxOpts := outbox.Options{Log: deps.Log.With("component", "delivery"), Now: s.now, Registry: reg, Outcome: s.deliveryOutcome}
	hubOpts := live.Options{Log: deps.Log.With("component", "ws"), Registry: reg,
		Encode: encodeMessageFrame, Handler: frames{s}, LastClosed: s.lastSocketClosed}
	if c := s.cluster; c != nil {
		s.ops.node, hubOpts.Node = c.Node(), c.Node()
		outboxOpts.Claims = outboxClaims{c}
		hubOpts.Opened = func(userID string, id uint64, at time.Time) { c.SocketOpened(userID, connID(id), at) }
		hubOpts.Closed = func(userID string, id uint64) { c.SocketClosed(userID, connID(id)) }
	}
	s.outbox = outbox.New(cfg.Delivery, deps.Store, senders, outboxOpts)
	s.hub = live.New(cfg.WS, deps.Store, hubOpts)
	if s.cluster != nil {
		s.joinCluster(s.cluster)
	}
	s.newMCP(reg, deps.Log.With("component", "mcp"))
	s.metrics = newMetrics(reg, s)
	s.e = s.routes(reg)
	return s, nil
}

// Notify wakes a user's sockets: a message of theirs became readable. The
// store's change feed calls it (bolt.Options.OnAppend), for the messages of
// this process and, on a shared store, of every other.
func (s *Server) Notify(userID string) { s.hub.Notify(userID) }

// Handler is the relay's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.e }

// Run serves on ln (or, when ln is nil, on the configured address) and runs
// the background loops until ctx is done. It then shuts down gracefully and
// returns once every goroutine it started has returned. The caller closes the
// store afterwards.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr()); err != nil {
			return fmt.Errorf("server: listen: %w", err)
		}
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "version", s.version)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		sc := echo.StartConfig{
			Listener:        ln,
			HideBanner:      true,
			HidePort:        true,
			GracefulTimeout: s.cfg.ShutdownTimeout,
			OnShutdownError: func(err error) { s.log.Warn("graceful shutdown", "err", err) },
			BeforeServeFunc: func(hs *http.Server) error {
				hs.ReadHeaderTimeout = 10 * time.Second // PROTOCOL §1.8: slow clients
				hs.ReadTimeout = 60 * time.Second
				hs.WriteTimeout = 60 * time.Second
				hs.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
				// Shutdown does not wait for hijacked connections: close
				// them (1001) as soon as it begins.
				hs.RegisterOnShutdown(func() {
					s.mcp.Shutdown() // answers waiting MCP requests before their sockets close
					s.hub.Shutdown(live.CloseGoingAway, live.ReasonShutdown)
				})
				return nil
			},
		}
		if err := sc.Start(ctx, s.e); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("server: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error { s.sweepLoop(ctx); return nil })
	g.Go(func() error { every(ctx, time.Minute, s.janitor); return nil })
	g.Go(func() error { every(ctx, time.Minute, s.sampleSockets); return nil })
	g.Go(func() error { s.hub.Run(ctx); return nil })
	g.Go(func() error { s.mcp.Run(ctx); return nil })
	g.Go(func() error { s.outbox.Run(ctx); return nil })
	g.Go(func() error { return s.debugLoop(ctx) })
	for _, pl := range s.platforms.list {
		if r, ok := pl.(channels.Runner); ok {
			g.Go(func() error { return r.Run(ctx, host{s}) })
		}
	}
	err := g.Wait()
	s.mcp.Shutdown()
	s.hub.Shutdown(live.CloseGoingAway, live.ReasonShutdown) // also when serving failed
	s.hub.Wait()
	s.stopBackground()
	return err
}

// every calls fn each period until ctx is done.
func every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// janitor forgets idle rate-limit buckets and expired nonces.
func (s *Server) janitor() {
	s.limits.Prune()
	s.nonces.prune(s.now())
}

// Package natstest runs real nats-servers with JetStream inside a test
// process: one server (Start) or a cluster of several (StartCluster), each on
// its own store directory under t.TempDir(), stoppable and restartable on the
// same directory and ports. Servers log only when the tests run with -v.
//
// An in-process server cannot be killed like a process: Stop shuts it down
// (JetStream flushes what it holds), which is what a test of failover or of
// an unreachable NATS needs; crash tests need a server in a child process.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMaxPayload is the max_payload the servers are started with: large
// enough for the largest record the relay writes (a reply of about 1 MiB
// with its metadata), which NATS's default of 1 MB is not.
const DefaultMaxPayload = 8 << 20

// A server gets startAttempts tries of readyTimeout each to accept
// connections. Under the whole suite's load one did not within 10 s once: a
// port handed out free a moment before may have been taken meanwhile by a
// client's connection, and a second start finds it free again.
const (
	readyTimeout  = 10 * time.Second
	startAttempts = 3
)

// Option changes how a server is configured.
type Option func(*server.Options)

// MaxPayload sets the server's max_payload.
func MaxPayload(n int32) Option { return func(o *server.Options) { o.MaxPayload = n } }

// SyncAlways makes JetStream fsync every write (sync_interval: always).
func SyncAlways() Option { return func(o *server.Options) { o.SyncAlways = true } }

// NoAdvertise keeps a cluster's servers from telling clients of each other
// (cluster no_advertise): a client then knows only the URLs it was given, so
// that stopping its only server cuts it off from a cluster that goes on.
func NoAdvertise() Option { return func(o *server.Options) { o.Cluster.NoAdvertise = true } }

// Server is one nats-server with JetStream. Its methods are safe for
// concurrent use.
type Server struct {
	t    testing.TB
	opts server.Options // the configuration, ports resolved, reused by Restart

	mu  sync.Mutex
	srv *server.Server // nil while stopped
}

// Start starts one server with JetStream on a free port and registers its
// shutdown with t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NotStarted(t, opts...)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// NotStarted returns a server configured like Start's but not running: a
// client can be pointed at its URL before Restart starts it, to test a NATS
// that is unreachable at first.
func NotStarted(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := baseOptions(t, "n1", freePort(t))
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{t: t, opts: o}
	t.Cleanup(s.Stop)
	return s
}

func baseOptions(t testing.TB, name string, port int) server.Options {
	return server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		MaxPayload: DefaultMaxPayload,
		NoLog:      !testing.Verbose(),
		NoSigs:     true,
	}
}

// start runs the server on its configuration and waits until it accepts
// connections. It returns an error rather than failing the test, so that
// servers can be started from other goroutines than the test's.
func (s *Server) start() error {
	for range startAttempts {
		o := s.opts // the server keeps and may change the Options it is given
		srv, err := server.NewServer(&o)
		if err != nil {
			return fmt.Errorf("natstest: new server %s: %w", s.opts.ServerName, err)
		}
		if testing.Verbose() {
			srv.ConfigureLogger()
		}
		srv.Start()
		if srv.ReadyForConnections(readyTimeout) {
			s.mu.Lock()
			s.srv = srv
			s.mu.Unlock()
			return nil
		}
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	return fmt.Errorf("natstest: server %s not ready after %d starts of %s", s.opts.ServerName, startAttempts, readyTimeout)
}

// URL is the server's client URL, the same across restarts.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// Name is the server's name (ServerName), as JetStream reports leaders.
func (s *Server) Name() string { return s.opts.ServerName }

// StoreDir is the directory JetStream keeps its data in.
func (s *Server) StoreDir() string { return s.opts.StoreDir }

// Running reports whether the server is started.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// NATS returns the running server for what this package does not wrap, or
// nil while it is stopped.
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Stop shuts the server down and waits until it has; clients see their
// connection drop. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped server again on the same store directory and
// ports (or a NotStarted one for the first time).
func (s *Server) Restart() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("natstest: restart of running server %s", s.opts.ServerName)
	}
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Cluster is several servers routed to each other, with JetStream clustered.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n servers named n1…nN in one cluster, each configured
// with opts, and waits until JetStream has elected its meta leader, so that
// streams can be created.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	clientPorts, routePorts := make([]int, n), make([]int, n)
	routes := make([]string, n)
	for i := range n {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i])
	}
	c := &Cluster{}
	for i := range n {
		o := baseOptions(t, fmt.Sprintf("n%d", i+1), clientPorts[i])
		o.Cluster = server.ClusterOpts{Name: "relaytest", Host: "127.0.0.1", Port: routePorts[i]}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		for _, opt := range opts {
			opt(&o)
		}
		s := &Server{t: t, opts: o}
		c.Servers = append(c.Servers, s)
		t.Cleanup(s.Stop)
	}
	// Start them together: each waits for its routes, and JetStream for a
	// quorum of the others.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range c.Servers {
		wg.Go(func() { errs[i] = s.start() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.WaitMetaLeader(t)
	return c
}

// URLs is every server's client URL, comma-separated, as an operator would
// give them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Server returns the server named name (as JetStream reports a leader), or
// nil.
func (c *Cluster) Server(name string) *Server {
	for _, s := range c.Servers {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// WaitMetaLeader waits until a running server is JetStream's meta leader and
// every running server is current with it.
func (c *Cluster) WaitMetaLeader(t testing.TB) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); <-tick.C {
		leader, current := false, true
		for _, s := range c.Servers {
			srv := s.NATS()
			if srv == nil {
				continue
			}
			leader = leader || srv.JetStreamIsLeader()
			current = current && srv.JetStreamIsCurrent()
		}
		if leader && current {
			return
		}
	}
	t.Fatal("natstest: no JetStream meta leader after 30s")
}

// freePort returns a TCP port that was free a moment ago, and never the same
// one twice in a test binary (the kernel may hand a closed port out again,
// to another of the tests running in parallel). Servers get fixed ports
// (rather than port -1) so that routes can name them before they start and
// a restarted server comes back where its clients reconnect.
func freePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
}

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// StreamLeader names the server that leads stream, waiting up to 10 s for
// the stream to have a leader; urls are the servers' client URLs.
func StreamLeader(t testing.TB, urls, stream string) string {
	t.Helper()
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := streamInfo(ctx, js, stream)
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			return info.Cluster.Leader
		}
	}
	t.Fatalf("natstest: stream %s has no leader after 10 s", stream)
	return ""
}

func streamInfo(ctx context.Context, js jetstream.JetStream, stream string) (*jetstream.StreamInfo, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}

// Logger logs through t, at debug level (shown with -v and with a failing
// test), and stays quiet once the test is over: a store or node closed by
// a later cleanup may still log.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) }) // registered before the users' Close: runs after it
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

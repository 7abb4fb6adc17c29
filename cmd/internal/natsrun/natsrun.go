// Package natsrun runs nats-servers with JetStream inside the calling
// process, for the tools that start a relay on NATS on one machine
// (relaycluster, relaybench). Tests use storage/jetstream/natstest.
package natsrun

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the servers' max_payload: above the largest record a relay
// with the default body limit writes (1 MiB and 16 KiB), which NATS's
// default of 1 MB is not.
const MaxPayload = 2 << 20

// readyTimeout bounds a server's start, and the cluster's first election.
const readyTimeout = 30 * time.Second

// Options say which servers to run.
type Options struct {
	Dir        string // each server keeps its JetStream files in Dir/<name>
	Servers    int    // how many; more than one form a cluster
	Port       int    // client port of the first server, the next ones follow; 0 picks free ports
	SyncAlways bool   // fsync every write (sync_interval: always)
	Logs       bool   // the servers log to stderr
}

// Cluster is the running servers.
type Cluster struct {
	Servers []*server.Server
	urls    []string
}

// Start starts the servers and waits until they accept connections and,
// when clustered, JetStream has a leader.
func Start(o Options) (*Cluster, error) {
	cfgs, err := o.Configs()
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	for _, cfg := range cfgs {
		s, err := cfg.New()
		if err != nil {
			c.Shutdown()
			return nil, err
		}
		c.Servers = append(c.Servers, s)
		c.urls = append(c.urls, cfg.URL())
	}
	var wg sync.WaitGroup
	for _, s := range c.Servers {
		wg.Go(s.Start) // together: each waits for its routes
	}
	wg.Wait()
	for _, s := range c.Servers {
		if !s.ReadyForConnections(readyTimeout) {
			c.Shutdown()
			return nil, fmt.Errorf("natsrun: %s not ready after %s", s.Name(), readyTimeout)
		}
	}
	if len(c.Servers) > 1 {
		if err := c.waitLeader(); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	return c, nil
}

// Configs are the configurations of o's servers, named n1…nN, on free
// ports unless o.Port is set: what Start runs, or what Spawn runs one by
// one in processes of their own.
func (o Options) Configs() ([]Server, error) {
	n := max(o.Servers, 1)
	clientPorts, err := ports(o.Port, n)
	if err != nil {
		return nil, err
	}
	routePorts, err := ports(0, n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	cfgs := make([]Server, n)
	for i := range cfgs {
		cfgs[i] = Server{Name: fmt.Sprintf("n%d", i+1), Port: clientPorts[i], SyncAlways: o.SyncAlways, Logs: o.Logs}
		cfgs[i].Dir = filepath.Join(o.Dir, cfgs[i].Name)
		if n > 1 {
			cfgs[i].RoutePort, cfgs[i].Routes = routePorts[i], routes
		}
	}
	return cfgs, nil
}

// Server is one server's configuration: Start's servers, or one of a
// cluster whose servers run in separate processes (a test that kills one).
type Server struct {
	Name       string
	Dir        string   // its JetStream files
	Port       int      // client port
	RoutePort  int      // cluster port; 0 for a server on its own
	Routes     []string // every server's route URL (nats-route://127.0.0.1:port)
	SyncAlways bool
	Logs       bool
}

// URL is the server's client URL.
func (cfg Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port) }

// New makes the server, not started yet.
func (cfg Server) New() (*server.Server, error) {
	opts := &server.Options{
		ServerName: cfg.Name, Host: "127.0.0.1", Port: cfg.Port,
		JetStream: true, StoreDir: cfg.Dir, MaxPayload: MaxPayload,
		SyncAlways: cfg.SyncAlways, NoLog: !cfg.Logs, NoSigs: true,
	}
	if cfg.RoutePort != 0 {
		opts.Cluster = server.ClusterOpts{Name: "relay", Host: "127.0.0.1", Port: cfg.RoutePort}
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsrun: %s: %w", cfg.Name, err)
	}
	if cfg.Logs {
		s.ConfigureLogger()
	}
	return s, nil
}

// URLs are the servers' client URLs, comma-separated, as RELAY_NATS_URL
// takes them.
func (c *Cluster) URLs() string { return strings.Join(c.urls, ",") }

// Shutdown stops every server and waits for them.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
	}
	for _, s := range c.Servers {
		s.WaitForShutdown()
	}
}

// waitLeader waits until JetStream's meta leader is elected and every
// server is current with it.
func (c *Cluster) waitLeader() error {
	for deadline := time.Now().Add(readyTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		leader, current := false, true
		for _, s := range c.Servers {
			leader = leader || s.JetStreamIsLeader()
			current = current && s.JetStreamIsCurrent()
		}
		if leader && current {
			return nil
		}
	}
	return errors.New("natsrun: no JetStream leader after " + readyTimeout.String())
}

// ports returns n ports: from first on when first is set, else free ones.
func ports(first, n int) ([]int, error) {
	out := make([]int, n)
	for i := range n {
		if first > 0 {
			out[i] = first + i
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natsrun: free port: %w", err)
		}
		out[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	return out, nil
}

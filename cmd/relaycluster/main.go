// Command relaycluster runs a relay of several nodes on one machine, for
// trying it: NATS servers with JetStream (in this process), relay processes
// on them, and a round-robin load balancer in front. Ctrl-C stops it all.
//
//	make cluster                                   # builds bin/relay and runs this
//	go run ./cmd/relaycluster -bin bin/relay -relays 3
//
// Kill a relay (its pid is printed) to watch its clients move to the
// others; the load balancer skips a relay whose /health fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chaos-relay/relay/cmd/internal/natsrun"
	"github.com/chaos-relay/relay/storage/seal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "relaycluster: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	bin     string
	dir     string
	relays  int
	servers int
	port    int // the load balancer's; relays listen on the next ports
	natsAt  int // the first NATS client port
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("relaycluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bin, "bin", "bin/relay", "the relay binary (make build)")
	fs.StringVar(&c.dir, "dir", "data/cluster", "directory of the NATS servers' files and the root key")
	fs.IntVar(&c.relays, "relays", 2, "relay nodes")
	fs.IntVar(&c.servers, "nats", 3, "NATS servers (1, or 3 for replicas 3)")
	fs.IntVar(&c.port, "port", 8780, "the load balancer's port; relay i listens on port+i")
	fs.IntVar(&c.natsAt, "nats-port", 4222, "the first NATS server's client port; the others follow")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.relays < 1 || c.servers < 1 {
		return c, errors.New("-relays and -nats must be at least 1")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("relay binary: %w (make build)", err)
	}
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return err
	}
	// The key is kept beside the cluster's files, so that a restart opens
	// what the last run stored; a real deployment sets RELAY_ROOT_KEY.
	key, _, err := seal.LoadOrCreateKeyFile(filepath.Join(cfg.dir, "root.key"))
	if err != nil {
		return err
	}
	nats, err := natsrun.Start(natsrun.Options{Dir: filepath.Join(cfg.dir, "nats"), Servers: cfg.servers, Port: cfg.natsAt})
	if err != nil {
		return err
	}
	defer nats.Shutdown()
	replicas := 1
	if cfg.servers >= 3 {
		replicas = 3
	}
	lbURL := fmt.Sprintf("http://127.0.0.1:%d", cfg.port)
	var nodes []*relayProc
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := 1; i <= cfg.relays; i++ {
		n, err := startRelay(cfg.bin, i, stderr, map[string]string{
			"RELAY_NATS_URL":        nats.URLs(),
			"RELAY_NATS_REPLICAS":   fmt.Sprint(replicas),
			"RELAY_ROOT_KEY":        key.Encode(),
			"RELAY_PORT":            fmt.Sprint(cfg.port + i),
			"RELAY_BASE_URL":        lbURL,
			"RELAY_TRUSTED_PROXIES": "127.0.0.1",
			"RELAY_DATA_DIR":        filepath.Join(cfg.dir, fmt.Sprintf("relay-%d", i)),
		})
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	lb, err := newBalancer(cfg.port, nodes)
	if err != nil {
		return err
	}
	defer lb.close()
	go lb.watch(ctx, time.Second)

	fmt.Fprintf(stdout, "relay cluster on %s (round-robin load balancer)\n", lbURL)
	for _, n := range nodes {
		fmt.Fprintf(stdout, "  relay %d  %s  pid %d\n", n.index, n.url, n.cmd.Process.Pid)
	}
	fmt.Fprintf(stdout, "  NATS     %s  (replicas %d, files in %s)\n", nats.URLs(), replicas, cfg.dir)
	fmt.Fprintln(stdout, "Ctrl-C stops it all.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}

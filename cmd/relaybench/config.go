package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// config is the parsed command line.
type config struct {
	URL         string        // a running relay, or ""
	Start       string        // a relay binary to start per run, or ""
	Scenarios   []string      // in the order given
	Duration    time.Duration // of each closed or open loop
	Users       int           // sessions per scenario
	Concurrency int           // closed-loop workers (ingest, noop, poll, e2e senders, fanout senders)
	Rate        int           // e2e webhooks per second
	Sockets     int           // fanout sockets of one user
	Messages    int           // fanout messages
	Idle        int           // idle WebSockets
	Runs        int           // repetitions of each scenario; the table shows medians
	JSON        bool          // machine-readable output
	Grace       time.Duration // how long e2e/fanout wait for the last deliveries
	WSCap       int           // the per-user socket cap of a relay given with -url
	Signed      bool          // register signed (P-256) sessions instead of legacy ones
	CPUProfile  string        // write relaybench's own CPU profile here
	Stores      []string      // with -start: the stores each run is done on, in turn
	Nodes       int           // relay processes of the cluster store
	Backoff     time.Duration // failover: the clients' pause before reconnecting
}

// scenarioNames lists every scenario: the standard set, then failover,
// which needs a relay of several nodes.
var scenarioNames = []string{"noop", "ingest", "e2e", "fanout", "poll", "idle", "failover"}

// standardSet is the default of -scenarios: the scenarios every store runs.
var standardSet = scenarioNames[:6]

// parseConfig reads the flags; usage goes to w.
func parseConfig(args []string, w io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("relaybench", flag.ContinueOnError)
	fs.SetOutput(w)
	var scen, stores string
	fs.StringVar(&c.URL, "url", "", "base URL of a running relay on a loopback address (e.g. http://127.0.0.1:8787)")
	fs.StringVar(&c.Start, "start", "", "path of a relay binary to start for each run on a temporary data dir, rate limits off")
	fs.StringVar(&scen, "scenarios", strings.Join(standardSet, ","), "comma-separated scenarios: "+strings.Join(scenarioNames, ","))
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of each load loop (ingest, noop, poll, e2e)")
	fs.IntVar(&c.Users, "users", 100, "sessions per scenario (ingest channels, e2e sockets, poll followers, idle spread)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "closed-loop workers (ingest, noop, poll) and sender pool (e2e, fanout)")
	fs.IntVar(&c.Rate, "rate", 1000, "e2e: webhooks per second, spread over the users")
	fs.IntVar(&c.Sockets, "sockets", 100, "fanout: sockets of one user")
	fs.IntVar(&c.Messages, "messages", 1000, "fanout: messages sent to that user")
	fs.IntVar(&c.Idle, "idle", 10000, "idle: WebSockets held")
	fs.IntVar(&c.Runs, "runs", 1, "repeat each scenario this many times and report the median")
	fs.BoolVar(&c.JSON, "json", false, "print JSON instead of the table")
	fs.DurationVar(&c.Grace, "grace", 5*time.Second, "e2e/fanout: how long to wait for deliveries after the last send before counting a message lost")
	fs.IntVar(&c.WSCap, "ws-cap", 5, "with -url: the relay's RELAY_WS_MAX_CONN_PER_USER (with -start it is raised as needed)")
	fs.BoolVar(&c.Signed, "signed", false, "register P-256 signed sessions (polls and channel creation are then signed)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write relaybench's own CPU profile to this file (the relay has RELAY_DEBUG_ADDR)")
	fs.StringVar(&stores, "store", storeBolt, "with -start: comma-separated stores, each run of each scenario is done on each in turn: "+strings.Join(storeKinds, ","))
	fs.IntVar(&c.Nodes, "nodes", 2, "relay processes of the cluster store (on three NATS servers, replicas 3)")
	fs.DurationVar(&c.Backoff, "backoff", 500*time.Millisecond, "failover: how long a client waits after its socket closed before it reconnects to another node")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if c.Scenarios, err = splitList(scen, scenarioNames, "scenario"); err != nil {
		return config{}, err
	}
	if c.Stores, err = splitList(stores, storeKinds, "store"); err != nil {
		return config{}, err
	}
	return c, c.validate()
}

// splitList reads a comma-separated list of known names, without repeats.
func splitList(list string, known []string, what string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" || slices.Contains(out, s) {
			continue
		}
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("unknown %s %q (want %s)", what, s, strings.Join(known, ","))
		}
		out = append(out, s)
	}
	return out, nil
}

func (c config) validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check((c.URL == "") != (c.Start == ""), "give exactly one of -url and -start")
	if c.URL != "" {
		errs = append(errs, checkLoopbackURL(c.URL))
	}
	check(len(c.Scenarios) > 0, "no scenario")
	check(c.Duration > 0 && c.Duration <= time.Hour, "-duration must be in (0, 1h]")
	check(c.Users > 0, "-users must be positive")
	check(c.Concurrency > 0 && c.Concurrency <= 10000, "-concurrency must be in [1, 10000]")
	check(c.Rate > 0 && c.Rate <= 1_000_000, "-rate must be in [1, 1000000]")
	check(c.Sockets > 0, "-sockets must be positive")
	check(c.Messages > 0, "-messages must be positive")
	check(c.Idle > 0, "-idle must be positive")
	check(c.Runs > 0 && c.Runs <= 100, "-runs must be in [1, 100]")
	check(c.Grace > 0, "-grace must be positive")
	check(c.WSCap > 0, "-ws-cap must be positive")
	check(len(c.Stores) > 0, "no store")
	check(c.Start != "" || slices.Equal(c.Stores, []string{storeBolt}), "-store is for relays that relaybench starts (-start)")
	check(c.Nodes >= 1 && c.Nodes <= 16, "-nodes must be in [1, 16]")
	check(c.Backoff >= 0, "-backoff must not be negative")
	if slices.Contains(c.Scenarios, "failover") {
		check(slices.Contains(c.Stores, storeCluster) && c.Nodes >= 2, "failover needs -store cluster with -nodes 2 or more")
	}
	return errors.Join(errs...)
}

// checkLoopbackURL accepts only http(s) URLs whose host is localhost or a
// loopback address: the bench must never load anything but this machine.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("URL %q: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed", raw)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// scenarioFunc runs one scenario once against b and returns its figures.
type scenarioFunc func(ctx context.Context, b *bench) ([]metric, error)

func scenarioFor(name string) scenarioFunc {
	switch name {
	case "noop":
		return runNoop
	case "ingest":
		return runIngest
	case "e2e":
		return runE2E
	case "fanout":
		return runFanout
	case "idle":
		return runIdle
	case "poll":
		return runPoll
	case "failover":
		return runFailover
	}
	return nil
}

// defaultWSCap is the relay's default RELAY_WS_MAX_CONN_PER_USER.
const defaultWSCap = 5

// socketsPerUser is the per-user socket cap a scenario needs from a relay
// that relaybench starts: fanout holds every socket on one user, and idle
// spreads its sockets over -users sessions.
func socketsPerUser(name string, cfg config) int {
	switch name {
	case "fanout":
		return max(defaultWSCap, cfg.Sockets)
	case "idle":
		return max(defaultWSCap, (cfg.Idle+cfg.Users-1)/cfg.Users)
	}
	return defaultWSCap
}

// run is the whole program: it returns 0, 1 when a message was lost or
// duplicated or a scenario failed, or 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "relaybench: %v\n", err)
		return 2
	}
	rep := report{Target: "url", Runs: cfg.Runs}
	stores := []string{""} // a relay given with -url runs on whatever it runs on
	if cfg.Start != "" {
		rep.Target, rep.Stores, stores = "start", cfg.Stores, cfg.Stores
	}
	var mu sync.Mutex
	notes := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		rep.Notes = append(rep.Notes, fmt.Sprintf(format, a...))
	}
	if err := raiseFDLimit(); err != nil {
		notes("could not raise RLIMIT_NOFILE: %v", err)
	}
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "relaybench: %v\n", err)
			return 1
		}
		defer stop()
	}
	hc := newHTTPClient(cfg.Concurrency)
	defer hc.CloseIdleConnections()

	// Each run of a scenario is done on each store in turn, so that a
	// change of the machine's speed during the series touches them alike.
	var all []metric
	for _, name := range cfg.Scenarios {
		for i := range cfg.Runs {
			for _, store := range stores {
				if ctx.Err() != nil || (name == "failover" && store != storeCluster) {
					continue
				}
				label := name
				if len(stores) > 1 {
					label += " on " + store
				}
				fmt.Fprintf(stderr, "relaybench: %s run %d/%d\n", label, i+1, cfg.Runs)
				start := time.Now()
				storeNotes := notes
				if len(stores) > 1 {
					storeNotes = func(format string, a ...any) { notes("["+store+"] "+format, a...) }
				}
				ms, err := runOnce(ctx, cfg, hc, name, store, storeNotes, stderr)
				if err != nil {
					rep.Errors = append(rep.Errors, fmt.Sprintf("%s run %d: %v", label, i+1, err))
					fmt.Fprintf(stderr, "relaybench: %s run %d failed: %v\n", label, i+1, err)
					continue
				}
				fmt.Fprintf(stderr, "relaybench: %s run %d done in %s\n", label, i+1, time.Since(start).Round(100*time.Millisecond))
				for j := range ms {
					ms[j].Store = store
				}
				all = append(all, ms...)
			}
		}
	}
	if slices.Contains(cfg.Scenarios, "failover") && len(stores) > 1 {
		notes("failover ran on the cluster store only: it kills a node")
	}
	if ctx.Err() != nil {
		rep.Errors = append(rep.Errors, "interrupted")
	}
	rep.Rows = withRatio(combine(all))
	for _, m := range all {
		if !m.Failure {
			continue
		}
		switch m.Name {
		case "lost":
			rep.Lost += int64(m.Value)
		case "duplicated":
			rep.Duplicated += int64(m.Value)
		}
	}
	if err := writeReport(stdout, rep, cfg.JSON); err != nil {
		fmt.Fprintf(stderr, "relaybench: %v\n", err)
		return 1
	}
	if rep.Lost > 0 || rep.Duplicated > 0 || len(rep.Errors) > 0 {
		return 1
	}
	return 0
}

// runTimeout bounds a whole scenario run beyond its loops: setup of
// thousands of sessions and sockets, the grace period and shutdown.
const runTimeout = 5 * time.Minute

// runOnce runs scenario name once, on a deployment of store of its own when
// -start is set. Progress lines go to progress.
func runOnce(ctx context.Context, cfg config, hc *http.Client, name, store string, notes func(string, ...any), progress io.Writer) (ms []metric, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+cfg.Grace+runTimeout)
	defer cancel()
	defer hc.CloseIdleConnections()
	b := &bench{cfg: cfg, hc: hc, nodes: []string{cfg.URL}, wsCap: cfg.WSCap, notes: notes}
	if cfg.Start != "" {
		b.wsCap = socketsPerUser(name, cfg)
		env := map[string]string{}
		if b.wsCap != defaultWSCap {
			env["RELAY_WS_MAX_CONN_PER_USER"] = strconv.Itoa(b.wsCap)
		}
		if name == "idle" {
			env["RELAY_WS_PING_INTERVAL"] = idlePing.String()
		}
		t := time.Now()
		d, err := startDeployment(ctx, cfg, store, env)
		if err != nil {
			return nil, err
		}
		started := time.Since(t)
		b.dep, b.nodes = d, d.urls()
		cpu0 := takeCPU(d.relays)
		defer func() {
			if err == nil {
				ms = append(ms, cpuMetrics(name, store != storeBolt, cpu0, takeCPU(d.relays))...)
			}
			n, first := 0, ""
			for i, p := range d.relays {
				k, lines := p.errorLines()
				if k > 0 && first == "" {
					first = fmt.Sprintf("node %d: %s", i+1, lines[0])
				}
				n += k
			}
			if n > 0 {
				notes("%s: the relays logged %d errors, first: %s", name, n, first)
			}
			if err == nil {
				ms = append(ms, metric{Scenario: name, Name: "relay errors logged", Unit: "count", Value: float64(n), Agg: aggSum})
			}
			// Close the client's pooled connections first: net/http's Shutdown
			// waits up to 5 s for a connection that never sent a request
			// (one the transport dialled but did not need).
			hc.CloseIdleConnections()
			t := time.Now()
			serr := d.stop()
			fmt.Fprintf(progress, "relaybench: %s: %s started in %s, stopped in %s\n", name, d.describe(),
				started.Round(time.Millisecond), time.Since(t).Round(time.Millisecond))
			if serr != nil && err == nil {
				err = serr
			}
		}()
	}
	b.url = b.nodes[0]
	return scenarioFor(name)(ctx, b)
}

// withRatio adds, for each store, ingest/noop (in %) after ingest's rate
// when both ran, and each other store's ingest as a share of bolt's.
func withRatio(rows []row) []row {
	find := func(store, scenario, metric string) int {
		return slices.IndexFunc(rows, func(r row) bool { return r.Store == store && r.Scenario == scenario && r.Metric == metric })
	}
	ratio := func(store, name string, num, den row) row {
		return row{Store: store, Scenario: "ingest", Metric: name, Unit: "%", Combined: "median",
			Value: 100 * num.Value / den.Value, Runs: min(num.Runs, den.Runs)}
	}
	for _, store := range storesOf(rows) {
		ingest, noop := find(store, "ingest", "acked/s"), find(store, "noop", "requests/s")
		if ingest < 0 {
			continue
		}
		if bolt := find(storeBolt, "ingest", "acked/s"); store != storeBolt && bolt >= 0 && rows[bolt].Value > 0 {
			rows = slices.Insert(rows, ingest+1, ratio(store, "acked/s vs bolt", rows[ingest], rows[bolt]))
		}
		if noop >= 0 && rows[noop].Value > 0 {
			rows = slices.Insert(rows, ingest+1, ratio(store, "ingest/noop", rows[ingest], rows[noop]))
		}
	}
	return rows
}

// reportErrors notes the failed requests of a loop.
func (b *bench) reportErrors(scenario string, s loopStats) {
	if s.failed > 0 {
		b.notes("%s: %d requests failed, first: %v", scenario, s.failed, s.firstErr)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmoke builds the relay, then runs scenarios for about a second with
// tiny sizes through the same start code as -start, on each store, and
// checks that nothing was lost or duplicated and that every figure is sane.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay")
	}
	bin := filepath.Join(t.TempDir(), "relay")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/chaos-relay/relay/cmd/relay")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build relay: %v\n%s", err, out)
	}
	small := []string{"-start", bin, "-json", "-duration", "1s", "-users", "4", "-concurrency", "4", "-rate", "50",
		"-sockets", "8", "-messages", "20", "-idle", "30", "-grace", "5s"}

	t.Run("bolt", func(t *testing.T) {
		rep := smoke(t, append(small, "-scenarios", strings.Join(standardSet, ",")))
		equal(t, rep.Target, "start")
		value := values(rep, "bolt")
		for _, k := range []string{
			"noop requests/s", "noop GET p50",
			"ingest acked/s", "ingest POST p99", "ingest ingest/noop", "ingest commit time (mean)",
			"e2e delivered", "e2e POST→socket p50", "e2e POST→socket max",
			"fanout deliveries/s", "fanout ingest acked/s",
			"poll polls/s", "poll GET p50",
			"idle relay RSS with sockets", "idle handshakes/s",
		} {
			positive(t, value, k)
		}
		if v := value["ingest writes per commit"]; v < 1 || v > 4 {
			t.Errorf("ingest writes per commit = %v, want 1 to 4 (4 senders)", v)
		}
		equal(t, value["idle sockets held"], 30.0)
		equal(t, value["fanout sockets × messages"], 8.0*20)
		equal(t, value["e2e delivered"], 50.0) // 50/s for 1 s, every one matched
		for _, k := range []string{"noop errors", "ingest errors", "e2e errors", "fanout errors", "poll errors", "idle errors",
			"ingest relay errors logged", "e2e relay errors logged"} {
			equal(t, value[k], 0.0)
		}
	})

	// bolt and nats-sync side by side: the ratio row, and a relay on a
	// nats-server that relaybench runs.
	t.Run("nats", func(t *testing.T) {
		rep := smoke(t, append(small, "-scenarios", "ingest,e2e", "-store", "bolt,nats-sync"))
		equal(t, strings.Join(rep.Stores, ","), "bolt,nats-sync")
		bolt, nats := values(rep, "bolt"), values(rep, "nats-sync")
		for _, k := range []string{"ingest acked/s", "ingest commit time (mean)", "e2e POST→socket p50", "ingest CPU relaybench + NATS"} {
			positive(t, nats, k)
		}
		equal(t, nats["ingest acked/s vs bolt"], 100*nats["ingest acked/s"]/bolt["ingest acked/s"])
		equal(t, nats["e2e delivered"], 50.0)
		equal(t, nats["e2e errors"], 0.0)
	})

	// Two relays on three nats-servers: webhooks and sockets on different
	// nodes, and a node killed under load.
	t.Run("cluster", func(t *testing.T) {
		rep := smoke(t, append(small, "-scenarios", "e2e,failover", "-store", "cluster", "-duration", "2s", "-backoff", "100ms"))
		value := values(rep, "cluster")
		equal(t, value["e2e delivered"], 100.0)
		equal(t, value["failover delivered"], 100.0)
		equal(t, value["failover sockets moved"], 4.0)
		for _, k := range []string{"e2e POST→socket p50", "failover kill → every socket receiving again", "failover kill → reconnected max"} {
			positive(t, value, k)
		}
		if v := value["failover kill → first socket receiving again"]; v < 100 {
			t.Errorf("kill → receiving again = %v ms, under the 100 ms back-off", v)
		}
	})
}

// smoke runs relaybench with args and checks that it succeeded with
// nothing lost, duplicated or failed.
func smoke(t *testing.T, args []string) report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	if testing.Verbose() || code != 0 {
		t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	}
	equal(t, code, 0)
	var rep report
	must(t, json.Unmarshal(stdout.Bytes(), &rep))
	equal(t, rep.Lost, int64(0))
	equal(t, rep.Duplicated, int64(0))
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %q", rep.Errors)
	}
	return rep
}

// values are a store's figures by "scenario metric".
func values(rep report, store string) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rep.Rows {
		if r.Store == store {
			out[r.Scenario+" "+r.Metric] = r.Value
		}
	}
	return out
}

func positive(t *testing.T, value map[string]float64, k string) {
	t.Helper()
	if v, ok := value[k]; !ok || !(v > 0) {
		t.Errorf("%s = %v (present %v), want > 0", k, v, ok)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmoke builds the relay, then runs every scenario for about a second
// with tiny sizes through the same start code as -start, and checks that
// nothing was lost or duplicated and that every figure is sane.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay")
	}
	bin := filepath.Join(t.TempDir(), "relay")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/chaos-relay/relay/cmd/relay")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build relay: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{
		"-start", bin, "-json",
		"-scenarios", strings.Join(scenarioNames, ","),
		"-duration", "1s", "-users", "4", "-concurrency", "4", "-rate", "50",
		"-sockets", "8", "-messages", "20", "-idle", "30", "-grace", "5s",
	}, &stdout, &stderr)
	if testing.Verbose() || code != 0 {
		t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	}
	equal(t, code, 0)
	var rep report
	must(t, json.Unmarshal(stdout.Bytes(), &rep))
	equal(t, rep.Target, "start")
	equal(t, rep.Lost, int64(0))
	equal(t, rep.Duplicated, int64(0))
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %q", rep.Errors)
	}
	value := map[string]float64{}
	for _, r := range rep.Rows {
		value[r.Scenario+" "+r.Metric] = r.Value
	}
	for _, k := range []string{
		"noop requests/s", "noop GET p50",
		"ingest acked/s", "ingest POST p99", "ingest ingest/noop", "ingest commit time (mean)",
		"e2e delivered", "e2e POST→socket p50", "e2e POST→socket max",
		"fanout deliveries/s", "fanout ingest acked/s",
		"poll polls/s", "poll GET p50",
		"idle relay RSS with sockets", "idle handshakes/s",
	} {
		if v, ok := value[k]; !ok || !(v > 0) {
			t.Errorf("%s = %v (present %v), want > 0", k, v, ok)
		}
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
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/internal/natsrun"
)

// childEnv marks a re-executed test binary that runs the relay itself, so
// that process-level tests (crash, signals) need no separate build.
const childEnv = "RELAY_TEST_CHILD"

func TestMain(m *testing.M) {
	natsrun.ServeIfChild() // a nats-server process of a test (TestClusterNATSServerKilled)
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signalNotify(context.Background())
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// process is a relay running in a child process.
type process struct {
	cmd  *exec.Cmd
	URL  string
	done chan error

	mu    sync.Mutex
	lines []string // what the relay logged
}

// logged returns the lines the relay has logged so far.
func (p *process) logged() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// startProcess runs the relay on dir in a child process with env added, and
// waits until it listens.
func startProcess(t *testing.T, dir string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), childEnv+"=1", "RELAY_DATA_DIR="+dir, "RELAY_PORT=0",
		"RELAY_LOG_FORMAT=json", "RELAY_RATE_LIMITS=off")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			var line struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
				addr <- line.Addr
			}
			if testing.Verbose() {
				t.Log(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case err := <-p.done:
		t.Fatalf("relay exited before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not start listening")
	}
	return p
}

// kill sends SIGKILL and waits for the process.
func (p *process) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit error.
func (p *process) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not stop on SIGTERM")
		return nil
	}
}

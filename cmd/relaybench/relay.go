package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// relayProc is a relay that relaybench started on a temporary data dir.
type relayProc struct {
	URL string
	cmd *exec.Cmd
	dir string

	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
	killed  atomic.Bool   // by Kill: its exit is no failure

	mu     sync.Mutex
	errors []string // first ERROR log lines
	nerr   int      // ERROR log lines seen
}

// Time limits of the relay's life cycle.
const (
	startTimeout = 20 * time.Second
	stopTimeout  = 30 * time.Second // above the relay's 10 s RELAY_SHUTDOWN_TIMEOUT
	keptErrors   = 5
)

// relayEnv is the environment of a started relay: the caller's, less any
// RELAY_* setting (a stray RELAY_BASE_URL would send webhooks elsewhere),
// plus the benchmark settings.
func relayEnv(dir string, extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"RELAY_DATA_DIR="+dir,
		"RELAY_HOST=127.0.0.1",
		"RELAY_PORT=0",
		"RELAY_RATE_LIMITS=off",
		"RELAY_LOG_LEVEL=warn",
		"RELAY_LOG_FORMAT=json",
	)
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// startRelay runs bin on a new temporary data dir and waits until it
// listens and its /health answers 200 (a relay on NATS answers 503 until it
// has joined the others). The address comes from the JSON log line "listening" (field
// addr) when the relay logs it; at RELAY_LOG_LEVEL=warn the relay logs it at
// info and stays silent, so the listening socket is then found through
// /proc/<pid> instead, which keeps RELAY_PORT=0 free of port races.
func startRelay(ctx context.Context, bin string, extra map[string]string) (*relayProc, error) {
	dir, err := os.MkdirTemp("", "relaybench-")
	if err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = relayEnv(dir, extra)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start relay: %w", err)
	}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start relay: %w", err)
	}
	p := &relayProc{cmd: cmd, dir: dir, done: make(chan struct{})}
	logged := make(chan string, 1)
	go func() {
		p.scanLog(stderr, logged)
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	addr, err := p.awaitAddr(ctx, logged)
	if err != nil {
		p.kill()
		return nil, err
	}
	p.URL = "http://" + addr
	if err := p.awaitHealthy(ctx); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// awaitHealthy polls /health until it answers 200.
func (p *relayProc) awaitHealthy(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(startTimeout)
	status := 0
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/health", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			status = resp.StatusCode
			_ = resp.Body.Close()
			if status == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("start relay: exited before healthy: %v%s", p.waitErr, p.errorTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("start relay: /health not 200 after %s (last %d)%s", startTimeout, status, p.errorTail())
}

// awaitAddr waits for the "listening" line or a listening socket of the process.
func (p *relayProc) awaitAddr(ctx context.Context, logged <-chan string) (string, error) {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case addr := <-logged:
			return addr, nil
		case <-p.done:
			return "", fmt.Errorf("start relay: exited before listening: %v%s", p.waitErr, p.errorTail())
		case <-deadline.C:
			return "", errors.New("start relay: not listening after " + startTimeout.String() + p.errorTail())
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
			if addr, err := listeningAddr(p.cmd.Process.Pid); err == nil && addr != "" {
				return addr, nil
			}
		}
	}
}

// scanLog reads the relay's JSON log: it reports the "listening" address and
// keeps the first ERROR lines as evidence for the report.
func (p *relayProc) scanLog(r io.Reader, logged chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			Addr    string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line.Message == "listening" && line.Addr != "" {
			select {
			case logged <- line.Addr:
			default:
			}
		}
		if line.Level == "ERROR" {
			p.mu.Lock()
			p.nerr++
			if len(p.errors) < keptErrors {
				p.errors = append(p.errors, sc.Text())
			}
			p.mu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, r) // an over-long line ends the scanner; keep the pipe drained
}

// errorLines returns how many ERROR lines the relay logged and the first few.
func (p *relayProc) errorLines() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nerr, append([]string(nil), p.errors...)
}

func (p *relayProc) errorTail() string {
	_, lines := p.errorLines()
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, "; ")
}

// Stop sends SIGTERM, waits for a graceful exit (SIGKILL after stopTimeout)
// and removes the data dir. It reports a non-zero exit, unless Kill ended
// the process.
func (p *relayProc) Stop() error {
	defer os.RemoveAll(p.dir)
	if p.killed.Load() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.kill()
		return errors.New("relay: did not stop within " + stopTimeout.String() + " of SIGTERM; killed")
	}
	if p.waitErr != nil {
		return fmt.Errorf("relay: exit after SIGTERM: %w%s", p.waitErr, p.errorTail())
	}
	return nil
}

// Kill ends the relay with SIGKILL, as a crash would, and waits for it;
// its data dir stays until Stop.
func (p *relayProc) Kill() {
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *relayProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = os.RemoveAll(p.dir)
}

// rss returns the process's resident memory from /proc/<pid>/status (VmRSS).
func (p *relayProc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("relay rss: %w", err)
	}
	return parseVmRSS(string(b))
}

// parseVmRSS reads the VmRSS line ("VmRSS:	  12345 kB") of a /proc status file.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("relay rss: no VmRSS line")
}

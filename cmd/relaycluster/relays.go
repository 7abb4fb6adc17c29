package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// relayProc is a relay node this command started.
type relayProc struct {
	index int
	url   string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
}

// startRelay starts relay node i with env added to this process's own
// (less its RELAY_ settings), its log lines prefixed on out.
func startRelay(bin string, i int, out io.Writer, env map[string]string) (*relayProc, error) {
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") || strings.HasPrefix(kv, "RELAY_ADMIN_KEY") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay %d: %w", i, err)
	}
	p := &relayProc{index: i, url: "http://127.0.0.1:" + env["RELAY_PORT"], cmd: cmd, done: make(chan struct{})}
	go func() {
		prefix := fmt.Sprintf("[relay %d] ", i)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if line := sc.Text(); !strings.Contains(line, "route=/health status=200") { // the balancer's checks
				fmt.Fprintln(out, prefix+line)
			}
		}
		err := cmd.Wait()
		fmt.Fprintf(out, "%sexited: %v\n", prefix, err)
		close(p.done)
	}()
	return p, nil
}

// stop asks the relay to shut down gracefully (its leases move at once),
// and kills it if it has not after 15 s.
func (p *relayProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

package natsrun

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// childEnv holds the configuration (JSON, Server) of a process that runs
// one server: a binary re-executed by Spawn.
const childEnv = "NATSRUN_SERVER"

// ServeIfChild runs the server of a process that Spawn started, until the
// process is killed, and exits; in any other process it returns at once.
// A binary that spawns servers calls it first thing in main (or TestMain).
func ServeIfChild() {
	v := os.Getenv(childEnv)
	if v == "" {
		return
	}
	var cfg Server
	if err := json.Unmarshal([]byte(v), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "natsrun:", err)
		os.Exit(2)
	}
	s, err := cfg.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go s.Start() // waits for its routes
	s.WaitForShutdown()
	os.Exit(0)
}

// Process is a server in a child process.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	done chan struct{}
}

// Spawn starts the server cfg in a child process running this binary
// again, which must call ServeIfChild.
func Spawn(cfg Server) (*Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("natsrun: %s: %w", cfg.Name, err)
	}
	p := &Process{Name: cfg.Name, Cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Kill kills the server with SIGKILL and waits for it.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

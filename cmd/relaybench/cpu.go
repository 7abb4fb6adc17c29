package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of /proc CPU times (USER_HZ, 100 on every Linux build
// that matters here).
const userHZ = 100

// cpuSnap is a moment's CPU accounting: the machine's busy time, relaybench's
// own and the relays', in seconds.
type cpuSnap struct {
	at                time.Time
	busy, self, relay float64
	ok                bool
}

// takeCPU reads /proc/stat, getrusage and each relay's CPU time.
func takeCPU(relays []*relayProc) cpuSnap {
	s := cpuSnap{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	busy, err := parseProcStatBusy(string(b))
	if err != nil {
		return s
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s
	}
	s.busy = busy
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	for _, p := range relays {
		v, err := p.cpu()
		if err != nil {
			return s
		}
		s.relay += v
	}
	s.ok = true
	return s
}

// cpu is the relay's CPU time in seconds: from /proc/<pid>/stat while it
// runs, from its exit status once it has exited (a killed node).
func (p *relayProc) cpu() (float64, error) {
	select {
	case <-p.done:
		st := p.cmd.ProcessState
		return (st.UserTime() + st.SystemTime()).Seconds(), nil
	default:
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parsePidStatCPU(string(b))
}

// cpuMetrics is how many cores the relays, relaybench and everything else
// on the machine kept busy between a and b: with the load generator on the
// same cores, "other" shows interference from unrelated work. withNATS
// says that the NATS servers ran inside relaybench, which its figure then
// includes.
func cpuMetrics(scenario string, withNATS bool, a, b cpuSnap) []metric {
	d := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || d <= 0 {
		return nil
	}
	relay, self := (b.relay-a.relay)/d, (b.self-a.self)/d
	selfName := "CPU relaybench"
	if withNATS {
		selfName = "CPU relaybench + NATS"
	}
	other := max((b.busy-a.busy)/d-relay-self, 0)
	return []metric{
		{Scenario: scenario, Name: "CPU relay", Unit: "cores", Value: relay},
		{Scenario: scenario, Name: selfName, Unit: "cores", Value: self},
		{Scenario: scenario, Name: "CPU other processes", Unit: "cores", Value: other},
	}
}

// parseProcStatBusy returns the busy seconds of the "cpu" line of /proc/stat:
// user, nice, system and steal. Not idle and iowait, and not irq and
// softirq either: loopback networking runs there, for relay and relaybench
// alike, and would be misread as other load.
func parseProcStatBusy(stat string) (float64, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 8} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return busy / userHZ, nil
}

// parsePidStatCPU returns utime+stime, in seconds, of a /proc/<pid>/stat line.
// The command name (field 2) may hold spaces, so fields count from its ")".
func parsePidStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc/pid/stat: no command")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("/proc/pid/stat: short")
	}
	utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/pid/stat: %w", err)
	}
	return (utime + stime) / userHZ, nil
}

// startCPUProfile profiles relaybench itself into path until stop is called:
// the load generator shares the cores with the relay, so its cost matters.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

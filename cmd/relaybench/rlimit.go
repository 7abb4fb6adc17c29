package main

import "syscall"

// raiseFDLimit lifts the soft RLIMIT_NOFILE to the hard limit, so that the
// idle scenario can hold as many sockets as one process may (the Go runtime
// does this too on Linux, but saying it here keeps it explicit). A relay that
// relaybench starts inherits the raised limit.
func raiseFDLimit() error {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	if r.Cur >= r.Max {
		return nil
	}
	r.Cur = r.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
}

// fdLimit is the soft RLIMIT_NOFILE: how many descriptors this process may hold.
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	return int(min(r.Cur, 1<<30))
}

//go:build unix

package live

import (
	"net"
	"syscall"
)

// waitReadable parks the caller until conn has bytes to read, has failed, or
// its read deadline has passed. It peeks without consuming, so the next read
// sees everything (a reset or EOF included); a peek that finds nothing arms
// the poller before the caller parks, so no arrival is missed.
func waitReadable(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var b [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EINTR
	})
}

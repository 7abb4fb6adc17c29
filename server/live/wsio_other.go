//go:build !unix

package live

import "net"

// waitReadable is a no-op where the relay cannot peek at a socket: the reader
// then parks inside gorilla, on a deeper (larger) stack.
func waitReadable(net.Conn) error { return nil }

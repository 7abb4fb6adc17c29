package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listeningAddr returns the address of a listening TCP socket owned by pid,
// or "" while it has none: the socket inodes among /proc/<pid>/fd are matched
// against the LISTEN entries of /proc/<pid>/net/tcp and tcp6.
func listeningAddr(pid int) (string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return "", err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		if addr := findListener(string(b), inodes); addr != "" {
			return addr, nil
		}
	}
	return "", nil
}

// findListener returns the local address of the first LISTEN entry of a
// /proc/net/tcp{,6} table whose inode is in inodes.
func findListener(table string, inodes map[string]bool) string {
	const listen = "0A"
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != listen || !inodes[f[9]] {
			continue
		}
		addr, err := parseProcAddr(f[1])
		if err != nil {
			continue
		}
		return addr
	}
	return ""
}

// parseProcAddr decodes "0100007F:1F90" (the kernel's hex address, in host
// byte order per 32-bit word, and big-endian hex port) into "127.0.0.1:8080".
func parseProcAddr(s string) (string, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return "", errors.New("no port")
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("bad address %q", hexIP)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad port %q", hexPort)
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 { // each 32-bit word is little-endian on the hosts we run on
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	if v4 := ip.To4(); v4 != nil && len(raw) == 4 {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port))), nil
}

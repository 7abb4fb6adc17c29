package admin

import "time"

// Node is a node of a relay of several, as the dashboard shows it.
type Node struct {
	ID      string
	Version string
	Addr    string    // the URL it serves, as it announces it
	Started time.Time // when its process started
	Beat    time.Time // its last heartbeat
	Sockets int       // its open WebSockets
	Self    bool      // the node that answered
	Leases  []string  // what it holds: "discord.<bot>" gateway sessions, "sweep", outbox channels
}

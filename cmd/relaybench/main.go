// Command relaybench is the relay's load generator: it drives a running relay
// (-url) or one it starts itself on a temporary database (-start) through
// standard scenarios and prints one table of measured figures.
//
//	relaybench -start ./relay -scenarios noop,ingest,e2e,fanout,poll,idle -duration 5s -idle 2000
//	relaybench -url http://127.0.0.1:8787 -scenarios ingest -runs 3 -json
//
// Scenarios (see BENCHMARKS.md for the targets):
//
//	noop    closed-loop GET /health: the HTTP ceiling ingest is compared with
//	ingest  closed-loop webhooks over -users channels: durable acks/s and POST latency
//	e2e     webhooks at -rate over -users WebSockets: POST-to-socket latency, lost, duplicated
//	fanout  -sockets sockets of one user, -messages webhooks: deliveries/s
//	idle    -idle idle WebSockets: the relay's resident memory per connection
//	poll    closed-loop GET /messages following since: polls/s
//
// Only loopback relays are accepted. Every request loop stops by itself after
// -duration (or its count bound). The exit status is 1 when a message was
// lost or duplicated, or a scenario failed, and 2 for a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Command relaybench is the relay's load generator: it drives a running relay
// (-url) or one it starts itself on a temporary database (-start) through
// standard scenarios and prints one table of measured figures.
//
//	relaybench -start ./relay -scenarios noop,ingest,e2e,fanout,poll,idle -duration 5s -idle 2000
//	relaybench -url http://127.0.0.1:8787 -scenarios ingest -runs 3 -json
//	relaybench -start ./relay -store bolt,nats,nats-sync -scenarios noop,ingest,e2e,fanout
//	relaybench -start ./relay -store bolt,cluster -scenarios ingest,e2e,fanout,failover
//
// With -start, each run of each scenario is done on each store of -store in
// turn, on a fresh deployment, and the table sets the stores side by side:
//
//	bolt       one relay on bbolt in a temporary data dir
//	nats       one relay on one nats-server (its default sync, every 2 minutes)
//	nats-sync  the same with sync_interval: always
//	cluster    -nodes relays on three nats-servers, replicas 3
//
// The nats-servers run inside relaybench (a fresh temporary directory per
// run), so its CPU figure includes theirs. On several nodes the scenarios
// spread the load: ingest sends each channel's webhooks round the nodes, e2e
// puts each socket on a node other than the one its webhooks go to, fanout
// sends to node 1 and reads on the others.
//
// Scenarios (see BENCHMARKS.md for the targets):
//
//	noop      closed-loop GET /health: the HTTP ceiling ingest is compared with
//	ingest    closed-loop webhooks over -users channels: durable acks/s and POST latency
//	e2e       webhooks at -rate over -users WebSockets: POST-to-socket latency, lost, duplicated
//	fanout    -sockets sockets of one user, -messages webhooks: deliveries/s
//	idle      -idle idle WebSockets: the relay's resident memory per connection
//	poll      closed-loop GET /messages following since: polls/s
//	failover  (cluster only) e2e with sockets on node 1 and webhooks through node 2;
//	          node 1 is SIGKILLed halfway and its clients reconnect to node 2 with
//	          since after -backoff: time until they receive again, lost, duplicated
//
// Only loopback relays are accepted. Every request loop stops by itself after
// -duration (or its count bound). The exit status is 1 when a message was
// lost or duplicated, or a scenario failed, and 2 for a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is relaybench's GOGC unless the environment sets one. The load
// generator allocates fast, and the nats-servers it starts share its heap:
// at the default of 100 its collections delay the servers' answers and its
// own clocks (schedule lag), and both show up as the relay's latency.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

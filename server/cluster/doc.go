// Package cluster is what the nodes of a multi-node relay share over NATS,
// so that any number of relay processes on one JetStream cluster act as
// one relay: membership, leases, single-use nonces, rate limits counted
// across nodes, a registry of open sockets, and requests between nodes.
//
// A process joins with Join, on the connection its JetStream store uses,
// and leaves with Close. Nothing here is persistent state of the relay:
// every bucket can be lost with no more harm than a moment of confusion.
//
// # Buckets and subjects
//
// Six KV buckets, named by Options.Prefix ("relay" by default), each with
// Options.Replicas replicas:
//
//	<prefix>_nodes    node id → heartbeat (JSON); expires DeadAfter after its write
//	<prefix>_leases   lease name (or its hash) → holder and name (JSON); expires LeaseTTL after its write
//	<prefix>_nonces   <user>.<nonce, hex> → empty; expires after 10 minutes
//	<prefix>_rates    <limit>.<hash of key> → theoretical arrival time (Unix ns); expires once past
//	<prefix>_sockets  <user>.<node>.<conn> → opening time (RFC 3339); until closed or swept
//	<prefix>_mcp      <user>.<hash of session id> → MCP session (JSON); expires the session TTL after its last use written
//
// User ids and names that are not plain tokens ([A-Za-z0-9_-]) are stored
// as "=" and a hash; rate keys (client IPs among them) always are.
// Deletions and expiries leave markers that expire after a minute.
// Requests between nodes use core NATS on "<prefix>_cluster.node.<id>.<kind>",
// and the MCP bridge's cancellations go to every node on
// "<prefix>_cluster.mcp.cancel": outside "<prefix>.>", which the JetStream
// store's stream takes (a request there would be stored, and the stream's
// acknowledgement would race the node's answer).
//
// Every node keeps a local copy of the nodes, leases and sockets buckets,
// kept current by a watcher, so that reads (Nodes, Holders, SocketNodes,
// OnExcess) cost nothing. A copy starts over from a snapshot after a
// reconnect and every five minutes, in case it missed a change.
//
// # Cost per operation
//
//   - Heartbeat: one KV put per node every Heartbeat (2 s).
//   - Lease: a holder renews with one compare-and-set every LeaseTTL/3
//     (5 s). A campaign tries when the key is deleted or expires, and
//     otherwise every LeaseTTL/6 to LeaseTTL/3 while no live holder is
//     seen renewing: one round trip when the lease is free, two when not.
//     Release: one delete.
//   - UseNonce: one KV create.
//   - Limiters.Allow: nothing for a request served from tokens this node
//     took earlier (a chunk of 100 ms worth of the rate, at least one) or
//     refused because the key is known to be empty until some time;
//     otherwise one compare-and-set, plus a read of the stream leader and
//     another compare-and-set per conflict with another node.
//   - SocketOpened, SocketClosed: one KV write each, in the background.
//   - Request: one core NATS request; a cancellation, one more message.
//
// # Failures
//
// While NATS is unreachable (or JetStream has no leader, for a few seconds
// after a server is lost) writes fail or time out:
//
//   - Heartbeats stop, and after DeadAfter the other nodes see this node
//     dead: they ignore its sockets, and the janitor (whoever holds the
//     "janitor" lease) removes them.
//   - A held lease is given up (Held turns false, Run's function is
//     cancelled with ErrLeaseLost) once it has gone unrenewed for LeaseTTL
//     since its last renewal was sent: never after the bucket expires it,
//     so two holders never overlap in time, up to how long a holder takes
//     to stop. There is no fencing token: what a lease guards must tolerate
//     a holder that notices late.
//   - UseNonce returns an error: the caller should refuse (fail closed).
//   - Limiters.Allow answers with this node's own limiter (ratelimit), so a
//     client may get up to one burst per node during an outage.
//   - Socket writes are dropped, and repaired on reconnect and by each
//     node's periodic reconciliation (every DeadAfter).
//   - OnCutOff tells the relay once the outage has lasted long enough; on
//     reconnect the node writes its heartbeat and its sockets again at once.
//
// # Clocks
//
// Whether a node is alive is decided by the bucket's expiry of its
// heartbeat (the servers' clocks), not by comparing beat times, so nodes
// whose clocks disagree do not declare each other dead. A lease's deadline
// is measured on the holder's monotonic clock from when it sent its last
// renewal, which precedes the server's timestamp. Socket opening times and
// rate limits use the nodes' wall clocks (Options.Now): nodes should agree
// within a second, as NTP ensures: a node whose clock runs ahead of the
// others' admits up to its lead's worth of the rate more, one behind less.
package cluster

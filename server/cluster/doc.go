// Package cluster makes relay processes on one NATS JetStream system the
// nodes of one relay: behind a load balancer without sticky sessions, any
// node may serve any request. It is the relay's server.Cluster, assembled
// by cmd/relay/app.
//
// A node joins (Join) over the connection it shares with the JetStream
// store, and keeps what the nodes share in KV buckets. Each node follows
// the buckets of nodes, leases, sockets and MCP sessions with a local copy,
// kept current through a watch, so that reading them costs no round trip:
//
//   - "<prefix>_nodes": heartbeats. A node is alive while its heartbeat
//     is there; the bucket expires it DeadAfter after it was written.
//   - "<prefix>_leases": leases, each held by one node at a time (Lease),
//     expired when not renewed.
//   - "<prefix>_nonces": the nonces of signed requests, each usable once
//     in the whole relay (UseNonce).
//   - "<prefix>_rates": the rate limits' buckets, shared (Limiters).
//   - "<prefix>_sockets": every node's open WebSockets, for the per-user
//     cap and for finding the node holding a user's sockets.
//   - "<prefix>_mcp": the MCP bridge's sessions (MCPSessions), each
//     expiring the session TTL after its last use written.
//
// Nodes talk to each other over core NATS: requests to one node on
// "<prefix>_cluster.node.<id>.<kind>" (Handle, Request; the MCP Forwarder
// is one kind) and the MCP bridge's cancellations to every node on
// "<prefix>_cluster.mcp.cancel". These subjects are outside "<prefix>.>",
// which the JetStream store's stream takes.
package cluster

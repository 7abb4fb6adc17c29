// Package mcp is the relay's MCP bridge (PROTOCOL §13): it serves each agent
// of a session's browser extension as an MCP server at /mcp/<agentId>, over
// the Streamable HTTP transport of MCP revision 2025-11-25.
//
// The bridge answers the handshake and the catalogue itself, and forwards
// tools/call, resources/read and prompts/get to the user's extension as
// WebSocket mcp-request frames, returning the matching mcp-response as the
// HTTP answer. It does not authenticate: the server mounts it behind
// Bearer-only authentication and the mcp:<userId> rate limit, and hands it
// the user, the agent and the body (Bridge.Serve).
//
// Reaching the extension is behind one small interface, Forwarder: Local
// sends to the sockets of this process (a live.Hub); a multi-node relay can
// put a request/reply transport behind the same interface.
package mcp

// Package client is the Go way to talk to a relay: registration, signed requests, channels,
// lossless polling and replies.
//
// A session starts with [Register]. With a P-256 key (see [GenerateKey]) every protected
// request is signed as PROTOCOL.md §2.5 describes; without one the session is a legacy
// session and sends only the bearer token. The returned [*Client] builds and sends the
// requests of the HTTP API; [Responses] and [PostWebhook] cover the two public routes that an
// external system uses around a webhook channel.
//
// Every JSON answer is decoded with [encoding/json.Decoder.UseNumber], so numbers inside
// metadata (Telegram chat ids, for example) arrive as exact [encoding/json.Number] values and
// go back unchanged when a reply echoes the inbound metadata.
package client

// Package client talks to a relay from Go: it registers a session, manages the session's
// channels, receives its messages (live over a WebSocket, or by polling) and sends replies.
//
// Which function to call for what:
//
//   - [Register] creates a session, or reclaims the one registered with the same key, and
//     returns a [*Client]. With a key from [GenerateKey] every request is signed as the
//     browser extension signs them (docs/protocol.md §2.5); with a nil key the session is a
//     legacy one that sends only its bearer token. To resume a saved session, set the
//     Client's fields (BaseURL, UserID, APIKey, Key, Cursor) instead of registering.
//   - [Client.CreateChannel] creates a channel; for a webhook channel it also returns the
//     webhook URL that external systems post to. [Client.Channels], [Client.UpdateChannel]
//     and [Client.DeleteChannel] list, change and remove channels.
//   - [Client.Subscribe] receives messages as they arrive, over the WebSocket (/ws): it
//     calls a function for each message, in order and once. After any disconnect it
//     reconnects with back-off and resumes with since set to the last message's timestamp,
//     so nothing is lost or repeated. [Client.DialWS] opens the bare socket instead.
//   - [Client.Poll] reads the next page of messages over HTTP (GET /messages) and keeps the
//     cursor; call it again at once while the page's HasMore is true. [Client.Messages]
//     reads a page after any cursor. Subscribe and Poll share Client.Cursor: use one of
//     them at a time.
//   - [Client.Reply] answers through a channel. The relay stores the reply durably and
//     delivers it to Telegram, Discord or email, retrying until it gets through; a webhook
//     channel's replies are read back with [Responses].
//   - [PostWebhook] and [Responses] are the two public routes an external system uses around
//     a webhook channel: post a message, and read the replies.
//   - [Client.NewRequest] and [Client.Do] send any other authenticated request.
//
// A non-2xx answer is an [*Error] (reach it with errors.As): it holds the status, the
// relay's exact error text and any Retry-After.
//
// Every JSON answer is decoded with [encoding/json.Decoder.UseNumber], so numbers inside
// metadata (Telegram chat ids, for example) arrive as exact [encoding/json.Number] values and
// go back unchanged when a reply echoes the inbound metadata.
package client

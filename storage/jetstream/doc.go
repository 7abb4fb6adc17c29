// Package jetstream is the relay's storage backend on NATS JetStream: every
// record lives in one stream, nothing on local disk, and several relay
// processes, each with its own Store, can share it.
//
// # Layout
//
// One stream, named by Options.Prefix (default "relay"), holds every record
// under the subjects "<prefix>.>", so that any multi-record change can be
// one atomic batch (JetStream batches are atomic within one stream):
//
//	m.<userId>                 a user's message log: messages, key entries, and markers
//	r.out.<channelId>          a channel's response log: responses, and markers
//	r.user.<userId>            user (without its public key)
//	r.ukey.<userId>            the user's public key, sealed
//	r.key.<hex(apiKeyHash)>    API-key index → user
//	r.fp.<hex(fpHash)>         reclaim index → user, by storage.FingerprintHash
//	r.ch.<channelId>           channel (live, or deleted until purged), null in place of secret members
//	r.sec.<channelId>.<name>   sealed channel secret; "meta:<member>" holds a secret metadata member
//	r.addr.<address>           inbound email address → channel
//	r.rt.<channelId>           reply target
//	r.dlv.<responseId>         delivery record
//	r.adm.<hex(tokenHash)>     sealed admin session
//	r.meta.<name>              sealed store secrets ("secret:<name>", the index key among them), the root key's check value
//	r.floor.<name>             what an import carried over: the clock's floor, the channels' Seq
//
// Keys outside [A-Za-z0-9_-] are written as "~" and their base64url, long
// ones as "~~" and a hash (subjects.go). A record subject holds one message:
// every write rolls it up (Nats-Rollup: sub), and a deletion writes a
// tombstone that expires after TombstoneTTL. A log subject holds its items
// in timestamp order; markers on it remove items (see Sweep, PurgeDeleted,
// DeleteUser). Every item carries its timestamp in the Relay-Ts header, a
// message its channel's id in Relay-Ch, the expiry of a retention of its
// own in Relay-Exp, and its dedupe key and accepted sender in Relay-Key.
//
// What a copy of the stream would give away is sealed (PROTOCOL §11.3): the
// public key, the channels' secrets and secret metadata members, admin
// sessions and store secrets are sealed with storage/seal under the
// associated data package storage defines (export.go), the same as
// storage/bolt's, so that they move between backends unopened; the reclaim
// index holds a keyed hash of the fingerprint. A write puts a channel's
// members before its record, so that a view applies the record with them.
//
// # Reads: the view and the index
//
// Every instance keeps in memory a view of the records (view.go: every
// record decoded; response bodies only while their delivery is pending) and
// an index of the message logs (msgindex.go: each user's timestamps with
// their stream sequences, 16 bytes per retained message, and the keys the
// entries carry), loaded at Open and
// kept current by two consumers (follow.go): one delivers the records, the other
// the message logs. Reads are answered from memory; message and response
// bodies are fetched by the sequences the index lists, with one direct get
// each, sent all at once (getter.go), except the messages appended lately,
// by this instance or another, which a live reader finds in memory
// (recent.go). A point lookup that misses the view (a record another
// instance wrote a moment ago) asks the stream leader before answering "not
// found".
//
// What another instance wrote reaches this one's view a moment later (the
// consumer's delivery, about a millisecond): until then a read here may
// miss a new message (never skip one: see below) or see a channel as it was.
// A write never acts on a stale view of what it depends on: its
// expectations fail, and it retries; and a write is derived again when the
// view changed while it was derived, so that what it expects is what it
// read. (Writes where the last writer wins, a reply target or an admin
// session, expect nothing.)
//
// # Writes: optimistic concurrency
//
// A write publishes its messages expecting the last sequence of each
// subject it read (Nats-Expected-Last-Subject-Sequence, or its -Subject
// variant for a record it only read), taken from the view or the index. If
// another instance wrote first, JetStream refuses the whole write; the
// writer brings its view up to date (records are read again from the
// leader, logs are caught up by the consumer), derives the write again and
// retries. Several messages go out as one atomic batch (orbit.go
// jetstreamext) whose commit is the only request: every write costs one
// round trip. A write returns nil only once JetStream acknowledged it, that
// is once a quorum of the stream's replicas stored it; it is then applied
// to this instance's view and index before it returns, so the caller's next
// read sees it.
//
// Appends: the index knows each user's last sequence and newest timestamp,
// so an append assigns max(now, newest+1 ms) and publishes expecting the
// last sequence: one round trip. Per user, sequence order is therefore
// timestamp order, and this instance's appends for a user take turns (they
// would only conflict). An index is applied in stream order, so it is
// always a prefix of the log: a poller may lag on another instance, never
// skip, and timestamps are exact cursors. The consumer that keeps the index
// current is also the change feed: Options.OnAppend fires when a message of
// any instance becomes readable here.
//
// Dedupe: a message carries its dedupe key and its accepted sender in its
// headers, and the index keeps them per log (a hash of channel and key, and
// the entry that carries it). An append refuses a key its channel has in
// the index, and since the index holds the log up to the sequence the
// append expects, the refusal is atomic with the append across instances.
// Keys go with the messages that carry them (their retention is the
// channel's, as in storage/bolt, unless the channel's retention changes
// after they were stored), and a deleted channel's are forgotten by a
// marker of its deletion, so that an id created again starts afresh. An
// imported key is a key entry of its own, removed at its channel's cutoff.
//
// The backlog cap counts the index; since a sweep's marker is the log's
// last message, a count at the cap is exact once the index holds the log's
// last message, which is checked before refusing.
//
// Responses and deliveries: a response and its delivery record are one
// atomic batch, expecting the channel's response log and the channel record.
// Pending deliveries are indexed in the view (PendingHeads, PendingCounts).
// An atomic batch costs more than a publish on a single-replica file stream
// (the server stages it in a file store of its own: about 3 ms on a local
// disk); with replicas it is staged in memory. Appends stay single
// publishes unless they carry a new reply target.
//
// Sweep: a removal marker on a user's log, expecting its last sequence,
// lists the entries it removes (messages stored with a retention of their
// own once it passed, others older than the relay's retention, key entries
// older than their channel's) and carries the newest removed timestamp for
// good: the floor of new timestamps, and the user's horizon (the gap
// signal). Then the log is purged below the first kept entry, and what was
// removed behind it is deleted one by one. Responses are removed by their
// channel's retention with a marker that lists them and their delivery
// tombstones in one batch, then deleted. DeleteChannel marks the channel
// deleted, deletes its secrets, address and reply target, fails its pending
// deliveries, closes its response log and forgets its keys in one batch;
// PurgeDeleted removes its deliveries, then drops its response log and
// deletes its record (releasing the id) in a last batch. Changes too large
// for one batch are split (maxWriteMsgs).
//
// Export copies this instance's view and index and reads the bodies by
// sequence (export.go says what that snapshot is); Import writes the
// records in atomic batches and, when it fails or the file was cut short,
// purges what it wrote.
//
// # Faults
//
// Open does not fail when NATS is unreachable: it connects in the background
// without end (back-off up to MaxReconnectWait), then creates or updates the
// stream, loads the view and checks the root key; Health().Open is false
// until then, and Wait tells when. While disconnected every call fails with
// storage.ErrUnavailable after waiting up to 500 ms for the connection to
// come back (a move to another server of a cluster); publishes are never
// buffered. While connected but JetStream does not answer (a leader
// election), a write is retried with the very same messages for up to
// WriteTimeout: their expectations let at most one attempt be stored, and
// when an attempt's answer was lost, a later conflict is resolved by looking
// for the write's nonce (Relay-Tx) right after the sequence it expected
// (commit.go). So a retried write is never stored twice, and never reported
// stored when it was not.
//
// # Root key
//
// The first Open stores a value sealed under the root key; an Open with
// another key finds it (or any other sealed value) under a different key id
// and refuses with an error wrapping seal.ErrWrongKey.
//
// # Sizes
//
// NATS refuses messages larger than the server's max_payload (1 MB by
// default). The largest record the relay writes is a reply with its
// metadata, bounded by the request body limit (1 MiB by default), which
// does not fit. Rather than store records in parts, Open checks the
// server's max_payload against Options.MaxRecordBytes (the body limit plus
// 16 KiB) and refuses to start with a message saying what to set
// ("max_payload: 2MB" for the defaults).
package jetstream

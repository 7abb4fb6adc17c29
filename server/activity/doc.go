// Package activity keeps, in memory and bounded, what the relay's operator
// views show beyond the store: traffic per minute over the last 24 hours (the
// dashboard's charts), when each recent message was received and stored,
// who polled what and when (the connections view and message timelines), and
// when each channel last received a message (silent channels).
//
// None of it survives a restart, and none of it is needed to deliver a
// message: each type takes one short lock per event and allocates little, on
// paths that already commit to the store (ingest, replies, polls).
package activity

package storage

import "time"

// Item is an inbound message or a response, for the admin views that show
// both directions together.
type Item struct {
	Out         bool // a response (agent → channel)
	ID          string
	UserID      string
	ChannelType string
	ChannelID   string
	From        string
	Content     string
	Timestamp   time.Time
	Delivery    *Delivery // responses only
}

// Entry is a raw store record for the read-only store browser. Keys are
// split into their segments; Value is JSON when the record is JSON.
type Entry struct {
	Key    []string
	Value  []byte
	Sealed bool
}

// BucketCount is a top-level bucket and how many records it holds.
type BucketCount struct {
	Name  string
	Count int
}

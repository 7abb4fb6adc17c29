package storage

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewID returns a random UUIDv4 string (RFC 9562).
func NewID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return FormatUUID(u)
}

// NewTimeID returns a UUIDv7 whose unix_ts_ms field is t (PROTOCOL §1.4): ids
// sort by time, and the 74 other bits are random.
func NewTimeID(t time.Time) string {
	var random [10]byte
	_, _ = rand.Read(random[:])
	return TimeID(t, random)
}

// TimeID is NewTimeID with the random bits given, so that a caller can draw
// them before entering a critical section.
func TimeID(t time.Time, random [10]byte) string {
	var u [16]byte
	copy(u[6:], random[:])
	ms := uint64(t.UnixMilli())
	u[0], u[1], u[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	u[3], u[4], u[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = (u[6] & 0x0f) | 0x70
	u[8] = (u[8] & 0x3f) | 0x80
	return FormatUUID(u)
}

// FormatUUID renders 16 bytes as a lowercase 8-4-4-4-12 UUID string.
func FormatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

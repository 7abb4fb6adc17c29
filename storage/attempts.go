package storage

import "time"

// Results of a delivery attempt, as its history records them.
const (
	AttemptSent   = "sent"   // every part was accepted
	AttemptRetry  = "retry"  // the attempt failed; another is scheduled
	AttemptFailed = "failed" // the attempt failed and the delivery with it
)

// Bounds of a delivery record's history: it is rewritten with every attempt
// and read by every scan of the delivery records, so it stays small.
const (
	MaxAttemptHistory = 20  // the newest attempts kept
	MaxAttemptError   = 300 // bytes of an attempt's error kept
)

// Attempt is one delivery attempt in a delivery record's history (an
// addition to PROTOCOL §7.5, written by the outbox).
type Attempt struct {
	At time.Time `json:"at"`
	// Number is the delivery's attempt count after this attempt: a retry by
	// the admin starts counting again at 1.
	Number int    `json:"number"`
	Result string `json:"result"` // AttemptSent, AttemptRetry or AttemptFailed
	Error  string `json:"error,omitempty"`
	// NextAttemptAt is when the next attempt is due (AttemptRetry only).
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
}

// Record appends a to the delivery's history, keeping the newest
// MaxAttemptHistory attempts and MaxAttemptError bytes of each error (cut at
// a character boundary).
func (d *Delivery) Record(a Attempt) {
	if len(a.Error) > MaxAttemptError {
		cut := MaxAttemptError
		for cut > 0 && a.Error[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		a.Error = a.Error[:cut]
	}
	if n := len(d.History) + 1 - MaxAttemptHistory; n > 0 {
		d.History = append(d.History[:0:0], d.History[n:]...) // a copy: the old slice may be shared
	}
	d.History = append(d.History, a)
}

// TimeOfID returns the millisecond time of a UUIDv7 id (NewTimeID); ok is
// false when id is not a UUIDv7 in the canonical lowercase form.
func TimeOfID(id string) (t time.Time, ok bool) {
	if len(id) != 36 || id[14] != '7' {
		return time.Time{}, false
	}
	var ms int64
	for i := 0; i < len(id); i++ {
		c := id[i]
		var nibble int64
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return time.Time{}, false
			}
			continue
		case c >= '0' && c <= '9':
			nibble = int64(c - '0')
		case c >= 'a' && c <= 'f':
			nibble = int64(c-'a') + 10
		default:
			return time.Time{}, false
		}
		if i < 13 { // the first 48 bits are unix_ts_ms
			ms = ms<<4 | nibble
		}
	}
	return time.UnixMilli(ms).UTC(), true
}

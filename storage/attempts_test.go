package storage

import (
	"strings"
	"testing"
	"time"
)

func TestTimeOfID(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 15, 30, 123_000_000, time.UTC)
	id := NewTimeID(at)
	if got, ok := TimeOfID(id); !ok || !got.Equal(at) {
		t.Fatalf("TimeOfID(%s) = %v, %v; want %v", id, got, ok, at)
	}
	for _, bad := range []string{"", NewID(), strings.ToUpper(id)[:35] + "x", id[:35], "0192zzzz-0000-7000-8000-000000000000"} {
		if _, ok := TimeOfID(bad); ok {
			t.Errorf("TimeOfID(%q) accepted", bad)
		}
	}
}

func TestRecordKeepsTheNewestAttempts(t *testing.T) {
	var d Delivery
	for i := range MaxAttemptHistory + 3 {
		d.Record(Attempt{Number: i + 1, Result: AttemptRetry})
	}
	if len(d.History) != MaxAttemptHistory || d.History[0].Number != 4 || d.History[MaxAttemptHistory-1].Number != MaxAttemptHistory+3 {
		t.Fatalf("history %+v", d.History)
	}
	d.Record(Attempt{Error: strings.Repeat("a", MaxAttemptError-1) + "é"}) // é straddles the bound
	if got := d.History[MaxAttemptHistory-1].Error; got != strings.Repeat("a", MaxAttemptError-1) {
		t.Fatalf("error cut to %d bytes", len(got))
	}
}

package jetstream

import "testing"

// TestRecent: the cache keeps the newest records, within its slots and its
// bytes.
func TestRecent(t *testing.T) {
	r := newRecent()
	for seq := uint64(1); seq <= recentSlots+10; seq++ {
		r.put(seq, []byte{byte(seq)})
	}
	if _, ok := r.get(10); ok {
		t.Fatal("the oldest record was kept past the slots")
	}
	if d, ok := r.get(recentSlots + 10); !ok || d[0] != byte((recentSlots+10)%256) {
		t.Fatal("the newest record is missing")
	}
	if _, ok := r.get(11); !ok {
		t.Fatal("a record within the slots is missing")
	}
	big := make([]byte, recentBytes/2)
	r.put(1<<40, big)
	r.put(1<<40+1, big)
	if _, ok := r.get(recentSlots + 10); ok {
		t.Fatal("small records were kept past the bytes")
	}
	for _, seq := range []uint64{1 << 40, 1<<40 + 1} {
		if _, ok := r.get(seq); !ok {
			t.Fatalf("record %d is missing", seq)
		}
	}
	r.put(1<<40+2, []byte("x"))
	if _, ok := r.get(1 << 40); ok {
		t.Fatal("the bytes went over the budget")
	}
	if r.bytes > recentBytes {
		t.Fatalf("%d bytes kept, budget %d", r.bytes, recentBytes)
	}
}

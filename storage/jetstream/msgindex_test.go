package jetstream

import (
	"slices"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
)

// hdr builds the headers of a log entry from pairs; hdrKey may repeat.
func hdr(pairs ...string) nats.Header {
	h := nats.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return h
}

// msg is the header of a message at ts on channel c with the given keys.
func msg(ts uint64, c string, keys ...string) nats.Header {
	h := hdr(hdrTs, strconv.FormatUint(ts, 10), hdrChannel, c)
	for _, k := range keys {
		h.Add(hdrKey, encodeKey(k))
	}
	return h
}

func TestSeqRanges(t *testing.T) {
	r := rangesOf([]uint64{3, 4, 5, 7, 9, 10})
	if got := r.String(); got != "3-5,7,9-10" {
		t.Fatalf("String = %q", got)
	}
	if got := parseRanges(r.String()); !slices.Equal(got, r) {
		t.Fatalf("parse = %v, want %v", got, r)
	}
	for seq, want := range map[uint64]bool{2: false, 3: true, 5: true, 6: false, 7: true, 8: false, 10: true, 11: false} {
		if r.has(seq) != want {
			t.Errorf("has(%d) = %v", seq, !want)
		}
	}
	if got := parseRanges("1-x,4,9-2,,6"); !slices.Equal(got, seqRanges{{4, 4}, {6, 6}}) {
		t.Fatalf("parse of a bad list = %v", got)
	}
}

// TestIndexKeys: an entry's keys are found until it is removed or its
// channel deleted; a newer entry with the same key keeps it.
func TestIndexKeys(t *testing.T) {
	x := newMsgIndex()
	apply := func(seq uint64, h nats.Header) { x.apply("u", seq, anyPrev, h) }
	has := func(c, k string) bool { return x.hasKey("u", c, encodeKey(k)) }
	apply(1, msg(100, "c", "k1", "sender:a"))
	apply(2, msg(101, "c", "k2"))
	apply(3, msg(102, "d", "k1"))
	apply(4, msg(103, "c", "sender:a")) // accepted again
	if !has("c", "k1") || !has("c", "k2") || !has("d", "k1") || has("d", "k2") {
		t.Fatal("keys after the appends")
	}
	apply(5, hdr(hdrOp, opRemove, hdrSeqs, "1-2", hdrThrough, "101"))
	if has("c", "k1") || has("c", "k2") || !has("c", "sender:a") || !has("d", "k1") {
		t.Fatal("keys after removing 1-2: the sender's newer entry keeps it")
	}
	if _, newest, count := x.tail("u"); count != 2 || newest != 103 || x.horizon("u") != 101 {
		t.Fatalf("count %d, newest %d, horizon %d", count, newest, x.horizon("u"))
	}
	apply(6, hdr(hdrOp, opUnkey, hdrChannel, "c"))
	if has("c", "sender:a") || !has("d", "k1") {
		t.Fatal("keys after deleting channel c")
	}
	apply(7, msg(104, "c", "sender:a")) // the channel created again
	if !has("c", "sender:a") {
		t.Fatal("a key of the new channel")
	}
	apply(8, hdr(hdrOp, opDrop, hdrThrough, "104"))
	if has("c", "sender:a") || has("d", "k1") || x.horizon("u") != 0 {
		t.Fatal("keys after the user's deletion")
	}
}

// TestIndexPlan: a sweep removes expired messages behind one kept longer,
// key entries by their channel's cutoff, and says where the log's first
// kept entry is; an imported log out of timestamp order is planned too.
func TestIndexPlan(t *testing.T) {
	x := newMsgIndex()
	apply := func(seq uint64, h nats.Header) { x.apply("u", seq, anyPrev, h) }
	exp := func(ts, e uint64) nats.Header {
		h := msg(ts, "c")
		h.Set(hdrExp, strconv.FormatUint(e, 10))
		return h
	}
	apply(10, exp(100, 10_000)) // kept long
	apply(11, msg(101, "c"))
	apply(12, exp(102, 200))
	apply(13, hdr(hdrOp, opKey, hdrTs, "50", hdrChannel, "long", hdrKey, encodeKey("k")))
	apply(14, msg(103, "c"))
	r := sweepRule{now: 300, cut: 103, cutoffs: map[string]uint64{"long": 40}}
	if got := x.sweepable(r); !slices.Equal(got, []string{"u"}) {
		t.Fatalf("sweepable = %v", got)
	}
	rm, ok := x.plan("u", r, 10)
	if !ok || !slices.Equal(rm.seqs, []uint64{11, 12}) || rm.messages != 2 || rm.horizon != 102 || rm.keepFrom != 10 || rm.last != 14 {
		t.Fatalf("plan = %+v, %v", rm, ok)
	}
	rm, _ = x.plan("u", r, 1)
	if !slices.Equal(rm.seqs, []uint64{11}) || rm.keepFrom != 10 {
		t.Fatalf("plan of one = %+v", rm)
	}
	apply(15, hdr(hdrOp, opRemove, hdrSeqs, "11-12", hdrThrough, "102"))
	r = sweepRule{now: 20_000, cut: 1000, cutoffs: map[string]uint64{"long": 60}}
	rm, _ = x.plan("u", r, 10)
	if !slices.Equal(rm.seqs, []uint64{10, 13, 14}) || rm.messages != 2 || rm.horizon != 103 || rm.keepFrom != 0 {
		t.Fatalf("plan of the rest = %+v", rm)
	}

	// An import wrote a log out of timestamp order.
	x.apply("v", 20, anyPrev, msg(500, "c"))
	x.apply("v", 21, anyPrev, msg(300, "c"))
	x.apply("v", 22, anyPrev, msg(400, "c"))
	rm, _ = x.plan("v", sweepRule{now: 1000, cut: 450}, 10)
	if !slices.Equal(rm.seqs, []uint64{21, 22}) || rm.keepFrom != 20 || rm.horizon != 400 {
		t.Fatalf("plan of an unordered log = %+v", rm)
	}
	x.apply("v", 23, anyPrev, hdr(hdrOp, opRemove, hdrSeqs, "21-22", hdrThrough, "400"))
	if got := x.after("v", 0, 10); len(got) != 1 || got[0].seq != 20 {
		t.Fatalf("left = %v", got)
	}
}

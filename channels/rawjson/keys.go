package rawjson

import (
	"bytes"
	"hash/maphash"
)

// span is a half-open byte range [start, end) of a buffer. For keys of large objects, hash is
// the key's hash.
type span struct {
	start, end int
	hash       uint64
}

// keyObject holds the keys of one open object while a document is scanned, to find duplicates.
// Up to smallObject keys live in the object's own stack frame and are searched linearly. Past
// that they move to the keyTable shared by the whole document and get a hash table, so objects
// with many keys cost linear time. Keys are numbered 0, 1, … in order of first occurrence.
type keyObject struct {
	small [smallObject]span
	n     int // number of keys
	base  int // once large: the keys are keyTable.spans[base:]
	tbase int // once large: the hash table is keyTable.slots[tbase:tbase+tsize]
	tsize int // 0 while small; else a power of two
}

// keyTable holds the keys and hash tables of the large open objects of a document.
//
// Both are stacks: only the innermost large object ever grows them (the objects inside it are
// closed by the time it gets another key), and an object pops its part when it closes. So
// nothing is allocated per object once the stacks have grown.
type keyTable struct {
	spans  []span
	slots  []int // 0 = empty, else 1 + the index of a key in spans
	seed   maphash.Seed
	seeded bool
}

// key returns the span of key number i of o.
func (t *keyTable) key(o *keyObject, i int) span {
	if o.tsize == 0 {
		return o.small[i]
	}
	return t.spans[o.base+i]
}

// close releases the space of o, which must be the innermost open object.
func (t *keyTable) close(o *keyObject) {
	if o.tsize > 0 {
		t.spans = t.spans[:o.base]
		t.slots = t.slots[:o.tbase]
	}
}

// insert looks up the key buf[k.start:k.end] among the keys of o. If the key is already there,
// it returns the key's number and false. Otherwise it adds the key and returns its number and
// true. Keys are compared byte for byte, so buf must hold them in one canonical form (Compact
// writes every string minimally, which is canonical).
func (t *keyTable) insert(o *keyObject, buf []byte, k span) (int, bool) {
	key := buf[k.start:k.end]
	if o.tsize == 0 {
		for i, s := range o.small[:o.n] {
			if bytes.Equal(buf[s.start:s.end], key) {
				return i, false
			}
		}
		if o.n < smallObject {
			o.small[o.n] = k
			o.n++
			return o.n - 1, true
		}
		t.makeLarge(o, buf)
	}
	k.hash = maphash.Bytes(t.seed, key)
	mask := o.tsize - 1
	i := int(k.hash) & mask
	for ; ; i = (i + 1) & mask {
		slot := t.slots[o.tbase+i]
		if slot == 0 {
			break
		}
		if s := t.spans[slot-1]; s.hash == k.hash && bytes.Equal(buf[s.start:s.end], key) {
			return slot - 1 - o.base, false
		}
	}
	t.spans = append(t.spans, k)
	t.slots[o.tbase+i] = len(t.spans)
	o.n++
	if 2*o.n > o.tsize {
		t.rehash(o, 2*o.tsize)
	}
	return o.n - 1, true
}

// makeLarge moves the keys of o, which has smallObject keys, to t and hashes them.
func (t *keyTable) makeLarge(o *keyObject, buf []byte) {
	if !t.seeded {
		t.seed = maphash.MakeSeed()
		t.seeded = true
	}
	if t.spans == nil {
		t.spans = make([]span, 0, 8*smallObject)
		t.slots = make([]int, 0, 16*smallObject)
	}
	o.base = len(t.spans)
	for _, s := range o.small {
		s.hash = maphash.Bytes(t.seed, buf[s.start:s.end])
		t.spans = append(t.spans, s)
	}
	o.tbase = len(t.slots)
	t.rehash(o, 4*smallObject)
}

// rehash gives o a hash table of size slots (a power of two) at the top of t.slots.
func (t *keyTable) rehash(o *keyObject, size int) {
	o.tsize = size
	t.slots = append(t.slots[:o.tbase], make([]int, size)...)
	mask := size - 1
	for n := o.base; n < len(t.spans); n++ {
		i := int(t.spans[n].hash) & mask
		for t.slots[o.tbase+i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[o.tbase+i] = n + 1
	}
}

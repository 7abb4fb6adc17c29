package jetstream

import (
	"slices"
)

// itemLog indexes one log subject (a user's messages, a channel's
// responses): its retained items' timestamps with their stream sequences,
// both ascending, since every append expects the subject's last sequence
// (so sequence order is timestamp order; only an import may write items out
// of timestamp order, which unordered records), and what the next append
// needs.
//
// Messages reach a log in stream order: from the consumer that follows the
// subjects, and from this instance's own appends as soon as JetStream
// acknowledged them, but only when the log already holds everything before
// (the append's expected last sequence is the log's). So a log is always a
// prefix of the subject's history as JetStream has it: a reader can lag,
// never skip.
type itemLog struct {
	ts  []uint64 // retained items' timestamps (ms)
	seq []uint64 // and their stream sequences
	// exp holds, in step, when each message stored with a retention of its
	// own expires (ms; 0 for the others); nil while no item has one.
	exp []uint64
	// last is the subject's last sequence that was applied: an item's or a
	// marker's. An append expects it.
	last uint64
	// newest bounds every timestamp the log ever had, removed ones included
	// (markers carry the newest they removed): the next item is later.
	newest uint64
	// unordered is set once an item was put before the end: seq is then
	// not ascending.
	unordered bool
}

// tail is what the next append needs: the sequence to expect and the
// timestamp to exceed.
func (l *itemLog) tail() (lastSeq, newest uint64) {
	if l == nil {
		return 0, 0
	}
	return l.last, l.newest
}

// tailOrZero is the last sequence applied, 0 for no log.
func (l *itemLog) tailOrZero() uint64 {
	if l == nil {
		return 0
	}
	return l.last
}

func (l *itemLog) count() int {
	if l == nil {
		return 0
	}
	return len(l.ts)
}

// canApply reports whether the message at seq, published expecting prev,
// extends the log: it is new, and the log holds everything before it. prev
// is anyPrev for messages from the consumer, which come in stream order.
func (l *itemLog) canApply(seq, prev uint64) bool {
	if seq <= l.last {
		return false // applied already
	}
	return prev == anyPrev || prev == l.last
}

// anyPrev marks a message whose predecessor is not known (the consumer's).
const anyPrev = ^uint64(0)

// add adds the item at seq. Items come in timestamp order, except those
// an import wrote, which are put in their place.
func (l *itemLog) add(ts, seq, exp uint64) {
	i := len(l.ts)
	if i > 0 && ts < l.ts[i-1] {
		i, _ = slices.BinarySearch(l.ts, ts)
		l.unordered = true
	}
	if exp != 0 && l.exp == nil {
		l.exp = make([]uint64, len(l.ts), cap(l.ts))
	}
	l.ts = slices.Insert(l.ts, i, ts)
	l.seq = slices.Insert(l.seq, i, seq)
	if l.exp != nil {
		l.exp = slices.Insert(l.exp, i, exp)
	}
	l.last, l.newest = seq, max(l.newest, ts)
}

// expiry is when the item at i expires (0: with the relay's retention).
func (l *itemLog) expiry(i int) uint64 {
	if l.exp == nil {
		return 0
	}
	return l.exp[i]
}

// trim removes the items up to and including timestamp through.
func (l *itemLog) trim(through uint64) {
	i, found := slices.BinarySearch(l.ts, through)
	if found {
		i++
	}
	l.dropHead(i)
	l.newest = max(l.newest, through)
}

// removeSeqs removes the items at the given sequences.
func (l *itemLog) removeSeqs(seqs []uint64) {
	slices.Sort(seqs)
	l.remove(rangesOf(seqs))
}

// remove removes the items at the sequences of gone. Only the items whose
// sequences lie between gone's first and last are looked at (all of them
// in an unordered log), and a removed head is cut off without a copy.
func (l *itemLog) remove(gone seqRanges) {
	if len(gone) == 0 || len(l.seq) == 0 {
		return
	}
	lo, hi := 0, len(l.seq)
	if !l.unordered {
		lo, _ = slices.BinarySearch(l.seq, gone[0][0])
		hi, _ = slices.BinarySearch(l.seq, gone[len(gone)-1][1]+1)
	}
	n := lo
	for i := lo; i < hi; i++ {
		if gone.has(l.seq[i]) {
			continue
		}
		l.ts[n], l.seq[n] = l.ts[i], l.seq[i]
		if l.exp != nil {
			l.exp[n] = l.exp[i]
		}
		n++
	}
	if n == 0 {
		l.dropHead(hi)
		return
	}
	l.ts = append(l.ts[:n], l.ts[hi:]...)
	l.seq = append(l.seq[:n], l.seq[hi:]...)
	if l.exp != nil {
		l.exp = append(l.exp[:n], l.exp[hi:]...)
	}
}

// firstKept returns the lowest sequence of an item that gone does not
// remove (0 when it removes all).
func (l *itemLog) firstKept(gone seqRanges) uint64 {
	var first uint64
	for _, seq := range l.seq {
		if gone.has(seq) {
			continue
		}
		if !l.unordered {
			return seq // ascending: the first kept is the lowest
		}
		if first == 0 || seq < first {
			first = seq
		}
	}
	return first
}

// clear removes every item, keeping the bounds.
func (l *itemLog) clear() { l.ts, l.seq, l.exp, l.unordered = nil, nil, nil, false }

// dropHead removes the first n items, letting go of the array when most of
// it is trimmed.
func (l *itemLog) dropHead(n int) {
	l.ts, l.seq = l.ts[n:], l.seq[n:]
	if l.exp != nil {
		l.exp = l.exp[n:]
	}
	if len(l.ts) < cap(l.ts)/4 {
		l.ts, l.seq = slices.Clone(l.ts), slices.Clone(l.seq)
		if l.exp != nil {
			l.exp = slices.Clone(l.exp)
		}
	}
}

// entry is one item of a log.
type entry struct {
	ts, seq uint64
}

// after returns up to n items with a timestamp ≥ from, ascending.
func (l *itemLog) after(from uint64, n int) []entry {
	if l == nil {
		return nil
	}
	i, _ := slices.BinarySearch(l.ts, from)
	end := min(len(l.ts), i+n)
	out := make([]entry, 0, end-i)
	for ; i < end; i++ {
		out = append(out, entry{l.ts[i], l.seq[i]})
	}
	return out
}

// before returns up to n items with a timestamp < end, ascending: the newest
// n before end.
func (l *itemLog) before(end uint64, n int) []entry {
	if l == nil {
		return nil
	}
	j, _ := slices.BinarySearch(l.ts, end)
	out := make([]entry, 0, min(j, n))
	for i := max(0, j-n); i < j; i++ {
		out = append(out, entry{l.ts[i], l.seq[i]})
	}
	return out
}

// countSince returns how many items have a timestamp ≥ from.
func (l *itemLog) countSince(from uint64) int {
	i, _ := slices.BinarySearch(l.ts, from)
	return len(l.ts) - i
}

// find returns the sequence of the item at ts.
func (l *itemLog) find(ts uint64) (uint64, bool) {
	if l == nil {
		return 0, false
	}
	i, found := slices.BinarySearch(l.ts, ts)
	if !found {
		return 0, false
	}
	return l.seq[i], true
}

package rawjson

import (
	"bytes"
	"slices"
)

// dedup rewrites src, the valid and canonical output of the first pass of Compact, so that each
// object has one member per key: at the position of the first occurrence, with the last value.
//
// Values that a later duplicate replaces are never visited, and containers are skipped through a
// table of their end offsets, so the rewrite stays linear in len(src) however deep the
// duplicates are nested.
func dedup(src []byte) []byte {
	d := deduper{src: src, dst: make([]byte, 0, len(src)), vals: make([]span, 0, 4*smallObject)}
	d.indexContainers()
	d.value(0)
	return d.dst
}

type deduper struct {
	src, dst []byte
	starts   []int // offsets of '{' and '[' in src, ascending
	ends     []int // offset of the matching '}' or ']' for each entry of starts
	keys     keyTable
	vals     []span // values of the open objects' members: key i of an object → vals[base+i]
}

// indexContainers fills starts and ends. src is valid JSON, so brackets balance.
func (d *deduper) indexContainers() {
	// Brackets inside strings make this an overestimate, which saves regrowing the slices.
	n := bytes.Count(d.src, []byte("{")) + bytes.Count(d.src, []byte("["))
	d.starts, d.ends = make([]int, 0, n), make([]int, 0, n)
	open := make([]int, 0, 32) // indexes into starts of the containers not yet closed
	inString := false
	for i := 0; i < len(d.src); i++ {
		b := d.src[i]
		if inString {
			switch b {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			open = append(open, len(d.starts))
			d.starts = append(d.starts, i)
			d.ends = append(d.ends, 0)
		case '}', ']':
			d.ends[open[len(open)-1]] = i
			open = open[:len(open)-1]
		}
	}
}

// closing returns the offset of the bracket that closes the container opening at pos.
func (d *deduper) closing(pos int) int {
	i, _ := slices.BinarySearch(d.starts, pos)
	return d.ends[i]
}

// skip returns the offset just past the value starting at pos.
func (d *deduper) skip(pos int) int {
	switch d.src[pos] {
	case '{', '[':
		return d.closing(pos) + 1
	case '"':
		return stringEnd(d.src, pos)
	}
	return scalarEnd(d.src, pos)
}

// value writes the value starting at pos with its objects merged and returns the offset past it.
func (d *deduper) value(pos int) int {
	switch d.src[pos] {
	case '{':
		return d.object(pos)
	case '[':
		return d.array(pos)
	}
	end := d.skip(pos)
	d.dst = append(d.dst, d.src[pos:end]...)
	return end
}

func (d *deduper) array(pos int) int {
	end := d.closing(pos)
	d.dst = append(d.dst, '[')
	for p := pos + 1; p < end; {
		if p > pos+1 {
			d.dst = append(d.dst, ',')
		}
		p = d.value(p)
		if d.src[p] == ',' {
			p++
		}
	}
	d.dst = append(d.dst, ']')
	return end + 1
}

func (d *deduper) object(pos int) int {
	end := d.closing(pos)
	var obj keyObject
	base := len(d.vals)
	for p := pos + 1; p < end; {
		k := span{start: p, end: stringEnd(d.src, p)}
		v := span{start: k.end + 1} // past ':'
		v.end = d.skip(v.start)
		if i, added := d.keys.insert(&obj, d.src, k); added {
			d.vals = append(d.vals, v)
		} else {
			d.vals[base+i] = v // last value wins, first position stays
		}
		p = v.end
		if d.src[p] == ',' {
			p++
		}
	}
	// Nested objects push their values above ours and may reallocate d.vals, so index it
	// afresh on every iteration.
	d.dst = append(d.dst, '{')
	for i := range obj.n {
		if i > 0 {
			d.dst = append(d.dst, ',')
		}
		k := d.keys.key(&obj, i)
		d.dst = append(d.dst, d.src[k.start:k.end]...)
		d.dst = append(d.dst, ':')
		d.value(d.vals[base+i].start)
	}
	d.dst = append(d.dst, '}')
	d.keys.close(&obj)
	d.vals = d.vals[:base]
	return end + 1
}

// stringEnd returns the offset just past the valid string literal starting at pos.
func stringEnd(b []byte, pos int) int {
	for i := pos + 1; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// scalarEnd returns the offset just past the number or literal starting at pos in compact JSON.
func scalarEnd(b []byte, pos int) int {
	i := pos
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

// valueEnd returns the offset just past the value starting at pos in valid compact JSON.
func valueEnd(b []byte, pos int) int {
	switch b[pos] {
	case '"':
		return stringEnd(b, pos)
	case '{', '[':
	default:
		return scalarEnd(b, pos)
	}
	depth := 0
	for i := pos; ; i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
}

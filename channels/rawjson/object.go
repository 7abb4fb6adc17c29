package rawjson

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// Object is an ordered JSON object whose values are kept as compact raw JSON.
//
// The zero value is an empty object ready to use. An Object is not safe for concurrent
// modification, but concurrent reads are safe. Value bytes are never modified in place: Set
// stores the slice it is given (the caller must not change it afterwards), Get returns the
// stored slice (which the caller must not change), and Clone shares them.
//
// MarshalJSON has a pointer receiver, so embed *Object (not Object) in structs that are
// marshalled by value.
type Object struct {
	members []member
	// index maps each key to its position in members when there are more than smallObject
	// members, and is nil otherwise. It is kept up to date by every method that changes
	// members, so that reads never write.
	index map[string]int
}

type member struct {
	key   string
	value json.RawMessage
}

// ParseObject parses data, which must be one JSON object (else ErrInvalid). Its values are
// compacted as Compact does, and duplicate keys keep the first position and the last value.
func ParseObject(data []byte) (*Object, error) {
	b, err := Compact(data)
	if err != nil {
		return nil, err
	}
	if b[0] != '{' {
		return nil, ErrInvalid
	}
	// Compact merged duplicates, so the members can be appended without lookups.
	o := &Object{}
	for p := 1; b[p] != '}'; {
		k := stringEnd(b, p)
		v := valueEnd(b, k+1)
		// The full slice expression keeps an append to one value from overwriting the next.
		o.members = append(o.members, member{decodeString(b[p:k]), b[k+1 : v : v]})
		p = v
		if b[p] == ',' {
			p++
		}
	}
	o.reindex(0)
	return o, nil
}

// Len returns the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.members)
}

// Keys returns the keys in order.
func (o *Object) Keys() []string {
	if o == nil {
		return nil
	}
	keys := make([]string, len(o.members))
	for i, m := range o.members {
		keys[i] = m.key
	}
	return keys
}

// Get returns the compact JSON value of key.
func (o *Object) Get(key string) (json.RawMessage, bool) {
	if i := o.find(key); i >= 0 {
		return o.members[i].value, true
	}
	return nil, false
}

// GetString returns the value of key when it is a JSON string.
func (o *Object) GetString(key string) (string, bool) {
	v, ok := o.Get(key)
	if !ok || len(v) < 2 || v[0] != '"' {
		return "", false
	}
	return decodeString(v), true
}

// Has reports whether key is present.
func (o *Object) Has(key string) bool { return o.find(key) >= 0 }

// Set replaces the value of key in place if key is present, and appends the member otherwise.
// value must already be valid compact JSON (from Compact, Marshal or AppendString, for
// example); it is not checked, and an empty value is stored as null. A key that is not valid
// UTF-8 has each invalid byte replaced by U+FFFD, as it would be when written.
func (o *Object) Set(key string, value json.RawMessage) {
	if len(value) == 0 {
		value = json.RawMessage("null")
	}
	key = validKey(key)
	if i := o.find(key); i >= 0 {
		o.members[i].value = value
		return
	}
	o.members = append(o.members, member{key, value})
	if o.index != nil {
		o.index[key] = len(o.members) - 1
	} else {
		o.reindex(0)
	}
}

// SetString sets key to the JSON string s.
func (o *Object) SetString(key, s string) { o.Set(key, AppendString(nil, s)) }

// SetBool sets key to true or false.
func (o *Object) SetBool(key string, value bool) {
	o.Set(key, strconv.AppendBool(nil, value))
}

// SetInt sets key to the integer value.
func (o *Object) SetInt(key string, value int64) {
	o.Set(key, strconv.AppendInt(nil, value, 10))
}

// Delete removes key if it is present; the other members keep their order.
func (o *Object) Delete(key string) {
	i := o.find(key)
	if i < 0 {
		return
	}
	delete(o.index, o.members[i].key)
	o.members = slices.Delete(o.members, i, i+1)
	o.reindex(i)
}

// Clone returns a copy of o whose members can be changed without affecting o.
func (o *Object) Clone() *Object {
	if o == nil {
		return &Object{}
	}
	return &Object{members: slices.Clone(o.members), index: maps.Clone(o.index)}
}

// MarshalJSON returns the members as compact JSON, in order. A nil or empty Object gives {}.
func (o *Object) MarshalJSON() ([]byte, error) {
	return o.AppendJSON(make([]byte, 0, o.size())), nil
}

// AppendJSON appends the members to dst as compact JSON, in order, and returns the extended buffer.
func (o *Object) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, m := range o.membersOrNil() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, m.value...)
	}
	return append(dst, '}')
}

// UnmarshalJSON replaces the members of o with those of the JSON object data, as ParseObject
// does. Following the encoding/json convention, null leaves o unchanged.
func (o *Object) UnmarshalJSON(data []byte) error {
	p, err := ParseObject(data)
	if err != nil {
		if b, cerr := Compact(data); cerr == nil && string(b) == "null" {
			return nil
		}
		return err
	}
	*o = *p
	return nil
}

func (o *Object) membersOrNil() []member {
	if o == nil {
		return nil
	}
	return o.members
}

// size estimates the length of the JSON form of o.
func (o *Object) size() int {
	n := 2
	for _, m := range o.membersOrNil() {
		n += len(m.key) + len(m.value) + 4
	}
	return n
}

// find returns the position of key, or -1.
func (o *Object) find(key string) int {
	if o == nil {
		return -1
	}
	key = validKey(key)
	if o.index != nil {
		if i, ok := o.index[key]; ok {
			return i
		}
		return -1
	}
	for i, m := range o.members {
		if m.key == key {
			return i
		}
	}
	return -1
}

// reindex restores the index invariant after the members from position from onwards changed
// position (or after members were appended, with from == 0 when there was no index).
func (o *Object) reindex(from int) {
	if len(o.members) <= smallObject {
		o.index = nil
		return
	}
	if o.index == nil {
		o.index = make(map[string]int, len(o.members))
		from = 0
	}
	for i := from; i < len(o.members); i++ {
		o.index[o.members[i].key] = i
	}
}

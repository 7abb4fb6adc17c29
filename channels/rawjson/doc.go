// Package rawjson keeps JSON the way its sender wrote it: member order, number literals, minimal
// escaping — the parts of JSON handling that encoding/json cannot do.
//
// PROTOCOL §4.2 requires the generic webhook to re-serialise a JSON body as compact JSON that keeps
// member order and number literals exactly as received and escapes strings minimally. encoding/json
// cannot produce that form: decoding into interface{} loses order and number literals, and both its
// encoder and json.Compact leave or add escapes (\u2028, \u0041, \/) that the spec forbids. Compact
// is this package's own single-pass scanner and writer; Object and Form build the ordered
// objects that the webhook stores as metadata.
package rawjson

import "errors"

// ErrInvalid is returned for input that is not exactly one JSON value (trailing non-whitespace is invalid).
var ErrInvalid = errors.New("rawjson: invalid JSON")

// maxDepth is the deepest nesting of arrays and objects that Compact accepts. It is the limit of
// encoding/json's scanner, so json.Valid and Compact agree on every input, and it bounds the
// recursion of the scanner well below Go's stack limit.
const maxDepth = 10000

// smallObject is the number of members up to which objects find duplicate keys by linear scan.
// Larger objects (GitHub's "repository" has about 90 members) switch to a hash index, so an
// object with many keys costs O(n), not O(n²).
const smallObject = 16

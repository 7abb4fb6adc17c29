// Package sanitize cleans text that enters the relay (inbound messages, sender names) and text that
// agents send back (replies), as PROTOCOL.md §4.1 step 6 and §7.1 require. It also measures and cuts
// strings in UTF-16 code units, the unit of every character limit in the protocol (JavaScript's
// .length), and in UTF-8 bytes for the inbound value budget (§4.1 step 7).
//
// Every function is pure: no state, no logging, no configuration. They run on the hot path of every
// inbound message, so they avoid regexp and, when the input is already clean, return it without
// allocating.
//
// Invalid UTF-8 is repaired the way Go's encoding/json and a for-range loop see it: each byte that
// does not start a valid sequence becomes one U+FFFD. UTF16Len and the truncation functions count
// such a byte as one unit (or one code point), so measuring before and after repair agrees.
//
// There is no HTML allowlist: the protocol keeps inbound tags verbatim (content may be JSON or code)
// and removes every tag from replies, so neither direction needs an HTML parser.
package sanitize

package rawjson

import (
	"bytes"
	"encoding/json"
)

// Marshal encodes v like encoding/json but without HTML escaping and without a trailing newline.
//
// Strings that encoding/json encodes itself keep its escaping of U+2028 and U+2029 (harmless in
// responses, §1.3); Objects and json.RawMessage values produced by this package are copied with
// their minimal escaping intact.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode always ends with '\n'
}

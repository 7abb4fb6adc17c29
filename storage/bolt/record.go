package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// Message records are binary: they are written once and read on every poll
// and by every socket of their user, and decoding JSON was the largest cost of
// fan-out. The layout is a version byte and six length-prefixed fields:
//
//	0x01 | id | channelType | channelId | from | content | metadata
//
// each field a uvarint byte length and the bytes (metadata is raw JSON, empty
// when absent).
const recordV1 = 0x01

var errBadRecord = errors.New("bolt: malformed message record")

// appendField appends one length-prefixed field.
func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeMessage encodes a record. AppendMessage encodes its message before
// the write transaction, with an id of the right length that setID overwrites
// inside it: the record is built once, off the writer goroutine.
func encodeMessage(rec messageRecord) []byte {
	n := 1 + len(rec.ID) + len(rec.ChannelType) + len(rec.ChannelID) + len(rec.From) + len(rec.Content) + len(rec.Metadata) + 6*binary.MaxVarintLen32
	b := make([]byte, 0, n)
	b = append(b, recordV1)
	b = appendField(b, rec.ID)
	b = appendField(b, rec.ChannelType)
	b = appendField(b, rec.ChannelID)
	b = appendField(b, rec.From)
	b = appendField(b, rec.Content)
	return appendField(b, string(rec.Metadata))
}

// setID overwrites the id of a record from encodeMessage with one of the same
// length, shorter than 128 bytes (its length prefix is one byte).
func setID(record []byte, id string) {
	if len(record) < 2+len(id) || int(record[1]) != len(id) {
		panic("bolt: setID: the record's id has another length")
	}
	copy(record[2:], id)
}

// decodeMessage decodes a stored message record. The result does not alias
// v, which bbolt owns.
func decodeMessage(v []byte) (messageRecord, error) {
	if len(v) == 0 || v[0] != recordV1 {
		return messageRecord{}, errBadRecord
	}
	body := v[1:]
	s := string(body) // one copy; the fields share it
	var f [6]string
	off := 0
	for i := range f {
		n, k := binary.Uvarint(body[off:])
		if k <= 0 || n > uint64(len(body)-off-k) {
			return messageRecord{}, errBadRecord
		}
		off += k
		f[i] = s[off : off+int(n)]
		off += int(n)
	}
	if off != len(body) {
		return messageRecord{}, errBadRecord
	}
	rec := messageRecord{ID: f[0], ChannelType: f[1], ChannelID: f[2], From: f[3], Content: f[4]}
	if f[5] != "" {
		rec.Metadata = json.RawMessage(f[5])
	}
	return rec, nil
}

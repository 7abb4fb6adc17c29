package bolt

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

func TestMessageRecordRoundTrip(t *testing.T) {
	for _, rec := range []messageRecord{
		{ID: "0193a1b2-0000-7000-8000-000000000001", ChannelType: "webhook", ChannelID: "c1", From: "webhook", Content: "hello"},
		{ID: "i", ChannelType: "telegram", ChannelID: "c2", From: "Ada ⚡", Content: string(make([]byte, 300)), Metadata: json.RawMessage(`{"chat":{"id":-100}}`)},
		{}, // every field empty
	} {
		got, err := decodeMessage(encodeMessage(rec))
		if err != nil {
			t.Fatalf("decode %+v: %v", rec, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip: got %+v, want %+v", got, rec)
		}
	}
}

// TestSetID: AppendMessage encodes a record with placeholderID and sets the
// real id inside the transaction, so every id TimeID makes must fit it.
func TestSetID(t *testing.T) {
	id := storage.TimeID(time.Now(), [10]byte{1, 2, 3})
	if len(id) != len(placeholderID) {
		t.Fatalf("TimeID has %d bytes, placeholderID %d", len(id), len(placeholderID))
	}
	want := messageRecord{ID: id, ChannelType: "webhook", ChannelID: "c", From: "f", Content: "x", Metadata: json.RawMessage(`{"a":1}`)}
	rec := want
	rec.ID = placeholderID
	record := encodeMessage(rec)
	setID(record, id)
	if got, err := decodeMessage(record); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("setID with an id of another length did not panic")
		}
	}()
	setID(record, "short")
}

func TestMessageRecordMalformed(t *testing.T) {
	good := encodeMessage(messageRecord{ID: "id", ChannelType: "webhook", ChannelID: "c", From: "f", Content: "content"})
	for name, v := range map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{0x02}, good[1:]...),
		"JSON":            []byte(`{"id":"i","channelType":"webhook","channelId":"c","from":"f","content":"x"}`),
		"truncated":       good[:len(good)-3],
		"trailing bytes":  append(append([]byte{}, good...), 0),
		"length overflow": {recordV1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"bad varint":      {recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if _, err := decodeMessage(v); !errors.Is(err, errBadRecord) {
			t.Errorf("%s: err %v, want errBadRecord", name, err)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(messageRecord{ID: "id", ChannelType: "webhook", ChannelID: "c", From: "f", Content: "content", Metadata: json.RawMessage(`{}`)}))
	f.Add([]byte{recordV1, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, err := decodeMessage(v)
		if err != nil {
			return
		}
		again, err := decodeMessage(encodeMessage(rec))
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("%x: re-encoded record decodes to %+v, %v; want %+v", v, again, err, rec)
		}
	})
}

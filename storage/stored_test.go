package storage

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestMessageRecordRoundTrip(t *testing.T) {
	for _, rec := range []StoredMessage{
		{ID: "0193a1b2-0000-7000-8000-000000000001", ChannelType: "webhook", ChannelID: "c1", From: "webhook", Content: "hello"},
		{ID: "i", ChannelType: "telegram", ChannelID: "c2", From: "Ada ⚡", Content: string(make([]byte, 300)), Metadata: json.RawMessage(`{"chat":{"id":-100}}`)},
		{}, // every field empty
	} {
		got, err := DecodeMessage(EncodeMessage(rec))
		if err != nil {
			t.Fatalf("decode %+v: %v", rec, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip: got %+v, want %+v", got, rec)
		}
	}
}

// TestSetMessageID: a record encoded with a placeholder id takes the real
// one later.
func TestSetMessageID(t *testing.T) {
	id := TimeID(time.Now(), [10]byte{1, 2, 3})
	placeholderID := NewTimeID(time.Time{})
	want := StoredMessage{ID: id, ChannelType: "webhook", ChannelID: "c", From: "f", Content: "x", Metadata: json.RawMessage(`{"a":1}`)}
	rec := want
	rec.ID = placeholderID
	record := EncodeMessage(rec)
	SetMessageID(record, id)
	if got, err := DecodeMessage(record); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("SetMessageID with an id of another length did not panic")
		}
	}()
	SetMessageID(record, "short")
}

func TestMessageRecordMalformed(t *testing.T) {
	good := EncodeMessage(StoredMessage{ID: "id", ChannelType: "webhook", ChannelID: "c", From: "f", Content: "content"})
	for name, v := range map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{0x02}, good[1:]...),
		"JSON":            []byte(`{"id":"i","channelType":"webhook","channelId":"c","from":"f","content":"x"}`),
		"truncated":       good[:len(good)-3],
		"trailing bytes":  append(append([]byte{}, good...), 0),
		"length overflow": {messageV1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"bad varint":      {messageV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if _, err := DecodeMessage(v); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: err %v, want ErrBadMessage", name, err)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(EncodeMessage(StoredMessage{ID: "id", ChannelType: "webhook", ChannelID: "c", From: "f", Content: "content", Metadata: json.RawMessage(`{}`)}))
	f.Add([]byte{messageV1, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, err := DecodeMessage(v)
		if err != nil {
			return
		}
		again, err := DecodeMessage(EncodeMessage(rec))
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("%x: re-encoded record decodes to %+v, %v; want %+v", v, again, err, rec)
		}
	})
}

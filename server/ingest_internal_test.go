package server

import (
	"bytes"
	"io"

	"testing"
	"testing/iotest"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
)

// emptyMessageSize must equal the length of the encoded message.
func TestEmptyMessageSize(t *testing.T) {
	meta := &rawjson.Object{}
	meta.SetString("raw", "x\u2028y<>&\"\\\t")
	meta.SetString("channelDirection", "inbound")
	b, _ := meta.MarshalJSON()
	for _, from := range []string{"webhook", `a"b\c`, "line\u2028sep\u2029", "<b>&amp;</b>", "tab\tnew\nline", "😀 é"} {
		m := storage.Message{UserID: storage.NewID(), ChannelType: "webhook", ChannelID: "my-channel_1", From: from}
		want, err := rawjson.Marshal(messageJSON{ID: placeholderID, UserID: m.UserID, ChannelType: m.ChannelType,
			ChannelID: m.ChannelID, From: m.From, Timestamp: placeholderTime, Metadata: b})
		if err != nil {
			t.Fatal(err)
		}
		if got := emptyMessageSize(&m, b); got != len(want) {
			t.Errorf("from %q: size %d, encoded %d", from, got, len(want))
		}
	}
}

func TestReadAll(t *testing.T) {
	body := []byte(`{"event":"push","n":1}`)
	n := int64(len(body))
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want []byte
	}{
		{"as announced", bytes.NewReader(body), n, body},
		{"a byte at a time", iotest.OneByteReader(bytes.NewReader(body)), n, body},
		{"length unknown", bytes.NewReader(body), -1, body},
		{"longer than announced", bytes.NewReader(body), 3, body},
		{"empty", bytes.NewReader(nil), 0, []byte{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAll(c.r, c.size)
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("readAll = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := readAll(iotest.ErrReader(io.ErrUnexpectedEOF), n); err != io.ErrUnexpectedEOF {
		t.Fatalf("a failing reader: err %v, want io.ErrUnexpectedEOF", err)
	}
	// The point of it: one allocation of the announced size, not io.ReadAll's 512 bytes and up.
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		if b, _ := readAll(r, n); cap(b) != len(body)+1 {
			t.Fatalf("cap %d, want %d", cap(b), len(body)+1)
		}
	})
	if allocs != 1 {
		t.Fatalf("%v allocations per body, want 1", allocs)
	}
}

package jetstream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// BenchmarkAppend measures one append's round trip on a local server.
func BenchmarkAppend(b *testing.B) {
	srv := natstest.Start(b)
	s := open(b, jetstream.Options{URLs: srv.URL()})
	u := storage.NewID()
	for _, dedupe := range []bool{false, true} {
		b.Run(fmt.Sprint("dedupe=", dedupe), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				m := storage.Message{UserID: u, ChannelID: "c", Content: "hello"}
				var opts storage.AppendOptions
				if dedupe {
					opts.DedupeKey = fmt.Sprint(i)
				}
				if err := s.AppendMessage(ctx, &m, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessagesAfter measures a poll of n new messages.
func BenchmarkMessagesAfter(b *testing.B) {
	srv := natstest.Start(b)
	s := open(b, jetstream.Options{URLs: srv.URL()})
	u := storage.NewID()
	var msgs []storage.Message
	for range 1000 {
		m := storage.Message{UserID: u, ChannelID: "c", Content: "hello from the benchmark", Metadata: []byte(`{"raw":{"a":1}}`)}
		must(b, s.AppendMessage(ctx, &m, storage.AppendOptions{}))
		msgs = append(msgs, m)
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			after := msgs[len(msgs)-n-1].Timestamp
			for b.Loop() {
				page, _, err := s.MessagesAfter(ctx, u, after, 100)
				if err != nil || len(page) != n {
					b.Fatal(err, len(page))
				}
			}
		})
	}
	_ = time.Now
}

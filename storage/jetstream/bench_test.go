package jetstream_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// The benchmarks mirror storage/bolt's, on an in-process server (which
// shares the benchmark's cores).

// BenchmarkAppendMessage measures acknowledged appends from many
// goroutines over 100 users, as concurrent webhooks do.
func BenchmarkAppendMessage(b *testing.B) {
	srv := natstest.Start(b)
	s := open(b, jetstream.Options{URLs: srv.URL()})
	meta := json.RawMessage(`{"raw":{"action":"opened","number":42},"channelDirection":"inbound"}`)
	var n atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS concurrent writers
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("user-%03d", n.Add(1)%100)
		for pb.Next() {
			m := storage.Message{UserID: user, ChannelType: "webhook", ChannelID: "c", From: "webhook",
				Content: `{"action":"opened","number":42}`, Metadata: meta}
			if err := s.AppendMessage(ctx, &m, storage.AppendOptions{MaxBacklog: 1 << 30}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendDedupe measures one writer's appends with a dedupe key.
func BenchmarkAppendDedupe(b *testing.B) {
	srv := natstest.Start(b)
	s := open(b, jetstream.Options{URLs: srv.URL()})
	i := 0
	for b.Loop() {
		i++
		m := storage.Message{UserID: "u", ChannelID: "c", Content: "hello"}
		if err := s.AppendMessage(ctx, &m, storage.AppendOptions{DedupeKey: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessagesAfter measures polls of n new messages from a
// 10,000-message backlog, on an instance that did not append them (its
// recent cache does not have them: each page is read from JetStream).
func BenchmarkMessagesAfter(b *testing.B) {
	srv := natstest.Start(b)
	opts := jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: testKey(b)}
	writer, s := open(b, opts), open(b, opts)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 1000 {
				m := storage.Message{UserID: "u", ChannelType: "webhook", ChannelID: "c", From: "webhook", Content: "hello",
					Metadata: json.RawMessage(`{"channelDirection":"inbound"}`)}
				if err := writer.AppendMessage(ctx, &m, storage.AppendOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var last []storage.Message
	waitFor(b, 10*time.Second, "the reader's index", func() bool {
		var err error
		last, _, err = s.MessagesAfter(ctx, "u", time.Time{}, 10_000)
		return err == nil && len(last) == 10_000
	})
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			after := last[len(last)-n-1].Timestamp
			if n == 100 {
				after = time.Time{}
			}
			b.ReportAllocs()
			for b.Loop() {
				msgs, _, err := s.MessagesAfter(ctx, "u", after, 100)
				if err != nil || len(msgs) != n {
					b.Fatal(len(msgs), err)
				}
			}
		})
	}
}

// BenchmarkOpen measures opening a store of 100,000 messages over 100
// users: the view and the index are loaded from the stream.
func BenchmarkOpen(b *testing.B) {
	srv := natstest.Start(b)
	opts := jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: testKey(b), Logger: natstest.Logger(b)}
	s := open(b, opts)
	meta := json.RawMessage(`{"raw":{"action":"opened","number":42},"channelDirection":"inbound"}`)
	var wg sync.WaitGroup
	for w := range 100 {
		wg.Go(func() {
			for range 1000 {
				m := storage.Message{UserID: fmt.Sprintf("user-%03d", w), ChannelType: "webhook", ChannelID: "c", From: "webhook",
					Content: `{"action":"opened","number":42}`, Metadata: meta}
				if err := s.AppendMessage(ctx, &m, storage.AppendOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for b.Loop() {
		s, err := jetstream.Open(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := s.CountMessagesSince(ctx, time.Time{}); n != 100_000 {
			b.Fatalf("%d messages", n)
		}
		_ = s.Close()
	}
}

package bolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
)

// BenchmarkAppendMessage measures durable appends (each returns after its
// group's fsync) from many goroutines, as concurrent webhooks do.
func BenchmarkAppendMessage(b *testing.B) {
	s := openTemp(b, b.TempDir(), testKey(b), nil)
	meta := json.RawMessage(`{"raw":{"action":"opened","number":42},"channelDirection":"inbound"}`)
	var n atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS concurrent writers
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("user-%03d", n.Add(1)%100)
		for pb.Next() {
			m := storage.Message{UserID: user, ChannelType: "webhook", ChannelID: "c", From: "webhook",
				Content: `{"action":"opened","number":42}`, Metadata: meta}
			if err := s.AppendMessage(context.Background(), &m, storage.AppendOptions{MaxBacklog: 1 << 30}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMessagesAfter measures a poll page of 100 from a 10,000-message
// backlog (the cursor scan).
func BenchmarkMessagesAfter(b *testing.B) {
	s := openTemp(b, b.TempDir(), testKey(b), nil)
	for range 10_000 {
		m := storage.Message{UserID: "u", ChannelType: "webhook", ChannelID: "c", From: "webhook", Content: "hello",
			Metadata: json.RawMessage(`{"channelDirection":"inbound"}`)}
		if err := s.AppendMessage(context.Background(), &m, storage.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	after := time.Now().Add(-time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		msgs, _, err := s.MessagesAfter(context.Background(), "u", after, 100)
		if err != nil || len(msgs) != 100 {
			b.Fatal(len(msgs), err)
		}
	}
}

// BenchmarkOpen measures opening a store of 100,000 messages over 100 users:
// the in-memory index is rebuilt from the message log's keys.
func BenchmarkOpen(b *testing.B) {
	dir, key := b.TempDir(), testKey(b)
	s, err := bolt.Open(dir, bolt.Options{RootKey: key})
	if err != nil {
		b.Fatal(err)
	}
	meta := json.RawMessage(`{"raw":{"action":"opened","number":42},"channelDirection":"inbound"}`)
	var wg sync.WaitGroup
	for w := range 100 {
		wg.Go(func() {
			for range 1000 {
				m := storage.Message{UserID: fmt.Sprintf("user-%03d", w), ChannelType: "webhook", ChannelID: "c", From: "webhook",
					Content: `{"action":"opened","number":42}`, Metadata: meta}
				if err := s.AppendMessage(context.Background(), &m, storage.AppendOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := bolt.Open(dir, bolt.Options{RootKey: key})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

package bolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// BenchmarkDiskSyncs measures the disk under the store, not the store:
// commit-shaped syncs (8 scattered pages, sync, one page, sync, as a bbolt
// commit does, though with fsync where bbolt calls fdatasync) on 1, 2 and 4
// files at once. How well they overlap is how much
// a store split across files, each with its own writer, could gain over one
// writer (docs/performance-notes.md, "What limits ingest").
func BenchmarkDiskSyncs(b *testing.B) {
	for _, files := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			const page, pages = 4096, 4096 // 16 MiB per file, written before the timer starts
			fs := make([]*os.File, files)
			for i := range fs {
				f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = f.Close() })
				if _, err := f.Write(make([]byte, page*pages)); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				fs[i] = f
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, f := range fs {
				wg.Go(func() {
					buf := make([]byte, page)
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						for j := range int64(8) {
							if _, err := f.WriteAt(buf, (1+(i*37+j*131)%(pages-1))*page); err != nil {
								b.Error(err)
								return
							}
						}
						if err := f.Sync(); err != nil {
							b.Error(err)
							return
						}
						if _, err := f.WriteAt(buf, 0); err != nil {
							b.Error(err)
							return
						}
						if err := f.Sync(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}

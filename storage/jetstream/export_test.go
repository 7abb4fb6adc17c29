package jetstream_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/jetstream"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// fillClock is the clock of the export tests' stores.
func fillClock() *storagetest.Clock {
	return storagetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
}

// TestExportImport: a store moves into another by export and import with
// every record, its secrets still sealed; a non-empty store or another
// root key is refused.
func TestExportImport(t *testing.T) {
	srv := natstest.Start(t)
	key, clock := testKey(t), fillClock()
	opts := func() jetstream.Options { return jetstream.Options{URLs: srv.URL(), RootKey: key, Now: clock.Now} }
	from := open(t, opts())
	signed := storagetest.Fill(t, from, clock)
	storagetest.RoundTrip(t, signed, from, open(t, opts()), open(t, opts()))

	other := open(t, jetstream.Options{URLs: srv.URL(), Now: clock.Now})
	err := other.Import(ctx, storagetest.Records(storagetest.Exported(t, from)))
	if err == nil || !strings.Contains(err.Error(), "another root key") {
		t.Fatalf("import under another root key: %v", err)
	}
	equal(t, "left after a refused import", len(storagetest.Exported(t, other)), 0)
}

// TestExportImportAcrossBackends: a bbolt store moves into JetStream and
// from there into another bbolt store with every record: each export
// equals the one before, and each store serves what was filled in.
func TestExportImportAcrossBackends(t *testing.T) {
	srv := natstest.Start(t)
	key, clock := testKey(t), fillClock()
	openBolt := func() *bolt.Store {
		s, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: key, Now: clock.Now})
		must(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	from := openBolt()
	signed := storagetest.Fill(t, from, clock)
	openJS := func() *jetstream.Store {
		return open(t, jetstream.Options{URLs: srv.URL(), RootKey: key, Now: clock.Now})
	}
	storagetest.RoundTrip(t, signed, from, openJS()) // bbolt → JetStream, and its reads after the move
	// RoundTrip leaves what it checked with in its stores: the move on goes
	// from another copy.
	js := openJS()
	must(t, js.Import(ctx, storagetest.Records(storagetest.Exported(t, from))))
	storagetest.RoundTrip(t, signed, js, openBolt()) // JetStream → bbolt
}

// TestImportCutShort: an export file cut short imports nothing: what the
// import wrote is taken back, and the whole file imports afterwards.
func TestImportCutShort(t *testing.T) {
	srv := natstest.Start(t)
	key, clock := testKey(t), fillClock()
	from := open(t, jetstream.Options{URLs: srv.URL(), RootKey: key, Now: clock.Now})
	signed := storagetest.Fill(t, from, clock)
	var file bytes.Buffer
	_, err := storage.WriteExport(ctx, from, &file)
	must(t, err)
	lines := bytes.SplitAfter(file.Bytes(), []byte("\n"))
	cut := bytes.Join(lines[:len(lines)*2/3], nil)

	to := open(t, jetstream.Options{URLs: srv.URL(), RootKey: key, Now: clock.Now})
	errorIs(t, to.Import(ctx, storage.ReadExport(bytes.NewReader(cut))), storage.ErrCutShort)
	equal(t, "records left by the cut import", strings.Join(storagetest.Exported(t, to), "\n"), "")
	msgs, _, err := to.MessagesAfter(ctx, signed.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "messages", len(msgs), 0)
	must(t, to.Import(ctx, storage.ReadExport(bytes.NewReader(file.Bytes()))))
	if got, want := storagetest.Exported(t, to), storagetest.Exported(t, from); !slices.Equal(got, want) {
		t.Fatalf("after the whole file:\n got %s\nwant %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
}

// TestNewInstanceSameState: an instance that opens a store rebuilds from
// the stream what the writing instance holds: every record, each log's
// messages, keys, expiries and horizon (their exports are equal).
func TestNewInstanceSameState(t *testing.T) {
	srv := natstest.Start(t)
	key, clock := testKey(t), fillClock()
	opts := jetstream.Options{URLs: srv.URL(), Prefix: newPrefix(), RootKey: key, Now: clock.Now}
	first := open(t, opts)
	signed := storagetest.Fill(t, first, clock)
	want := storagetest.Exported(t, first)
	second := open(t, opts)
	if got := storagetest.Exported(t, second); !slices.Equal(got, want) {
		t.Fatalf("the new instance exports other records:\n got %s\nwant %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
	h, err := second.Horizon(ctx, signed.ID)
	must(t, err)
	equal(t, "horizon", h.IsZero(), false)
	dup := storage.Message{UserID: signed.ID, ChannelType: storage.TypeTelegram, ChannelID: "tg", Content: "again"}
	errorIs(t, second.AppendMessage(ctx, &dup, storage.AppendOptions{DedupeKey: "update:7"}), storage.ErrDuplicate)
}

package storagetest

import (
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// Fill writes records of every kind into s, for the export tests: sessions
// with and without a public key, channels with sealed secrets and secret
// metadata members, one of them deleted, messages with and without a
// retention of their own, a swept one (a horizon), responses with pending
// and sent deliveries, dedupe keys, an admin session. It returns the
// session with a public key.
func Fill(t *testing.T, s storage.Store, clock *Clock) storage.User {
	t.Helper()
	_, err := s.Secret(ctx, "apikey_secret", func() ([]byte, error) { return []byte("0123456789abcdef"), nil })
	must(t, err)
	pk := storage.PublicKey{X: "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg", Y: "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXk"}
	signed := newUser(t, s, &pk)
	legacy := newUser(t, s, nil)
	tg := storage.Channel{ID: "tg", UserID: signed.ID, Type: storage.TypeTelegram, Direction: storage.DirectionBidirectional,
		Enabled: true, Metadata: json.RawMessage(`{"botUsername":"bot","webhookSecret":"w-secret","pairingCode":"P1"}`),
		Platform: map[string]string{"botUserId": "42"}, Retention: 48 * time.Hour}
	must(t, s.CreateChannel(ctx, &tg, map[string][]byte{"botToken": []byte("token")}))
	mail := storage.Channel{ID: "mail", UserID: signed.ID, Type: storage.TypeEmail, Enabled: true, Address: "a-1@in.example",
		Metadata: json.RawMessage(`{"verified":true}`)}
	must(t, s.CreateChannel(ctx, &mail, nil))
	newChannel(t, s, legacy.ID, "wh", storage.TypeWebhook)
	newChannel(t, s, legacy.ID, "gone", storage.TypeWebhook)
	appendN(t, s, legacy.ID, "gone", 1)
	r := storage.Response{UserID: legacy.ID, ChannelID: "gone", From: "agent", Content: "kept until purged"}
	_, err = s.AppendResponse(ctx, &r, stored)
	must(t, err)
	must(t, s.DeleteChannel(ctx, legacy.ID, "gone"))

	swept := storage.Message{UserID: signed.ID, ChannelType: storage.TypeWebhook, ChannelID: "tg", Content: "swept"}
	must(t, s.AppendMessage(ctx, &swept, storage.AppendOptions{Retention: time.Minute}))
	in := storage.Message{UserID: signed.ID, ChannelType: storage.TypeTelegram, ChannelID: "tg", Content: "hello",
		Metadata: json.RawMessage(`{"updateId":7}`)}
	must(t, s.AppendMessage(ctx, &in, storage.AppendOptions{DedupeKey: "update:7", ReplyTarget: "200", Retention: 48 * time.Hour}))
	mailIn := storage.Message{UserID: signed.ID, ChannelType: storage.TypeEmail, ChannelID: "mail", Content: "mail"}
	must(t, s.AppendMessage(ctx, &mailIn, storage.AppendOptions{AcceptSender: "x@y.example"}))
	appendN(t, s, legacy.ID, "wh", 3)
	clock.Add(2 * time.Minute)
	_, err = s.Sweep(ctx, clock.Now(), time.Hour, 1000) // the one-minute message goes: a horizon
	must(t, err)

	pending := func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending, Target: "200"}, nil
	}
	for _, text := range []string{"sent", "pending"} {
		r := storage.Response{UserID: signed.ID, ChannelID: "tg", From: "agent", Content: text, Metadata: json.RawMessage(`{"replyTo":"x"}`)}
		d, err := s.AppendResponse(ctx, &r, pending)
		must(t, err)
		if text == "sent" {
			_, err = s.UpdateDelivery(ctx, d.ResponseID, func(d *storage.Delivery) error { d.Status, d.Attempts = storage.StatusSent, 1; return nil })
			must(t, err)
		}
	}
	must(t, s.PutAdminSession(ctx, []byte("token-hash-32-bytes-0123456789ab"), clock.Now().UTC()))
	return signed
}

// Exported is every record a store exports, as sorted JSON lines.
func Exported(t *testing.T, s storage.Store) []string {
	t.Helper()
	var lines []string
	must(t, s.Export(ctx, func(r storage.Record) error {
		b, err := json.Marshal(r)
		lines = append(lines, string(b))
		return err
	}))
	slices.Sort(lines)
	return lines
}

// Records replays exported JSON lines for Import.
func Records(lines []string) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		for _, line := range lines {
			var r storage.Record
			err := json.Unmarshal([]byte(line), &r)
			if !yield(r, err) {
				return
			}
		}
	}
}

// RoundTrip exports from, imports into each store of through in turn (each
// empty, with the same root key), and checks that every one exports the same
// records and serves what Fill stored: the move loses nothing.
func RoundTrip(t *testing.T, signed storage.User, from storage.Store, through ...storage.Store) {
	t.Helper()
	want := Exported(t, from)
	for _, kind := range []string{`"secret"`, `"user"`, `"channel"`, `"channelSecret"`, `"message"`, `"response"`,
		`"delivery"`, `"dedupe"`, `"adminSession"`, `"horizon"`, `"clock"`} {
		if !slices.ContainsFunc(want, func(l string) bool { return strings.HasPrefix(l, "{"+kind+":") }) {
			t.Fatalf("the export has no %s record", kind)
		}
	}
	for i, s := range through {
		must(t, s.Import(ctx, Records(want)))
		got := Exported(t, s)
		if !slices.Equal(got, want) {
			t.Fatalf("store %d exports other records after the import:\n got %s\nwant %s", i+1,
				strings.Join(got, "\n    "), strings.Join(want, "\n    "))
		}
		checkImported(t, s, signed)
		errorIs(t, s.Import(ctx, Records(want)), storage.ErrNotEmpty)
	}
}

// checkImported reads back what Fill stored, through the Store's methods.
func checkImported(t *testing.T, s storage.Store, signed storage.User) {
	t.Helper()
	again, created, err := s.RegisterUser(ctx, storage.User{ID: "new", PublicKey: signed.PublicKey}, []byte("other"))
	must(t, err)
	equal(t, "reclaim after the move", again.ID+fmt.Sprint(created), signed.ID+"false")
	ch, err := s.Channel(ctx, "tg")
	must(t, err)
	equal(t, "metadata with its secrets", string(ch.Metadata), `{"botUsername":"bot","webhookSecret":"w-secret","pairingCode":"P1"}`)
	tok, err := s.ChannelSecret(ctx, "tg", "botToken")
	must(t, err)
	equal(t, "token", string(tok), "token")
	msgs, _, err := s.MessagesAfter(ctx, signed.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "messages", len(msgs), 2)
	h, err := s.Horizon(ctx, signed.ID)
	must(t, err)
	equal(t, "horizon", h.IsZero(), false)
	heads, err := s.PendingHeads(ctx)
	must(t, err)
	equal(t, "pending heads", len(heads), 1)
	byAddr, err := s.ChannelByAddress(ctx, "a-1@in.example")
	must(t, err)
	equal(t, "address index", byAddr.ID, "mail")
	chans, err := s.Channels(ctx, signed.ID)
	must(t, err)
	equal(t, "channels in order", len(chans), 2)
	dup := storage.Message{UserID: signed.ID, ChannelType: storage.TypeTelegram, ChannelID: "tg", Content: "again"}
	errorIs(t, s.AppendMessage(ctx, &dup, storage.AppendOptions{DedupeKey: "update:7"}), storage.ErrDuplicate)
	next := storage.Channel{ID: "next", UserID: signed.ID, Type: storage.TypeWebhook, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &next, nil))
	equal(t, "channel sequence continues", next.Seq > chans[len(chans)-1].Seq, true)
	must(t, s.DeleteChannel(ctx, signed.ID, "next"))
}

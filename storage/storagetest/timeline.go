package storagetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// testMessageByID: Message finds any user's message by its id, also among
// messages of the same millisecond, with every member as MessagesAfter
// returns it; unknown, malformed and swept ids are ErrNotFound.
func testMessageByID(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	a, b := newUser(t, s, nil), newUser(t, s, nil)
	// The clock stands still: a's and b's messages share their milliseconds.
	ma := appendN(t, s, a.ID, "ca", 3)
	mb := appendN(t, s, b.ID, "cb", 3)
	equal(t, "same millisecond", ma[0].Timestamp.Equal(mb[0].Timestamp), true)
	for _, want := range append(ma, mb...) {
		got, err := s.Message(ctx, want.ID)
		must(t, err)
		equal(t, "id", got.ID, want.ID)
		equal(t, "user", got.UserID, want.UserID)
		equal(t, "channel", got.ChannelID, want.ChannelID)
		equal(t, "type", got.ChannelType, want.ChannelType)
		equal(t, "from", got.From, want.From)
		equal(t, "content", got.Content, want.Content)
		equal(t, "metadata", string(got.Metadata), string(want.Metadata))
		equal(t, "timestamp", got.Timestamp.Equal(want.Timestamp), true)
		ts, ok := storage.TimeOfID(got.ID)
		equal(t, "id time is the timestamp", ok && ts.Equal(got.Timestamp), true)
	}
	unknown := storage.NewTimeID(ma[1].Timestamp) // same millisecond, another id
	for _, id := range []string{unknown, "", "not-an-id", storage.NewID(), strings.ToUpper(ma[0].ID)} {
		_, err := s.Message(ctx, id)
		errorIs(t, err, storage.ErrNotFound)
	}
	clock.Add(time.Hour)
	_, err := s.Sweep(ctx, clock.Now(), time.Minute, 100)
	must(t, err)
	_, err = s.Message(ctx, ma[0].ID)
	errorIs(t, err, storage.ErrNotFound)
}

// testDeliveryHistory: a delivery record keeps the attempts recorded in it
// through UpdateDelivery, and returns them from Delivery, Deliveries and
// PendingHead(s); the history is bounded.
func testDeliveryHistory(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	u := newUser(t, s, nil)
	tg := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &tg, nil))
	r := storage.Response{UserID: u.ID, ChannelID: "tg", From: "agent", Content: "x"}
	_, err := s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending}, nil
	})
	must(t, err)
	next := t0.Add(time.Second)
	_, err = s.UpdateDelivery(ctx, r.ID, func(d *storage.Delivery) error {
		d.Attempts++
		d.Record(storage.Attempt{At: t0, Number: 1, Result: storage.AttemptRetry, Error: "429 Too Many Requests", NextAttemptAt: next})
		return nil
	})
	must(t, err)
	check := func(what string, d storage.Delivery, n int) {
		t.Helper()
		equal(t, what+": history", len(d.History), n)
		first := d.History[0]
		equal(t, what+": at", first.At.Equal(t0), true)
		equal(t, what+": result", first.Result, storage.AttemptRetry)
		equal(t, what+": error", first.Error, "429 Too Many Requests")
		equal(t, what+": next", first.NextAttemptAt.Equal(next), true)
	}
	d, err := s.Delivery(ctx, r.ID)
	must(t, err)
	check("Delivery", d, 1)
	head, err := s.PendingHead(ctx, "tg")
	must(t, err)
	check("PendingHead", head.Delivery, 1)
	_, err = s.UpdateDelivery(ctx, r.ID, func(d *storage.Delivery) error {
		d.Status = storage.StatusFailed
		d.Record(storage.Attempt{At: t0.Add(time.Second), Number: 2, Result: storage.AttemptFailed, Error: strings.Repeat("é", 400)})
		return nil
	})
	must(t, err)
	list, err := s.Deliveries(ctx, storage.StatusFailed, "", 10)
	must(t, err)
	equal(t, "failed", len(list), 1)
	check("Deliveries", list[0], 2)
	last := list[0].History[1]
	equal(t, "no next attempt after a final one", last.NextAttemptAt.IsZero(), true)
	equal(t, "error cut to its bound, whole characters", len(last.Error), storage.MaxAttemptError)
	for range storage.MaxAttemptHistory + 5 {
		_, err = s.UpdateDelivery(ctx, r.ID, func(d *storage.Delivery) error {
			d.Record(storage.Attempt{At: t0, Result: storage.AttemptRetry})
			return nil
		})
		must(t, err)
	}
	d, err = s.Delivery(ctx, r.ID)
	must(t, err)
	equal(t, "bounded history", len(d.History), storage.MaxAttemptHistory)
}

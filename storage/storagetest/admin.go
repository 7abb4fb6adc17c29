package storagetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

func testAdminSessions(t *testing.T, open Opener) {
	s := open(t, time.Now)
	must(t, s.PutAdminSession(ctx, []byte("h1"), t0))
	must(t, s.PutAdminSession(ctx, []byte("h2"), t0.Add(time.Hour)))
	got, err := s.AdminSession(ctx, []byte("h1"))
	must(t, err)
	equal(t, "createdAt", got.Equal(t0), true)
	n, err := s.ExpireAdminSessions(ctx, t0.Add(time.Minute))
	must(t, err)
	equal(t, "expired", n, 1)
	_, err = s.AdminSession(ctx, []byte("h1"))
	errorIs(t, err, storage.ErrNotFound)
	must(t, s.DeleteAdminSession(ctx, []byte("h2")))
	_, err = s.AdminSession(ctx, []byte("h2"))
	errorIs(t, err, storage.ErrNotFound)
}

func testAdminOverview(t *testing.T, open Opener) {
	clock := NewClock(t0)
	s := open(t, clock.Now)
	var users []storage.User
	for i := range 3 {
		u := storage.User{ID: storage.NewID(), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		_, _, err := s.RegisterUser(ctx, u, []byte("hash-"+u.ID))
		must(t, err)
		users = append(users, u)
	}
	n, err := s.CountUsers(ctx)
	must(t, err)
	equal(t, "count", n, 3)
	page, err := s.UsersNewestFirst(ctx, 1, 5)
	must(t, err)
	equal(t, "page", len(page), 2)
	equal(t, "newest after offset", page[0].ID, users[1].ID)
	equal(t, "oldest", page[1].ID, users[0].ID)

	u := users[0]
	newChannel(t, s, u.ID, "wh", storage.TypeWebhook)
	msgs := appendN(t, s, u.ID, "wh", 3)
	clock.Add(time.Second)
	r := storage.Response{UserID: u.ID, ChannelID: "wh", From: "agent", Content: "reply"}
	_, err = s.AppendResponse(ctx, &r, stored)
	must(t, err)
	clock.Add(time.Second) // distinct milliseconds: the order is the test's subject
	appendN(t, s, users[1].ID, "x", 1)

	n, err = s.CountMessagesSince(ctx, t0.Add(time.Second))
	must(t, err)
	equal(t, "messages since", n, 1) // the other user's; u's three came before
	n, err = s.CountMessagesSince(ctx, time.Time{})
	must(t, err)
	equal(t, "all messages", n, 4)
	recent, err := s.RecentItems(ctx, 3)
	must(t, err)
	equal(t, "recent", len(recent), 3)
	equal(t, "newest is the other user's", recent[0].UserID, users[1].ID)
	equal(t, "then the response", recent[1].Out, true)
	equal(t, "response delivery", recent[1].Delivery.Status, storage.StatusStored)
	equal(t, "then a message", recent[2].ID, msgs[2].ID)

	items, err := s.UserItems(ctx, u.ID, time.Time{}, 2)
	must(t, err)
	equal(t, "user items", len(items), 2)
	equal(t, "newest first", items[0].ID, r.ID)
	equal(t, "then", items[1].ID, msgs[2].ID)
	items, err = s.UserItems(ctx, u.ID, items[1].Timestamp, 10)
	must(t, err)
	equal(t, "older", len(items), 2)
	equal(t, "oldest last", items[1].ID, msgs[0].ID)
	_, err = s.UserItems(ctx, "nope", time.Time{}, 10)
	errorIs(t, err, storage.ErrNotFound)
}

func testDeliveriesListing(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	c := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &c, nil))
	var ids []string
	for i := range 5 {
		status := storage.StatusPending
		if i%2 == 1 {
			status = storage.StatusFailed
		}
		r := storage.Response{UserID: u.ID, ChannelID: "tg", Content: fmt.Sprint(i)}
		_, err := s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
			return storage.Delivery{Status: status}, nil
		})
		must(t, err)
		ids = append(ids, r.ID)
	}
	all, err := s.Deliveries(ctx, "", "", 3)
	must(t, err)
	equal(t, "page", len(all), 3)
	equal(t, "newest", all[0].ResponseID, ids[4])
	rest, err := s.Deliveries(ctx, "", all[2].ResponseID, 10)
	must(t, err)
	equal(t, "rest", len(rest), 2)
	equal(t, "oldest", rest[1].ResponseID, ids[0])
	failed, err := s.Deliveries(ctx, storage.StatusFailed, "", 10)
	must(t, err)
	equal(t, "failed", len(failed), 2)
	counts, err := s.DeliveryCounts(ctx)
	must(t, err)
	equal(t, "pending count", counts[storage.StatusPending], 3)
	equal(t, "failed count", counts[storage.StatusFailed], 2)
	equal(t, "sent count", counts[storage.StatusSent], 0)
	pending, err := s.PendingCounts(ctx)
	must(t, err)
	equal(t, "pending by type", pending[storage.TypeTelegram], 3)
}

func testDeleteUser(t *testing.T, open Opener) {
	s := open(t, time.Now)
	key := &storage.PublicKey{X: "dx", Y: "dy"}
	u := newUser(t, s, key)
	keep := newUser(t, s, nil)
	newChannel(t, s, u.ID, "wh", storage.TypeWebhook)
	tg := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &tg, map[string][]byte{"botToken": []byte("t")}))
	newChannel(t, s, keep.ID, "other", storage.TypeWebhook)
	appendN(t, s, u.ID, "wh", 3)
	kept := appendN(t, s, keep.ID, "other", 1)
	r := storage.Response{UserID: u.ID, ChannelID: "tg", Content: "x"}
	_, err := s.AppendResponse(ctx, &r, func(storage.ChannelView) (storage.Delivery, error) {
		return storage.Delivery{Status: storage.StatusPending}, nil
	})
	must(t, err)

	chans, err := s.DeleteUser(ctx, u.ID)
	must(t, err)
	equal(t, "deleted channels", len(chans), 2)
	_, err = s.User(ctx, u.ID)
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.UserByAPIKeyHash(ctx, []byte("hash-"+u.ID))
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.Channel(ctx, "tg")
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.ChannelSecret(ctx, "tg", "botToken")
	errorIs(t, err, storage.ErrNotFound)
	msgs, _, err := s.MessagesAfter(ctx, u.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "messages", len(msgs), 0)
	d, err := s.Delivery(ctx, r.ID)
	must(t, err)
	equal(t, "delivery failed", d.LastError, "session deleted")
	heads, err := s.PendingHeads(ctx)
	must(t, err)
	equal(t, "no pending", len(heads), 0)
	// The same key registers a new session; ids are free again.
	again, created, err := s.RegisterUser(ctx, storage.User{ID: storage.NewID(), CreatedAt: t0, PublicKey: key}, []byte("new"))
	must(t, err)
	equal(t, "new session", created, true)
	equal(t, "new id", again.ID != u.ID, true)
	newChannel(t, s, again.ID, "wh", storage.TypeWebhook)
	// Nobody else lost anything.
	left, _, err := s.MessagesAfter(ctx, keep.ID, time.Time{}, 10)
	must(t, err)
	equal(t, "other user's messages", len(left), 1)
	equal(t, "other user's message", left[0].ID, kept[0].ID)
	recent, err := s.RecentItems(ctx, 10)
	must(t, err)
	equal(t, "recent skips deleted", len(recent), 1)
	_, err = s.DeleteUser(ctx, u.ID)
	errorIs(t, err, storage.ErrNotFound)
}

func testBrowse(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	appendN(t, s, u.ID, "c", 2)
	if _, err := s.Secret(ctx, "apikey_secret", func() ([]byte, error) { return []byte("x"), nil }); err != nil {
		t.Fatal(err)
	}
	buckets, err := s.Buckets(ctx)
	must(t, err)
	counts := map[string]int{}
	for _, b := range buckets {
		counts[b.Name] = b.Count
	}
	equal(t, "users bucket", counts["users"], 1)
	equal(t, "message log", counts["message_log"], 2)
	entries, err := s.Browse(ctx, []string{"message_log"}, 1)
	must(t, err)
	equal(t, "limit", len(entries), 1)
	equal(t, "key segments", len(entries[0].Key), 2)
	equal(t, "user segment", entries[0].Key[1], u.ID)
	equal(t, "json value", json.Valid(entries[0].Value), true)
	meta, err := s.Browse(ctx, []string{"meta"}, 10)
	must(t, err)
	sealed := false
	for _, e := range meta {
		sealed = sealed || e.Sealed
		if e.Sealed && e.Value != nil {
			t.Fatal("a sealed value was shown")
		}
	}
	equal(t, "sealed shown as sealed", sealed, true)
	_, err = s.Browse(ctx, []string{"nope"}, 10)
	errorIs(t, err, storage.ErrNotFound)
}

// testSecretsNeverBrowsed: a session's public key and a channel's inbound
// secrets are given back to the relay but never shown by the store browser
// (they are sealed at rest, PROTOCOL §11.3).
func testSecretsNeverBrowsed(t *testing.T, open Opener) {
	s := open(t, time.Now)
	pk := storage.PublicKey{X: "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg", Y: "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXk"}
	u := newUser(t, s, &pk)
	meta := `{"botUsername":"bot","webhookSecret":"secret-never-shown","pairingCode":"PAIR0042"}`
	c := storage.Channel{ID: "tg", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(meta)}
	must(t, s.CreateChannel(ctx, &c, map[string][]byte{"botToken": []byte("token-never-shown")}))
	got, err := s.Channel(ctx, "tg")
	must(t, err)
	equal(t, "metadata", string(got.Metadata), meta)
	again, err := s.User(ctx, u.ID)
	must(t, err)
	equal(t, "public key", *again.PublicKey, pk)
	buckets, err := s.Buckets(ctx)
	must(t, err)
	for _, b := range buckets {
		entries, err := s.Browse(ctx, []string{b.Name}, 1000)
		must(t, err)
		for _, e := range entries {
			for _, plain := range []string{pk.X, pk.Y, "secret-never-shown", "PAIR0042", "token-never-shown"} {
				if strings.Contains(strings.Join(e.Key, "/"), plain) || strings.Contains(string(e.Value), plain) {
					t.Errorf("browser shows %q in %s/%v: %s", plain, b.Name, e.Key, e.Value)
				}
			}
		}
	}
}

func testEmailChannels(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	ch := storage.Channel{ID: "mail", UserID: u.ID, Type: storage.TypeEmail, Enabled: true, Address: "a-1@x.test",
		Metadata: json.RawMessage(`{"verified":false}`)}
	must(t, s.CreateChannel(ctx, &ch, map[string][]byte{"verificationToken": []byte("tok")}))
	dup := storage.Channel{ID: "mail2", UserID: u.ID, Type: storage.TypeEmail, Address: "a-1@x.test", Metadata: json.RawMessage(`{}`)}
	errorIs(t, s.CreateChannel(ctx, &dup, nil), storage.ErrAddressTaken)
	got, err := s.ChannelByAddress(ctx, "a-1@x.test")
	must(t, err)
	equal(t, "by address", got.ID, "mail")

	verify := func(*storage.Channel) error { return nil }
	_, err = s.ConsumeChannelSecret(ctx, "mail", "verificationToken", func(b []byte) bool { return string(b) == "nope" }, verify)
	errorIs(t, err, storage.ErrSecretMismatch)
	upd, err := s.ConsumeChannelSecret(ctx, "mail", "verificationToken", func(b []byte) bool { return string(b) == "tok" },
		func(c *storage.Channel) error { c.Metadata = json.RawMessage(`{"verified":true}`); return nil })
	must(t, err)
	equal(t, "updated", string(upd.Metadata), `{"verified":true}`)
	_, err = s.ConsumeChannelSecret(ctx, "mail", "verificationToken", func([]byte) bool { return true }, verify)
	errorIs(t, err, storage.ErrSecretMismatch) // single use

	m := storage.Message{UserID: u.ID, ChannelType: storage.TypeEmail, ChannelID: "mail", Content: "x"}
	must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{AcceptSender: "alice@example.com", ReplyTarget: "alice@example.com"}))
	r := storage.Response{UserID: u.ID, ChannelID: "mail", Content: "hi"}
	var accepted, stranger bool
	_, err = s.AppendResponse(ctx, &r, func(v storage.ChannelView) (storage.Delivery, error) {
		accepted, stranger = v.Accepted("alice@example.com"), v.Accepted("eve@example.com")
		return storage.Delivery{Status: storage.StatusStored}, nil
	})
	must(t, err)
	equal(t, "accepted sender", accepted, true)
	equal(t, "stranger", stranger, false)

	must(t, s.DeleteChannel(ctx, u.ID, "mail"))
	_, err = s.ChannelByAddress(ctx, "a-1@x.test")
	errorIs(t, err, storage.ErrNotFound)
	must(t, s.CreateChannel(ctx, &dup, nil)) // the address is free again
}

// testChannelReadsFollowWrites: however a backend caches channels, a read
// after a write returns what was written, even with readers racing writers.
func testChannelReadsFollowWrites(t *testing.T, open Opener) {
	s := open(t, time.Now)
	u := newUser(t, s, nil)
	newChannel(t, s, u.ID, "c", storage.TypeWebhook)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a reader that keeps the channel hot
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = s.Channel(ctx, "c")
			}
		}
	}()
	for i := range 50 {
		name := fmt.Sprint("name-", i)
		_, err := s.UpdateChannel(ctx, "c", func(ch *storage.Channel) error { ch.Name = name; return nil })
		must(t, err)
		got, err := s.Channel(ctx, "c")
		must(t, err)
		equal(t, "name after update", got.Name, name)
	}
	close(stop)
	<-done
	must(t, s.DeleteChannel(ctx, u.ID, "c"))
	_, err := s.Channel(ctx, "c")
	errorIs(t, err, storage.ErrNotFound)
	_, err = s.PurgeDeleted(ctx, 100)
	must(t, err)
	again := storage.Channel{ID: "c", UserID: u.ID, Type: storage.TypeTelegram, Enabled: true, Metadata: json.RawMessage(`{}`)}
	must(t, s.CreateChannel(ctx, &again, nil))
	got, err := s.Channel(ctx, "c")
	must(t, err)
	equal(t, "recreated type", got.Type, storage.TypeTelegram)
}

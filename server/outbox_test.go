package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage"
)

// fakeSender records the parts it accepts; fail decides, per call, whether
// an attempt fails (nil: accept).
type fakeSender struct {
	maxUnits int
	fail     func(call int, p channels.Part) error

	mu    sync.Mutex
	calls int
	sent  []channels.Part
}

func (f *fakeSender) MaxPartUnits() int { return f.maxUnits }

func (f *fakeSender) Send(ctx context.Context, p channels.Part, creds channels.Credentials) error {
	tok, err := creds(ctx, "botToken")
	if err != nil || string(tok) != "secret-token" {
		return fmt.Errorf("credentials: %q %v", tok, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(f.calls, p); err != nil {
			return err
		}
	}
	f.sent = append(f.sent, p)
	return nil
}

func (f *fakeSender) parts() []channels.Part {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]channels.Part(nil), f.sent...)
}

var _ channels.Sender = (*fakeSender)(nil)

// fastRetries makes the backoff milliseconds instead of seconds.
func fastRetries(c *app.Config) {
	c.Delivery.MaxBackoff = 5 * time.Millisecond
	c.RateLimits.Disabled = true
}

// outboxRelay starts a relay whose telegram replies go to sender, with a
// session owning a credentialed telegram channel.
func outboxRelay(t *testing.T, sender *fakeSender, mutate ...func(*app.Config)) (*relay, *client.Client, string) {
	t.Helper()
	r := newRelay(t, append([]func(*app.Config){fastRetries}, mutate...)...)
	r.senders = map[string]channels.Sender{storage.TypeTelegram: sender}
	r.restart(t)
	c := r.register(t, true)
	ch := storage.Channel{ID: "tg-" + c.UserID[:8], UserID: c.UserID, Type: storage.TypeTelegram,
		Direction: storage.DirectionBidirectional, Enabled: true, Metadata: json.RawMessage(`{}`), CreatedAt: time.Now()}
	if err := r.store.CreateChannel(bg, &ch, map[string][]byte{"botToken": []byte("secret-token")}); err != nil {
		t.Fatal(err)
	}
	return r, c, ch.ID
}

func replyTo(t *testing.T, c *client.Client, channelID, content string) string {
	t.Helper()
	id, err := c.Reply(bg, client.Reply{ChannelID: channelID, Content: content, Metadata: map[string]any{"chatId": 42}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitDelivery waits until the delivery leaves pending and returns it.
func waitDelivery(t *testing.T, r *relay, responseID string) storage.Delivery {
	t.Helper()
	var d storage.Delivery
	waitFor(t, "delivery "+responseID+" to finish", func() bool {
		var err error
		d, err = r.store.Delivery(bg, responseID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status != storage.StatusPending
	})
	return d
}

func TestOutboxRetriesThenSends(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{fail: func(call int, _ channels.Part) error {
		if call <= 3 {
			return errors.New("HTTP 500")
		}
		return nil
	}}
	r, c, ch := outboxRelay(t, sender)
	id := replyTo(t, c, ch, "hello")
	d := waitDelivery(t, r, id)
	if d.Status != storage.StatusSent || d.Attempts != 4 || d.PartsSent != 1 || d.PartsTotal != 1 || d.Target != "42" {
		t.Fatalf("delivery %+v", d)
	}
	if got := sender.parts(); len(got) != 1 || got[0].Text != "hello" || got[0].Target != "42" || got[0].ResponseID != id {
		t.Fatalf("sent %+v", got)
	}
	// The counter follows the commit of the final status.
	for _, want := range []string{
		`relay_deliveries_total{channel_type="telegram",result="retry"} 3`,
		`relay_deliveries_total{channel_type="telegram",result="sent"} 1`,
		`relay_deliveries_pending{channel_type="telegram"} 0`,
	} {
		waitFor(t, "metric "+want, func() bool {
			return strings.Contains(send(t, http.MethodGet, r.URL+"/metrics", nil, nil).body, want)
		})
	}
}

func TestOutboxGivesUp(t *testing.T) {
	t.Parallel()
	always := &fakeSender{fail: func(int, channels.Part) error { return errors.New("HTTP 502") }}
	r, c, ch := outboxRelay(t, always, func(c *app.Config) { c.Delivery.MaxAttempts = 5 })
	id := replyTo(t, c, ch, "doomed")
	d := waitDelivery(t, r, id)
	if d.Status != storage.StatusFailed || d.Attempts != 5 || d.LastError != "HTTP 502" {
		t.Fatalf("delivery %+v", d)
	}

	permanent := &fakeSender{fail: func(int, channels.Part) error { return channels.Permanent(errors.New("HTTP 400 chat not found")) }}
	r, c, ch = outboxRelay(t, permanent)
	id = replyTo(t, c, ch, "nope")
	d = waitDelivery(t, r, id)
	if d.Status != storage.StatusFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "chat not found") {
		t.Fatalf("permanent failure: %+v", d)
	}
}

// TestOutboxSplitsAndResumes: a long reply goes out in ordered parts; a part
// that fails is retried without re-sending the accepted ones.
func TestOutboxSplitsAndResumes(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{maxUnits: 10, fail: func(call int, p channels.Part) error {
		if p.Index == 1 && call == 2 {
			return errors.New("timeout")
		}
		return nil
	}}
	r, c, ch := outboxRelay(t, sender)
	id := replyTo(t, c, ch, "aaaa bbbb cccc dddd eeee")
	d := waitDelivery(t, r, id)
	if d.Status != storage.StatusSent || d.PartsSent != 3 || d.PartsTotal != 3 {
		t.Fatalf("delivery %+v", d)
	}
	var texts []string
	for _, p := range sender.parts() {
		texts = append(texts, p.Text)
	}
	if strings.Join(texts, "|") != "aaaa bbbb |cccc dddd |eeee" {
		t.Fatalf("parts %q", texts)
	}
}

// TestOutboxOrderPerChannel: a channel's replies go out in order even when
// the first needs retries.
func TestOutboxOrderPerChannel(t *testing.T) {
	t.Parallel()
	sender := &fakeSender{fail: func(call int, p channels.Part) error {
		if p.Text == "first" && call < 3 {
			return errors.New("busy")
		}
		return nil
	}}
	r, c, ch := outboxRelay(t, sender)
	var ids []string
	for _, text := range []string{"first", "second", "third"} {
		ids = append(ids, replyTo(t, c, ch, text))
	}
	for _, id := range ids {
		waitDelivery(t, r, id)
	}
	var texts []string
	for _, p := range sender.parts() {
		texts = append(texts, p.Text)
	}
	if strings.Join(texts, ",") != "first,second,third" {
		t.Fatalf("order %v", texts)
	}
}

// TestOutboxSurvivesRestart: pending replies resume after a restart; a reply
// whose success was recorded is never sent again.
func TestOutboxSurvivesRestart(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	sender := &fakeSender{fail: func(_ int, p channels.Part) error {
		if p.Text == "later" {
			select {
			case <-block:
				return nil
			default:
				return errors.New("platform down")
			}
		}
		return nil
	}}
	r, c, ch := outboxRelay(t, sender, func(c *app.Config) { c.Delivery.MaxBackoff = 50 * time.Millisecond })
	done := replyTo(t, c, ch, "done")
	if d := waitDelivery(t, r, done); d.Status != storage.StatusSent {
		t.Fatalf("first reply %+v", d)
	}
	later := replyTo(t, c, ch, "later")
	waitFor(t, "a failed attempt", func() bool {
		d, _ := r.store.Delivery(bg, later)
		return d.Attempts >= 1
	})
	r.restart(t)
	close(block)
	if d := waitDelivery(t, r, later); d.Status != storage.StatusSent {
		t.Fatalf("reply after restart %+v", d)
	}
	count := map[string]int{}
	for _, p := range sender.parts() {
		count[p.Text]++
	}
	if count["done"] != 1 || count["later"] != 1 {
		t.Fatalf("sent counts %v", count)
	}
}

// TestOutboxWithoutPrerequisites: replies that cannot be delivered fail at
// once with the protocol's reasons; webhook replies are only stored.
func TestOutboxWithoutPrerequisites(t *testing.T) {
	t.Parallel()
	r, c, ch := outboxRelay(t, &fakeSender{})
	noTarget, err := c.Reply(bg, client.Reply{ChannelID: ch, Content: "x"})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := c.CreateChannel(bg, client.NewChannel{Type: "telegram"}) // no bot token
	if err != nil {
		t.Fatal(err)
	}
	noCreds := replyTo(t, c, plain.ID, "x")
	hook, _ := webhookChannel(t, c, client.NewChannel{})
	stored := replyTo(t, c, hook.ID, "x")
	for id, want := range map[string][2]string{
		noTarget: {storage.StatusFailed, "no reply target"},
		noCreds:  {storage.StatusFailed, "channel has no credentials"},
		stored:   {storage.StatusStored, ""},
	} {
		d, err := r.store.Delivery(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != want[0] || d.LastError != want[1] {
			t.Fatalf("delivery %+v, want %v", d, want)
		}
	}
}

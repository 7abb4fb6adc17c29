package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage/seal"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// TestChannelRetention: a channel may keep its messages for a retention of
// its own, between a minute and RELAY_MAX_RETENTION; null returns to the
// relay's; a bad value is refused and changes nothing.
func TestChannelRetention(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits)
	c := r.register(t, false)
	a := signedSend(t, c, http.MethodPost, "/channels", []byte(`{"id":"keep","retention":"72h"}`))
	if a.status != http.StatusCreated || !strings.Contains(a.body, `"retention":"72h"`) {
		t.Fatalf("create with a retention: %d %s", a.status, a.body)
	}
	plain := signedSend(t, c, http.MethodPost, "/channels", []byte(`{"id":"plain"}`))
	if strings.Contains(plain.body, "retention") {
		t.Fatalf("a channel without a retention of its own shows one: %s", plain.body)
	}
	for _, bad := range []string{`"59s"`, `"721h"`, `"soon"`, `72`, `true`, `""`} {
		expect(t, signedSend(t, c, http.MethodPatch, "/channels/keep", []byte(`{"name":"x","retention":`+bad+`}`)),
			http.StatusBadRequest, `{"error":"Invalid retention"}`)
		expect(t, signedSend(t, c, http.MethodPost, "/channels", []byte(`{"id":"bad","retention":`+bad+`}`)),
			http.StatusBadRequest, `{"error":"Invalid retention"}`)
	}
	list := signedSend(t, c, http.MethodGet, "/channels", nil)
	if !strings.Contains(list.body, `"id":"keep","type":"webhook","direction":"inbound","agentId":"","enabled":true,"metadata":{"webhookSecret":`) ||
		!strings.Contains(list.body, `"retention":"72h"`) || strings.Contains(list.body, `"name":"x"`) || strings.Contains(list.body, `"id":"bad"`) {
		t.Fatalf("a refused change changed something: %s", list.body)
	}
	if a := signedSend(t, c, http.MethodPatch, "/channels/keep", []byte(`{"retention":"90m"}`)); !strings.Contains(a.body, `"retention":"1h30m"`) {
		t.Fatalf("patch: %d %s", a.status, a.body)
	}
	if a := signedSend(t, c, http.MethodPatch, "/channels/keep", []byte(`{"retention":null}`)); strings.Contains(a.body, "retention") {
		t.Fatalf("null keeps a retention: %d %s", a.status, a.body)
	}
}

// TestGapSignal: messages that retention deleted before a client read them
// are reported when the client resumes from before them: in the poll's
// answer, and as a gap frame to sockets that ask for one (gaps=1).
func TestGapSignal(t *testing.T) {
	t.Parallel()
	clock := storagetest.NewClock(time.Now())
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{now: clock.Now, key: key, cfg: app.DefaultConfig()}
	r.cfg.Store.DataDir = t.TempDir()
	r.cfg.RateLimits.Disabled = true
	r.cfg.SweepInterval = 10 * time.Millisecond
	r.start(t)
	c := r.register(t, false)
	created := signedSend(t, c, http.MethodPost, "/channels", []byte(`{"retention":"1m"}`))
	var ch struct{ WebhookURL string }
	decode(t, created, &ch)
	const since = "2020-01-01T00:00:00.000Z"
	postN(t, ch.WebhookURL, 3, "soon lost")
	var page struct {
		Messages []struct{ Timestamp string }
		Gap      *struct{ Since, LostUntil string }
	}
	decode(t, signedSend(t, c, http.MethodGet, "/messages?since="+since, nil), &page)
	if len(page.Messages) != 3 || page.Gap != nil {
		t.Fatalf("before the sweep: %+v", page)
	}
	last := page.Messages[2].Timestamp

	clock.Add(2 * time.Minute) // the channel's retention has passed: the next sweep deletes them
	want := `"gap":{"since":"` + since + `","lostUntil":"` + last + `"}`
	waitFor(t, "the gap in a poll from before the deleted messages", func() bool {
		a := signedSend(t, c, http.MethodGet, "/messages?since="+since, nil)
		return a.body == `{"messages":[],"since":"`+since+`","hasMore":false,`+want+`}`
	})
	if a := signedSend(t, c, http.MethodGet, "/messages?since="+last, nil); strings.Contains(a.body, "gap") {
		t.Fatalf("a client that read everything is told of a gap: %s", a.body)
	}
	if a := signedSend(t, c, http.MethodGet, "/messages", nil); strings.Contains(a.body, "gap") {
		t.Fatalf("a poll without since is told of a gap: %s", a.body)
	}

	// A socket that asks for gaps gets the frame before the replay; one that
	// does not ask gets none.
	withGaps := r.dialWSQuery(t, c, "since="+since+"&gaps=1")
	f := readFrame(t, withGaps)
	if f.Type != "gap" || f.Since != since || f.LostUntil != last {
		t.Fatalf("first frame %+v, want the gap", f)
	}
	plain := r.dialWS(t, c, since, nil)
	_, kept := webhookChannel(t, c, client.NewChannel{}) // the relay's retention: nothing more is lost
	id := postN(t, kept, 1, "new")[0]
	if f := readFrame(t, plain); f.Type != "message" || f.Message.ID != id {
		t.Fatalf("a socket without gaps=1 got %+v first", f)
	}

	// The Go client reports it, through Poll and Subscribe.
	var mu sync.Mutex
	var gaps []client.Gap
	c.OnGap = func(g client.Gap) { mu.Lock(); gaps = append(gaps, g); mu.Unlock() }
	c.Cursor = since
	if _, err := c.Poll(bg, 10); err != nil {
		t.Fatal(err)
	}
	c.Cursor = since
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	go func() { _ = c.Subscribe(ctx, func(client.Message) error { cancel(); return nil }) }()
	waitFor(t, "the client's gap callbacks", func() bool { mu.Lock(); defer mu.Unlock(); return len(gaps) == 2 })
	for _, g := range gaps {
		if g.Since != since || g.LostUntil != last {
			t.Fatalf("gap %+v", g)
		}
	}
}

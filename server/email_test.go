package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/channels/email/emailtest"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage"
)

const mailDomain = "mail.example.org"

func emailRelay(t *testing.T, mutate ...func(*app.Config)) (*relay, *emailtest.Server) {
	t.Helper()
	fake := emailtest.New(t)
	r := newRelay(t, append([]func(*app.Config){func(c *app.Config) {
		c.Email.APIURL, c.Email.APIKey = fake.URL, emailtest.APIKey
		c.Email.Domain, c.Email.WebhookSecret = mailDomain, emailtest.WebhookSecret
		c.BaseURL = "https://relay.example.com"
		fastRetries(c)
	}}, mutate...)...)
	return r, fake
}

var verifyLink = regexp.MustCompile(`https://relay\.example\.com/email/verify\?[^\s"<]+`)

// registerMail registers an email channel for c and verifies it through the
// link of the verification mail.
func registerMail(t *testing.T, r *relay, fake *emailtest.Server, c *client.Client, verify bool) (channelID, address string) {
	t.Helper()
	a := signedSend(t, c, http.MethodPost, "/channels/email/register", []byte(`{"userEmail":"Owner@Example.com","channelName":"Support Desk"}`))
	var out struct{ ChannelID, InboundAddress string }
	decode(t, a, &out)
	if a.status != 201 || !regexp.MustCompile(`^support-desk-[a-z0-9]{10}@`+regexp.QuoteMeta(mailDomain)+`$`).MatchString(out.InboundAddress) {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	sent := fake.Sent() // the verification mail went out before the 201
	mail := sent[len(sent)-1]
	link := verifyLink.FindString(mail.Text)
	if mail.To[0] != "Owner@Example.com" || mail.From != "noreply@"+mailDomain || link == "" || !strings.Contains(mail.Text, out.InboundAddress) {
		t.Fatalf("verification mail %+v", mail)
	}
	if verify {
		u, _ := url.Parse(link)
		page := send(t, http.MethodGet, r.URL+u.RequestURI(), nil, nil)
		if page.status != 200 || !strings.Contains(page.body, "Email verified!") || !strings.Contains(page.body, "<code>"+out.InboundAddress+"</code>") ||
			page.header.Get("Content-Type") != "text/html; charset=utf-8" || page.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("verify page %d %s", page.status, page.body)
		}
		again := send(t, http.MethodGet, r.URL+u.RequestURI(), nil, nil)
		if again.status != 400 || !strings.Contains(again.body, "Verification failed: invalid or expired token.") {
			t.Fatalf("second use of the link: %d", again.status)
		}
	}
	return out.ChannelID, out.InboundAddress
}

// inbound posts a signed Resend event.
func inbound(t *testing.T, r *relay, id string, body []byte, ts time.Time) answer {
	t.Helper()
	h := emailtest.SignWebhook(emailtest.WebhookSecret, id, ts, body)
	header := map[string]string{}
	for k := range h {
		header[k] = h.Get(k)
	}
	return send(t, http.MethodPost, r.URL+"/email/inbound", body, header)
}

func TestEmailRegistrationAndVerification(t *testing.T) {
	t.Parallel()
	r, fake := emailRelay(t)
	c := r.register(t, true)
	id, address := registerMail(t, r, fake, c, true)
	chans, err := c.Channels(bg)
	if err != nil {
		t.Fatal(err)
	}
	m := chans[0].Metadata
	if chans[0].ID != id || chans[0].Type != "email" || m["inboundAddress"] != address || m["verified"] != true ||
		m["userEmail"] != "Owner@Example.com" || len(m["allowedSenders"].([]any)) != 1 || chans[0].Name != "" {
		t.Fatalf("channel %+v", chans[0])
	}
	// Pages for bad links.
	expect(t, send(t, http.MethodGet, r.URL+"/email/verify?token=x", nil, nil), 400, "Missing token or channelId")
	if a := send(t, http.MethodGet, r.URL+"/email/verify?token=x&channelId=nope", nil, nil); a.status != 404 || !strings.Contains(a.body, "Verification failed: channel not found.") {
		t.Fatalf("unknown channel page %d", a.status)
	}
	hook, _ := webhookChannel(t, c, client.NewChannel{})
	if a := send(t, http.MethodGet, r.URL+"/email/verify?token=x&channelId="+hook.ID, nil, nil); a.status != 400 || !strings.Contains(a.body, "not an email channel") {
		t.Fatalf("webhook channel page %d", a.status)
	}
}

func TestEmailRegistrationFailuresLeaveNothing(t *testing.T) {
	t.Parallel()
	r, fake := emailRelay(t)
	c := r.register(t, false)
	try := func(body string) answer {
		return signedSend(t, c, http.MethodPost, "/channels/email/register", []byte(body))
	}
	expectError(t, try(`{"userEmail"`), 400, "Email registration failed: Invalid JSON body")
	expectError(t, try(`{"userEmail":""}`), 400, "Missing or invalid userEmail")
	expectError(t, try(`{"userEmail":"a@b.c","channelName":"!!!"}`), 400, "Email registration failed: Invalid channel name — must contain at least one alphanumeric character")
	fake.FailNext("/emails", 1, 422, `{"statusCode":422,"message":"Invalid to field","name":"validation_error"}`)
	expectError(t, try(`{"userEmail":"nope"}`), 400, `Email registration failed: Failed to send verification email: 422 {"statusCode":422,"message":"Invalid to field","name":"validation_error"}`)
	if chans, _ := c.Channels(bg); len(chans) != 0 {
		t.Fatalf("channels after failures: %+v", chans)
	}
	noDomain, _ := emailRelay(t, func(c *app.Config) { c.Email.Domain = "" })
	nc := noDomain.register(t, false)
	expectError(t, signedSend(t, nc, http.MethodPost, "/channels/email/register", []byte(`{"userEmail":"a@b.c"}`)), 503, "Email not configured (set CHAOS_EMAIL_DOMAIN env var)")
	noKey, _ := emailRelay(t, func(c *app.Config) { c.Email.APIKey = "" })
	kc := noKey.register(t, false)
	expectError(t, signedSend(t, kc, http.MethodPost, "/channels/email/register", []byte(`{"userEmail":"a@b.c"}`)), 503, "Email registration failed: RESEND_API_KEY environment variable is not set")
}

func TestEmailInboundSignatures(t *testing.T) {
	t.Parallel()
	r, fake := emailRelay(t)
	c := r.register(t, false)
	_, address := registerMail(t, r, fake, c, true)
	body := emailtest.ReceivedEvent("e1", "Owner <owner@example.com>", []string{address}, "Hi")
	now := time.Now()
	expectError(t, send(t, http.MethodPost, r.URL+"/email/inbound", body, nil), 401, "Missing signature headers")
	h := emailtest.SignWebhook("whsec_"+strings.Repeat("A", 32), "msg_1", now, body)
	expectError(t, send(t, http.MethodPost, r.URL+"/email/inbound", body, map[string]string{
		"svix-id": h.Get("svix-id"), "svix-timestamp": h.Get("svix-timestamp"), "svix-signature": h.Get("svix-signature")}), 401, "Invalid signature")
	expectError(t, inbound(t, r, "msg_2", body, now.Add(-301*time.Second)), 401, "Timestamp too old")
	noMessages(t, c)
	// Signed: stored once, however often Svix delivers it.
	first := inbound(t, r, "msg_3", body, now)
	if first.status != 200 || !strings.Contains(first.body, "messageId") {
		t.Fatalf("signed mail %d %s", first.status, first.body)
	}
	expect(t, inbound(t, r, "msg_3", body, now), 200, `{"ok":true}`)
	if n := len(messages(t, c)); n != 1 {
		t.Fatalf("%d messages after a replayed delivery", n)
	}
	expect(t, inbound(t, r, "msg_4", []byte(`{"type":"email.sent","data":{}}`), now), 200, `{"ok":true}`)
	unconfigured, _ := emailRelay(t, func(c *app.Config) { c.Email.WebhookSecret = "" })
	expectError(t, send(t, http.MethodPost, unconfigured.URL+"/email/inbound", body, nil), 503, "Inbound email not configured (set RELAY_RESEND_WEBHOOK_SECRET)")
}

// TestEmailEndToEnd: a signed email reaches the WebSocket with its body and
// threading; a reply goes back once, threaded.
func TestEmailEndToEnd(t *testing.T) {
	t.Parallel()
	r, fake := emailRelay(t)
	c := r.register(t, true)
	channelID, address := registerMail(t, r, fake, c, true)
	conn := r.dialWS(t, c, "", nil)
	fake.AddReceived("e1", emailtest.ReceivedJSON{From: "Owner <owner@example.com>", To: []string{address}, Subject: "Re: Plans",
		Text: "Sounds good.", Headers: []emailtest.Header{{Name: "Message-ID", Value: "<m2@example.com>"},
			{Name: "In-Reply-To", Value: "<m1@example.com>"}, {Name: "References", Value: "<m0@example.com> <m1@example.com>"}}})
	a := inbound(t, r, "msg_1", emailtest.ReceivedEvent("e1", "Owner <owner@example.com>", []string{"Someone <" + strings.ToUpper(address) + ">"}, "Re: Plans"), time.Now())
	if a.status != 200 {
		t.Fatalf("inbound %d %s", a.status, a.body)
	}
	m := readMessages(t, conn, 1)[0]
	if m.ChannelType != "email" || m.From != "owner@example.com" || m.Content != "Subject: Re: Plans\n\nSounds good." {
		t.Fatalf("message %+v", m)
	}
	md := m.Metadata
	if md["senderAddress"] != "owner@example.com" || md["toAddress"] != address || md["threadId"] != "<m1@example.com>" ||
		md["isReply"] != true || md["emailMessageId"] != "<m2@example.com>" || md["references"] != "<m0@example.com> <m1@example.com>" {
		t.Fatalf("metadata %v", md)
	}
	wire := rawMessages(t, c)
	if got := strings.Join(members(t, string(wire[0])), ","); got != "id,userId,channelType,channelId,from,content,timestamp,metadata" {
		t.Fatalf("members %s", got)
	}

	id, err := c.Reply(bg, client.Reply{ChannelID: channelID, Content: "See you then.", Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDelivery(t, r, id); d.Status != storage.StatusSent || d.Target != "owner@example.com" {
		t.Fatalf("delivery %+v", d)
	}
	sent := fake.Sent()
	reply := sent[len(sent)-1]
	if reply.From != address || reply.To[0] != "owner@example.com" || reply.Subject != "Re: Plans" || reply.Text != "See you then." ||
		reply.Headers["In-Reply-To"] != "<m2@example.com>" || reply.Headers["References"] != "<m0@example.com> <m1@example.com> <m2@example.com>" ||
		reply.IdempotencyKey != id {
		t.Fatalf("reply %+v", reply)
	}
	if len(sent) != 2 { // the verification mail and the reply, once
		t.Fatalf("%d emails sent", len(sent))
	}
	// A reply to an address the channel never heard from is refused.
	id, err = c.Reply(bg, client.Reply{ChannelID: channelID, Content: "spam", Metadata: map[string]any{"senderAddress": "victim@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := r.store.Delivery(bg, id); d.Status != storage.StatusFailed || d.LastError != "recipient not allowed" {
		t.Fatalf("open relay attempt %+v", d)
	}
}

func TestEmailDrops(t *testing.T) {
	t.Parallel()
	r, fake := emailRelay(t)
	c := r.register(t, false)
	_, verified := registerMail(t, r, fake, c, true)
	_, unverified := registerMail(t, r, fake, c, false)
	now := time.Now()
	// A sender outside the allowlist, mail to an unverified channel, mail to
	// nobody: acknowledged and dropped.
	expect(t, inbound(t, r, "m1", emailtest.ReceivedEvent("e1", "eve@example.com", []string{verified}, "x"), now), 200, `{"ok":true}`)
	expect(t, inbound(t, r, "m2", emailtest.ReceivedEvent("e2", "owner@example.com", []string{unverified}, "x"), now), 200, `{"ok":true}`)
	expect(t, inbound(t, r, "m3", emailtest.ReceivedEvent("e3", "owner@example.com", []string{"nobody@" + mailDomain}, "x"), now), 200, `{"ok":true}`)
	noMessages(t, c)
	// HTML-only mail becomes text.
	fake.AddReceived("e4", emailtest.ReceivedJSON{From: "owner@example.com", To: []string{verified}, Subject: "Hi", HTML: "<p>Hello <b>there</b></p>"})
	a := inbound(t, r, "m4", emailtest.ReceivedEvent("e4", "owner@example.com", []string{verified}, "Hi"), now)
	if a.status != 200 || !strings.Contains(a.body, "messageId") {
		t.Fatalf("html mail %d %s", a.status, a.body)
	}
	if got := messages(t, c)[0].Content; got != "Subject: Hi\n\nHello there" {
		t.Fatalf("content %q", got)
	}
	// A transient failure fetching the body asks Svix to retry.
	fake.FailNext("/emails/receiving/", 1, 502, "")
	expectError(t, inbound(t, r, "m5", emailtest.ReceivedEvent("e5", "owner@example.com", []string{verified}, "x"), now), 503, "Temporarily unable to fetch email")
}

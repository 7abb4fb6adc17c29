package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/discord/discordtest"
	"github.com/chaos-relay/relay/channels/email/emailtest"
	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage"
)

// leaseHolder is the node that holds a lease, as r sees the relay ("" when
// none does).
func leaseHolder(r *relay, name string) string {
	for _, n := range r.app.Nodes() {
		for _, l := range n.Leases {
			if l == name {
				return n.ID
			}
		}
	}
	return ""
}

// nodeID is r's node id.
func nodeID(r *relay) string {
	for _, n := range r.app.Nodes() {
		if n.Self {
			return n.ID
		}
	}
	return ""
}

// Telegram, email and Discord reach whichever node the balancer picks:
// pairing codes, verification links and interaction keys issued on one node
// work on the other. A Discord bot has one gateway session in the whole
// relay, which moves at once when its node stops.
func TestClusterPlatformsOnAnyNode(t *testing.T) {
	if testing.Short() {
		t.Skip("watches the gateway sessions for a reconciliation period")
	}
	tg := telegramtest.New(t)
	tg.AddBot(botToken, "relay_test_bot")
	mail := emailtest.New(t)
	fakeDiscordOnce.Do(func() { fakeDiscord = discordtest.NewServer() })
	n := botSeq.Add(1)
	bot := testBot{token: fmt.Sprintf("bot-token-%d", n), bot: discordtest.Bot{UserID: strconv.FormatInt(900000000000000000+n, 10),
		Username: fmt.Sprintf("relaybot%d", n), ApplicationID: strconv.FormatInt(800000000000000000+n, 10),
		VerifyKey: discordtest.VerifyKey(discordtest.TestSeed())}}
	fakeDiscord.AddBot(bot.token, bot.bot)
	rc := newRelayCluster(t, 2, fastRetries, func(c *app.Config) {
		c.BaseURL = "https://relay.example.com"
		c.Telegram.APIURL = tg.URL
		c.Email.APIURL, c.Email.APIKey = mail.URL, emailtest.APIKey
		c.Email.Domain, c.Email.WebhookSecret = mailDomain, emailtest.WebhookSecret
		c.Discord.APIURL = fakeDiscord.URL
	})
	a, b := rc.nodes[0], rc.nodes[1]
	c := a.register(t, true)

	// Discord first, so that the other node has reconciled its gateway
	// sessions with the store (every 10 s) by the end.
	discordID, discordCode := registerDiscordBot(t, on(c, a), bot.token)
	registered := time.Now()
	fakeDiscord.WaitConnected(t, bot.token)
	interact := func(r *relay, user, text string) answer {
		t.Helper()
		body := `{"type":2,"id":"i` + user + text + `","channel_id":"cmdchan","member":{"user":{"id":"` + user +
			`","username":"u` + user + `"}},"data":{"name":"ask","options":[{"name":"q","type":3,"value":"` + text + `"}]}}`
		stamp := strconv.FormatInt(time.Now().Unix(), 10)
		return send(t, http.MethodPost, r.URL+"/discord/"+discordID, []byte(body), map[string]string{"Content-Type": "application/json",
			"X-Signature-Ed25519": discordtest.SignInteraction(discordtest.TestSeed(), stamp, []byte(body)), "X-Signature-Timestamp": stamp})
	}
	expect(t, interact(b, "55", discordCode), 200, `{"type":4,"data":{"content":"Paired successfully! You're now authorized to use this bot.","flags":64}}`)
	expect(t, interact(a, "55", "from node a"), 200, `{"type":4,"data":{"content":"Received. The agent will reply in this channel.","flags":64}}`)

	// Telegram: registered on node a, paired and written to through node b.
	reg := registerBot(t, on(c, a))
	expect(t, update(t, b, tg, reg.ChannelID, telegramtest.TextMessage(1, 200, "alice", reg.PairingCode)), 200, `{"ok":true}`)
	waitFor(t, "the pairing confirmation", func() bool { return len(tg.Sent()) == 1 })
	if s := tg.Sent()[0]; s.ChatID != "200" || !strings.HasPrefix(s.Text, "Paired successfully") {
		t.Fatalf("pairing through node b: %+v", s)
	}
	if a := update(t, a, tg, reg.ChannelID, telegramtest.TextMessage(2, 200, "alice", "via a")); a.status != 200 || !strings.Contains(a.body, "messageId") {
		t.Fatalf("the paired user's message through node a: %d %s", a.status, a.body)
	}
	if a := update(t, b, tg, reg.ChannelID, telegramtest.TextMessage(3, 200, "alice", "via b")); a.status != 200 || !strings.Contains(a.body, "messageId") {
		t.Fatalf("the paired user's message through node b: %d %s", a.status, a.body)
	}
	id, err := on(c, b).Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: "from node b"})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDelivery(t, a, id); d.Status != storage.StatusSent || d.Target != "200" {
		t.Fatalf("reply through node b: %+v", d)
	}

	// Email: registered on node a, verified and written to through node b.
	_, address := registerMail(t, a, mail, on(c, a), false)
	sent := mail.Sent()
	link, _ := url.Parse(verifyLink.FindString(sent[len(sent)-1].Text))
	if page := send(t, http.MethodGet, b.URL+link.RequestURI(), nil, nil); page.status != 200 || !strings.Contains(page.body, "Email verified!") {
		t.Fatalf("node a's verification link on node b: %d %s", page.status, page.body)
	}
	mail.AddReceived("e1", emailtest.ReceivedJSON{From: "owner@example.com", To: []string{address}, Subject: "Hi", Text: "by mail"})
	if a := inbound(t, b, "msg_1", emailtest.ReceivedEvent("e1", "owner@example.com", []string{address}, "Hi"), time.Now()); a.status != 200 || !strings.Contains(a.body, "messageId") {
		t.Fatalf("inbound mail through node b: %d %s", a.status, a.body)
	}

	got := map[string]bool{}
	for _, m := range messages(t, on(c, b)) {
		got[m.ChannelType+": "+m.Content] = true
	}
	for _, want := range []string{"discord: from node a", "telegram: via a", "telegram: via b", "email: Subject: Hi\n\nby mail"} {
		if !got[want] {
			t.Errorf("message %q not stored (stored: %v)", want, got)
		}
	}

	// One gateway session, on the node holding the bot's lease, through a
	// reconciliation period of the other node.
	lease := discord.LeaseName(bot.bot.UserID)
	waitFor(t, "both nodes to see the bot's lease", func() bool {
		return leaseHolder(a, lease) != "" && leaseHolder(a, lease) == leaseHolder(b, lease)
	})
	waitWithin(t, 20*time.Second, "a reconciliation period since the registration", func() bool {
		return time.Since(registered) > 11*time.Second || fakeDiscord.MostConnections(bot.token) > 1
	})
	if most, ids := fakeDiscord.MostConnections(bot.token), fakeDiscord.Identifies(bot.token); most != 1 || ids != 1 {
		t.Fatalf("%d gateway sessions at once, %d identifies; want 1 and 1", most, ids)
	}
	holder, other := a, b
	if leaseHolder(a, lease) == nodeID(b) {
		holder, other = b, a
	}
	stopped := time.Now()
	holder.stop()
	waitFor(t, "the session on the other node", func() bool {
		return fakeDiscord.Identifies(bot.token) == 2 && fakeDiscord.Connections(bot.token) == 1
	})
	moved := time.Since(stopped)
	if holder := leaseHolder(other, lease); holder != nodeID(other) {
		t.Fatalf("after a graceful stop, the bot's lease is held by %q, want %s", holder, nodeID(other))
	}
	if moved > 3*time.Second {
		t.Errorf("the session moved %s after a graceful stop, want at once", moved)
	}
	dm := "100" + bot.bot.UserID[len(bot.bot.UserID)-6:]
	fakeDiscord.Dispatch(bot.token, discordtest.MessageCreate{ChannelID: dm, Content: "after the move", AuthorID: "55", AuthorName: "u55"})
	waitFor(t, "the message through the moved session", func() bool {
		for _, m := range messages(t, on(c, other)) {
			if m.Content == "after the move" {
				return true
			}
		}
		return false
	})
	if most := fakeDiscord.MostConnections(bot.token); most != 1 {
		t.Fatalf("%d gateway sessions at once", most)
	}
	t.Logf("the gateway session moved %s after its node stopped", moved.Round(10*time.Millisecond))
}

package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/channels/discord/discordtest"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage"
)

// discordgo's API endpoints are process-wide, so every Discord test shares
// one fake Discord and keeps to its own bot token.
var (
	fakeDiscordOnce sync.Once
	fakeDiscord     *discordtest.Server
	botSeq          atomic.Int64
)

type testBot struct {
	token string
	bot   discordtest.Bot
}

func discordRelay(t *testing.T) (*relay, *discordtest.Server, testBot) {
	t.Helper()
	fakeDiscordOnce.Do(func() { fakeDiscord = discordtest.NewServer() })
	n := botSeq.Add(1)
	b := testBot{token: fmt.Sprintf("bot-token-%d", n), bot: discordtest.Bot{UserID: strconv.FormatInt(900000000000000000+n, 10),
		Username: fmt.Sprintf("relaybot%d", n), ApplicationID: strconv.FormatInt(800000000000000000+n, 10),
		VerifyKey: discordtest.VerifyKey(discordtest.TestSeed())}}
	fakeDiscord.AddBot(b.token, b.bot)
	r := newRelay(t, func(c *app.Config) {
		c.Discord.APIURL = fakeDiscord.URL
		fastRetries(c)
	})
	return r, fakeDiscord, b
}

func registerDiscordBot(t *testing.T, c *client.Client, token string) (id, code string) {
	t.Helper()
	a := signedSend(t, c, http.MethodPost, "/channels/discord/register", []byte(`{"botToken":"`+token+`"}`))
	var out struct{ ChannelID, BotUsername, PairingCode, InteractionsURL string }
	decode(t, a, &out)
	if a.status != 201 || !strings.HasSuffix(out.InteractionsURL, "/discord/"+out.ChannelID) || len(out.PairingCode) != 8 {
		t.Fatalf("register %d %s", a.status, a.body)
	}
	return out.ChannelID, out.PairingCode
}

// sentTo returns what the fake accepted for a Discord channel.
func sentTo(fake *discordtest.Server, discordChannel string) []discordtest.SentMessage {
	var out []discordtest.SentMessage
	for _, m := range fake.Sent() {
		if m.ChannelID == discordChannel {
			out = append(out, m)
		}
	}
	return out
}

func TestDiscordRegistrationFailures(t *testing.T) {
	t.Parallel()
	r, fake, b := discordRelay(t)
	c := r.register(t, false)
	expectError(t, signedSend(t, c, http.MethodPost, "/channels/discord/register", []byte(`{"botToken":"unknown"}`)), 400,
		"Discord registration failed: Discord API error: 401")
	noVerifyKey := "no-verify-" + b.token
	fake.AddBot(noVerifyKey, discordtest.Bot{UserID: "1", Username: "x", ApplicationID: "2"})
	expectError(t, signedSend(t, c, http.MethodPost, "/channels/discord/register", []byte(`{"botToken":"`+noVerifyKey+`"}`)), 400,
		"Discord registration failed: Invalid bot token: GET /applications/@me returned no application")
	expectError(t, signedSend(t, c, http.MethodPost, "/channels/discord/register", []byte(`{}`)), 400, "Missing or invalid botToken")
	if chans, _ := c.Channels(bg); len(chans) != 0 {
		t.Fatalf("channels after failures: %+v", chans)
	}
}

// TestDiscordGateway: a gateway session per bot, pairing, the allowlist,
// delivery to the socket, replies (split, no mentions), reconnects, and the
// session closed when the channel is deleted.
func TestDiscordGateway(t *testing.T) {
	t.Parallel()
	r, fake, b := discordRelay(t)
	c := r.register(t, true)
	id, code := registerDiscordBot(t, c, b.token)
	fake.WaitConnected(t, b.token)
	if fake.Intents(b.token) != 37376 {
		t.Fatalf("intents %d", fake.Intents(b.token))
	}
	conn := r.dialWS(t, c, "", nil)
	dm := "100" + b.bot.UserID[len(b.bot.UserID)-6:] // per test: the fake is shared
	guild := "200" + b.bot.UserID[len(b.bot.UserID)-6:]

	// A stranger: refused in a DM, ignored in a guild unless the bot is mentioned.
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "1", ChannelID: dm, Content: "hi", AuthorID: "666", AuthorName: "eve"})
	waitFor(t, "the DM refusal", func() bool { return len(sentTo(fake, dm)) == 1 })
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "2", ChannelID: guild, GuildID: "g1", Content: "hello all", AuthorID: "666", AuthorName: "eve"})
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "3", ChannelID: guild, GuildID: "g1", Content: "hey bot", AuthorID: "666",
		AuthorName: "eve", Mentions: []string{b.bot.UserID}})
	waitFor(t, "the mention refusal", func() bool { return len(sentTo(fake, guild)) == 1 })
	if s := sentTo(fake, dm)[0]; !strings.HasPrefix(s.Content, "You are not authorized") || string(s.AllowedMentions) != `{"parse":[]}` {
		t.Fatalf("refusal %+v", s)
	}
	// Pairing, then the paired user's message reaches the socket; bots are ignored.
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "4", ChannelID: dm, Content: code, AuthorID: "4242", AuthorName: "alice"})
	waitFor(t, "the pairing confirmation", func() bool { return len(sentTo(fake, dm)) == 2 })
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "41", ChannelID: dm, Content: code, AuthorID: "5555", AuthorName: "mallory"})
	waitFor(t, "the code to be refused the second time", func() bool { return len(sentTo(fake, dm)) == 3 })
	if s := sentTo(fake, dm)[2]; !strings.HasPrefix(s.Content, "You are not authorized") {
		t.Fatalf("second use of the pairing code: %+v", s)
	}
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "5", ChannelID: dm, Content: "beep", AuthorID: "7", AuthorName: "otherbot", AuthorBot: true})
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "6", ChannelID: guild, GuildID: "g1", Content: "do the thing", AuthorID: "4242", AuthorName: "alice"})
	m := readMessages(t, conn, 1)[0]
	if m.ChannelType != "discord" || m.ChannelID != id || m.From != "alice" || m.Content != "do the thing" ||
		m.Metadata["discordChannelId"] != guild || m.Metadata["senderId"] != "4242" || m.Metadata["messageId"] != "6" || m.Metadata["guildId"] != "g1" {
		t.Fatalf("message %+v", m)
	}
	// A reply goes to the channel, split at 2,000 units, with mentions off.
	long := strings.Repeat("word ", 900) // 4,500 units
	rid, err := c.Reply(bg, client.Reply{ChannelID: id, Content: long, Metadata: m.Metadata})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDelivery(t, r, rid); d.Status != storage.StatusSent || d.PartsTotal != 3 || d.Target != guild {
		t.Fatalf("delivery %+v", d)
	}
	parts := sentTo(fake, guild)[1:]
	if len(parts) != 3 || parts[0].Content+parts[1].Content+parts[2].Content != long || string(parts[2].AllowedMentions) != `{"parse":[]}` {
		t.Fatalf("parts %+v", parts)
	}
	// Typing goes to the channel the last message came from.
	expect(t, signedSend(t, c, http.MethodPost, "/typing", []byte(`{"channelId":"`+id+`"}`)), 200, `{"ok":true}`)
	waitFor(t, "the typing indicator", func() bool { return slices.Contains(fake.Typings(), guild) })
	// The gateway reconnects after Discord drops it.
	before := fake.Identifies(b.token) + fake.Resumes(b.token)
	fake.Drop(b.token)
	waitFor(t, "a reconnect", func() bool {
		return fake.Identifies(b.token)+fake.Resumes(b.token) > before && fake.Connections(b.token) == 1
	})
	fake.Dispatch(b.token, discordtest.MessageCreate{ID: "7", ChannelID: dm, Content: "still there?", AuthorID: "4242", AuthorName: "alice"})
	if m := readMessages(t, conn, 1)[0]; m.Content != "still there?" {
		t.Fatalf("after reconnect %+v", m)
	}
	// Deleting the channel closes its session.
	if err := c.DeleteChannel(bg, id); err != nil {
		t.Fatal(err)
	}
	fake.WaitDisconnected(t, b.token)
}

func TestDiscordInteractions(t *testing.T) {
	t.Parallel()
	r, fake, b := discordRelay(t)
	c := r.register(t, false)
	id, code := registerDiscordBot(t, c, b.token)
	fake.WaitConnected(t, b.token)
	post := func(body string, ts time.Time, sig string) answer {
		t.Helper()
		stamp := strconv.FormatInt(ts.Unix(), 10)
		if sig == "" {
			sig = discordtest.SignInteraction(discordtest.TestSeed(), stamp, []byte(body))
		}
		return send(t, http.MethodPost, r.URL+"/discord/"+id, []byte(body), map[string]string{
			"X-Signature-Ed25519": sig, "X-Signature-Timestamp": stamp, "Content-Type": "application/json"})
	}
	now := time.Now()
	expectError(t, post(`{"type":1}`, now, strings.Repeat("0", 128)), 401, "Invalid request signature")
	expectError(t, post(`{"type":1}`, now.Add(-301*time.Second), ""), 401, "Invalid request signature")
	expectError(t, post(`{"type":1}`, now, "abc"), 401, "Invalid request signature")
	expect(t, post(`{"type":1}`, now, ""), 200, `{"type":1}`)
	command := func(user, text string) string {
		return `{"type":2,"id":"i` + user + `","channel_id":"cmdchan","guild_id":"g1","member":{"user":{"id":"` + user +
			`","username":"u` + user + `"}},"data":{"name":"ask","options":[{"name":"q","type":3,"value":"` + text + `"}]}}`
	}
	expect(t, post(command("55", "let me in"), now, ""), 200, `{"type":4,"data":{"content":"You are not authorized to use this bot. Send the pairing code to link it, or ask the owner for one.","flags":64}}`)
	expect(t, post(command("55", code), now, ""), 200, `{"type":4,"data":{"content":"Paired successfully! You're now authorized to use this bot.","flags":64}}`)
	expect(t, post(command("55", "what is new"), now, ""), 200, `{"type":4,"data":{"content":"Received. The agent will reply in this channel.","flags":64}}`)
	expect(t, post(`{"type":3,"id":"x","channel_id":"c","data":{}}`, now, ""), 200, `{"type":4,"data":{"content":"Unsupported interaction.","flags":64}}`)
	msgs := messages(t, c)
	if len(msgs) != 1 || msgs[0].Content != "what is new" || msgs[0].Metadata["interactionId"] != "i55" || msgs[0].Metadata["commandName"] != "ask" {
		t.Fatalf("stored %+v", msgs)
	}
	// Forwarded gateway payloads with ?secret= still work.
	chans, _ := c.Channels(bg)
	secret := chans[0].Metadata["webhookSecret"].(string)
	fwd := `{"d":{"id":"99","channel_id":"fwdchan","content":"forwarded","author":{"id":"55","username":"u55"}}}`
	expectError(t, send(t, http.MethodPost, r.URL+"/discord/"+id+"?secret=wrong", []byte(fwd), nil), 401, "Invalid secret")
	a := send(t, http.MethodPost, r.URL+"/discord/"+id+"?secret="+secret, []byte(fwd), nil)
	var ok struct {
		OK        bool
		MessageID string
	}
	_ = json.Unmarshal([]byte(a.body), &ok)
	if a.status != 200 || ok.MessageID == "" {
		t.Fatalf("forwarded %d %s", a.status, a.body)
	}
	expect(t, send(t, http.MethodPost, r.URL+"/discord/"+id+"?secret="+secret, []byte(fwd), nil), 200, `{"ok":true}`) // same message id: once
	expect(t, send(t, http.MethodPost, r.URL+"/discord/"+id+"?secret="+secret, []byte(`{"type":1}`), nil), 200, `{"type":1}`)
	if n := len(messages(t, c)); n != 2 {
		t.Fatalf("%d messages", n)
	}
}

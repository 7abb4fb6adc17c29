package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/storage"
)

const botToken = "123456:ABC-test-token"

// telegramRelay starts a relay pointed at a fake Bot API, with an HTTPS
// public origin (Telegram refuses plain HTTP webhooks).
func telegramRelay(t *testing.T, mutate ...func(*app.Config)) (*relay, *telegramtest.Server) {
	t.Helper()
	fake := telegramtest.New(t)
	fake.AddBot(botToken, "relay_test_bot")
	r := newRelay(t, append([]func(*app.Config){func(c *app.Config) {
		c.Telegram.APIURL = fake.URL
		c.BaseURL = "https://relay.example.com"
		fastRetries(c)
	}}, mutate...)...)
	return r, fake
}

type tgRegistered struct {
	ChannelID, BotUsername, PairingCode string
}

func registerBot(t *testing.T, c *client.Client) tgRegistered {
	t.Helper()
	a := signedSend(t, c, http.MethodPost, "/channels/telegram/register", []byte(`{"botToken":"`+botToken+`","agentId":"a1"}`))
	if a.status != http.StatusCreated {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	var out tgRegistered
	decode(t, a, &out)
	if out.BotUsername != "relay_test_bot" || len(out.PairingCode) != 8 || strings.ToUpper(out.PairingCode) != out.PairingCode {
		t.Fatalf("register answer %s", a.body)
	}
	if members(t, a.body)[0] != "channelId" {
		t.Fatalf("member order %s", a.body)
	}
	return out
}

// update posts a Telegram update to the channel's webhook as Telegram would.
func update(t *testing.T, r *relay, fake *telegramtest.Server, channelID string, body []byte) answer {
	t.Helper()
	_, secret, ok := fake.Webhook(botToken)
	if !ok {
		t.Fatal("no webhook registered at the fake")
	}
	resp := telegramtest.PostUpdate(t, r.URL+"/telegram/"+channelID, secret, body)
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestTelegramRegistration(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, true)
	reg := registerBot(t, c)
	url, secret, _ := fake.Webhook(botToken)
	if url != "https://relay.example.com/telegram/"+reg.ChannelID || secret == "" {
		t.Fatalf("webhook %s", url)
	}
	chans, err := c.Channels(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].Type != "telegram" || chans[0].Direction != "bidirectional" || chans[0].AgentID != "a1" ||
		chans[0].Metadata["botUsername"] != "relay_test_bot" || chans[0].Metadata["webhookSecret"] != secret ||
		chans[0].Metadata["pairingCode"] != reg.PairingCode {
		t.Fatalf("channel %+v", chans)
	}
	if _, ok := chans[0].Metadata["botToken"]; ok {
		t.Fatal("the bot token is returned")
	}
	if strings.Contains(do(t, mustReq(t, c, http.MethodGet, "/channels")).body, botToken) {
		t.Fatal("the bot token appears in GET /channels")
	}
}

func mustReq(t *testing.T, c *client.Client, method, path string) *http.Request {
	t.Helper()
	req, err := c.NewRequest(bg, method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTelegramRegistrationFailuresLeaveNothing(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, false)
	try := func(body string) answer {
		return signedSend(t, c, http.MethodPost, "/channels/telegram/register", []byte(body))
	}
	expectError(t, try(`{"botToken":`), 400, "Telegram registration failed: Invalid JSON body")
	expectError(t, try(`{"botToken":""}`), 400, "Missing or invalid botToken")
	expectError(t, try(`{"botToken":42}`), 400, "Missing or invalid botToken")
	expectError(t, try(`{"botToken":"999:wrong"}`), 400, "Telegram registration failed: Telegram API unreachable: 401")
	fake.FailNext("getMe", 1, 200, "", 0)
	expectError(t, try(`{"botToken":"`+botToken+`"}`), 400, "Telegram registration failed: Invalid bot token: getMe failed")
	fake.FailNext("setWebhook", 1, 500, "", 0)
	expectError(t, try(`{"botToken":"`+botToken+`"}`), 400, "Telegram registration failed: Failed to set webhook: 500")
	fake.FailNext("setWebhook", 1, 200, "bad webhook: HTTPS url must be provided for webhook", 0)
	expectError(t, try(`{"botToken":"`+botToken+`"}`), 400, "Telegram registration failed: Webhook setup failed: bad webhook: HTTPS url must be provided for webhook")
	if chans, err := c.Channels(bg); err != nil || len(chans) != 0 {
		t.Fatalf("channels after failures: %v %v", chans, err)
	}

	// Without an HTTPS public origin nothing is even attempted.
	plain := newRelay(t, func(cfg *app.Config) { cfg.Telegram.APIURL = fake.URL })
	pc := plain.register(t, false)
	before := len(fake.Calls())
	expectError(t, signedSend(t, pc, http.MethodPost, "/channels/telegram/register", []byte(`{"botToken":"`+botToken+`"}`)),
		400, "Telegram registration failed: Telegram needs an HTTPS public origin: set RELAY_BASE_URL")
	if len(fake.Calls()) != before {
		t.Fatal("the Bot API was called without an HTTPS origin")
	}
}

// TestTelegramEndToEnd: pairing, the allowlist, delivery to the WebSocket,
// and replies back into the chat.
func TestTelegramEndToEnd(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, true)
	reg := registerBot(t, c)
	conn := r.dialWS(t, c, "", nil)

	// A stranger is refused, told so, and nothing is stored.
	expect(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(1, 999, "mallory", "hello")), 200, `{"ok":true}`)
	waitFor(t, "the refusal", func() bool { return len(fake.Sent()) == 1 })
	if s := fake.Sent()[0]; s.ChatID != "999" || !strings.HasPrefix(s.Text, "You are not authorized") || s.ParseMode != "" {
		t.Fatalf("refusal %+v", s)
	}
	// The pairing code pairs once.
	expect(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(2, 200, "alice", " "+reg.PairingCode+" ")), 200, `{"ok":true}`)
	waitFor(t, "the pairing confirmation", func() bool { return len(fake.Sent()) == 2 })
	if s := fake.Sent()[1]; s.ChatID != "200" || s.Text != "Paired successfully! You're now authorized to use this bot." {
		t.Fatalf("confirmation %+v", s)
	}
	chans, _ := c.Channels(bg)
	if _, still := chans[0].Metadata["pairingCode"]; still || len(chans[0].Metadata["allowedUsers"].([]any)) != 1 || chans[0].Metadata["allowedUsers"].([]any)[0] != "200" {
		t.Fatalf("after pairing %v", chans[0].Metadata)
	}
	expect(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(3, 300, "bob", reg.PairingCode)), 200, `{"ok":true}`)
	waitFor(t, "the second refusal", func() bool { return len(fake.Sent()) == 3 })

	// The paired user's message reaches the socket with the protocol metadata.
	a := update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(4, 200, "alice", "hi *there*"))
	var ok struct {
		OK        bool
		MessageID string
	}
	decode(t, a, &ok)
	m := readMessages(t, conn, 1)[0]
	if m.ID != ok.MessageID || m.ChannelType != "telegram" || m.From != "alice" || m.Content != "hi *there*" {
		t.Fatalf("message %+v", m)
	}
	raw, _ := json.Marshal(m.Metadata)
	if string(raw) != `{"channelAgentId":"a1","channelDirection":"bidirectional","chatId":200,"chatType":"private","messageId":4,"senderId":200,"updateId":4}` {
		t.Fatalf("metadata %s", raw) // json.Marshal sorts keys; the order is checked on the wire below
	}
	wire := rawMessages(t, c)
	if got := members(t, string(wire[0])); strings.Join(got, ",") != "id,userId,channelType,channelId,from,content,timestamp,metadata" {
		t.Fatalf("message members %v", got)
	}
	var meta struct{ Metadata json.RawMessage }
	_ = json.Unmarshal(wire[0], &meta)
	if got := strings.Join(members(t, string(meta.Metadata)), ","); got != "updateId,channelDirection,channelAgentId,chatId,senderId,messageId,chatType" {
		t.Fatalf("metadata members %s", got)
	}
	// A retried update is stored once.
	expect(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(4, 200, "alice", "hi *there*")), 200, `{"ok":true}`)
	if n := len(messages(t, c)); n != 1 {
		t.Fatalf("%d messages after a retried update", n)
	}

	// A reply goes back into the chat, in Markdown.
	id, err := c.Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: "Done.", Metadata: m.Metadata})
	if err != nil {
		t.Fatal(err)
	}
	d := waitDelivery(t, r, id)
	last := fake.Sent()[len(fake.Sent())-1]
	if d.Status != storage.StatusSent || last.ChatID != "200" || last.Text != "Done." || last.ParseMode != "Markdown" {
		t.Fatalf("delivery %+v, sent %+v", d, last)
	}
	// A 9,000-character reply arrives as 3 ordered parts.
	long := strings.Repeat(strings.Repeat("x", 99)+"\n", 90)
	id, err = c.Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: long, Metadata: m.Metadata})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDelivery(t, r, id); d.Status != storage.StatusSent || d.PartsTotal != 3 {
		t.Fatalf("long delivery %+v", d)
	}
	sent := fake.Sent()
	parts := sent[len(sent)-3:]
	if parts[0].Text+parts[1].Text+parts[2].Text != long {
		t.Fatal("the parts do not join to the reply in order")
	}
	// Typing goes to the reply target.
	expect(t, signedSend(t, c, http.MethodPost, "/typing", []byte(`{"channelId":"`+reg.ChannelID+`"}`)), 200, `{"ok":true}`)
	waitFor(t, "sendChatAction", func() bool { return len(fake.CallsTo("sendChatAction")) == 1 })
	if call := fake.CallsTo("sendChatAction")[0]; call.Params["chat_id"] != "200" || call.Params["action"] != "typing" {
		t.Fatalf("typing %+v", call.Params)
	}
}

func TestTelegramDeliveryRetries(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, false)
	reg := registerBot(t, c)
	reply := func(text string) string {
		t.Helper()
		id, err := c.Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: text, Metadata: map[string]any{"chatId": 777}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Markdown rejected: the same part is re-sent as plain text at once.
	fake.RejectMarkdown(true)
	if d := waitDelivery(t, r, reply("a_b *c")); d.Status != storage.StatusSent || d.Attempts != 1 {
		t.Fatalf("markdown fallback %+v", d)
	}
	if last := fake.Sent()[len(fake.Sent())-1]; last.ParseMode != "" || last.Text != "a_b *c" {
		t.Fatalf("fallback sent %+v", last)
	}
	fake.RejectMarkdown(false)
	// 500 twice, then 200: sent on the third attempt.
	fake.FailNext("sendMessage", 2, 500, "", 0)
	if d := waitDelivery(t, r, reply("flaky")); d.Status != storage.StatusSent || d.Attempts != 3 {
		t.Fatalf("after two 500s %+v", d)
	}
	// 429 with retry_after: the next attempt waits at least that long.
	fake.FailNext("sendMessage", 1, 429, "", 1)
	id := reply("limited")
	var first storage.Delivery
	waitFor(t, "the 429 to be recorded", func() bool {
		first, _ = r.store.Delivery(bg, id)
		return first.Attempts == 1
	})
	if wait := first.NextAttemptAt.Sub(first.UpdatedAt); first.Status != storage.StatusPending || wait < time.Second {
		t.Fatalf("after 429: %+v (waits %s)", first, wait)
	}
	if d := waitDelivery(t, r, id); d.Status != storage.StatusSent {
		t.Fatalf("after the wait %+v", d)
	}
	// A permanent error fails at once.
	fake.FailNext("sendMessage", 1, 400, "Bad Request: chat not found", 0)
	if d := waitDelivery(t, r, reply("lost")); d.Status != storage.StatusFailed || !strings.Contains(d.LastError, "chat not found") || strings.Contains(d.LastError, botToken) {
		t.Fatalf("permanent %+v", d)
	}
}

func TestTelegramInboundErrors(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, false)
	reg := registerBot(t, c)
	_, secret, _ := fake.Webhook(botToken)
	post := func(path string, body []byte, header map[string]string) answer {
		return send(t, http.MethodPost, r.URL+path, body, header)
	}
	good := telegramtest.TextMessage(1, 200, "alice", "hi")
	expectError(t, post("/telegram/"+reg.ChannelID, good, map[string]string{"X-Telegram-Bot-Api-Secret-Token": "wrong"}), 401, "Invalid secret")
	expectError(t, post("/telegram/"+reg.ChannelID, good, nil), 401, "Invalid secret")
	expectError(t, post("/telegram/nope", good, map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret}), 404, "Unknown channel")
	hook, _ := webhookChannel(t, c, client.NewChannel{})
	expectError(t, post("/telegram/"+hook.ID, good, nil), 400, "Channel is not a Telegram channel")
	expectError(t, post("/telegram/"+reg.ChannelID, []byte(`{"update_id":`), map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret}), 400, "Invalid JSON body")
	// The original's ?secret= still works; an update without text is acknowledged.
	expect(t, post("/telegram/"+reg.ChannelID+"?secret="+secret, []byte(`{"update_id":9,"message":{"message_id":1,"chat":{"id":5,"type":"private"},"photo":[]}}`), nil), 200, `{"ok":true}`)
	noMessages(t, c)
	// A disabled channel acknowledges and drops.
	off := false
	if _, err := c.UpdateChannel(bg, reg.ChannelID, client.ChannelUpdate{Enabled: &off, AllowedUsers: []string{"200"}}); err != nil {
		t.Fatal(err)
	}
	expect(t, update(t, r, fake, reg.ChannelID, good), 200, `{"ok":true}`)
	noMessages(t, c)
}

// TestTelegramAfterRestartAndDelete: the sealed token survives a restart;
// deleting the channel removes the webhook.
func TestTelegramAfterRestartAndDelete(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, false)
	reg := registerBot(t, c)
	expect(t, update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(1, 200, "alice", reg.PairingCode)), 200, `{"ok":true}`)
	r.restart(t)
	c.BaseURL = r.URL
	a := update(t, r, fake, reg.ChannelID, telegramtest.TextMessage(2, 200, "alice", "still here"))
	if a.status != 200 || !strings.Contains(a.body, "messageId") {
		t.Fatalf("after restart %d %s", a.status, a.body)
	}
	id, err := c.Reply(bg, client.Reply{ChannelID: reg.ChannelID, Content: "yes"})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitDelivery(t, r, id); d.Status != storage.StatusSent || d.Target != "200" {
		t.Fatalf("reply after restart %+v", d)
	}
	if err := c.DeleteChannel(bg, reg.ChannelID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleteWebhook", func() bool { return len(fake.CallsTo("deleteWebhook")) == 1 })
	if _, _, ok := fake.Webhook(botToken); ok {
		t.Fatal("webhook still set after delete")
	}
}

// TestTelegramDeleteRetriesTheWebhookRemoval: Telegram keeps posting to a
// webhook until it is removed, so a failed deleteWebhook after a channel's
// deletion is tried again (before, one failure left it set).
func TestTelegramDeleteRetriesTheWebhookRemoval(t *testing.T) {
	t.Parallel()
	r, fake := telegramRelay(t)
	c := r.register(t, false)
	reg := registerBot(t, c)
	fake.FailNext("deleteWebhook", 1, http.StatusBadGateway, "", 0)
	if err := c.DeleteChannel(bg, reg.ChannelID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleteWebhook tried again", func() bool { return len(fake.CallsTo("deleteWebhook")) == 2 })
	if _, _, ok := fake.Webhook(botToken); ok {
		t.Fatal("webhook still set after delete")
	}
}

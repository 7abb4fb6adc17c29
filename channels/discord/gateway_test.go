package discord_test

import (
	"sync"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/discord/discordtest"
)

// inbox records what a gateway Handler receives.
type inbox struct {
	mu   sync.Mutex
	msgs []discord.Message
	ch   chan discord.Message
}

func newInbox() *inbox { return &inbox{ch: make(chan discord.Message, 16)} }

func (b *inbox) handle(channelID string, m discord.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	b.ch <- m
}

// next waits for the next delivered message.
func (b *inbox) next(t *testing.T) discord.Message {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a message")
		return discord.Message{}
	}
}

// connected starts a session for a fresh bot and waits until the gateway reports it connected.
func connected(t *testing.T, a *discord.Adapter, channelID string) (string, discordtest.Bot, *inbox) {
	t.Helper()
	token, b := newBot(t)
	box := newInbox()
	a.StartGateway(channelID, token, b.UserID, box.handle)
	fake.WaitConnected(t, token)
	waitFor(t, "state connected", func() bool { return a.GatewayState(channelID) == "connected" })
	return token, b, box
}

func TestGatewayReceive(t *testing.T) {
	a := newAdapter(t)
	token, b, box := connected(t, a, "chan-receive")
	equal(t, "intents", fake.Intents(token), 37376)
	equal(t, "identifies", fake.Identifies(token), 1)
	equal(t, "sessions", a.GatewaySessions()["connected"], 1)

	// Bot authors and empty contents are not delivered; the guild message that follows them is
	// the first to arrive, with every field.
	fake.Dispatch(token, discordtest.MessageCreate{ChannelID: "1200000000000000002", GuildID: "1100000000000000003",
		Content: "from a bot", AuthorID: "77", AuthorName: "otherbot", AuthorBot: true})
	fake.Dispatch(token, discordtest.MessageCreate{ChannelID: "1200000000000000002", Content: "", AuthorID: "78", AuthorName: "x"})
	fake.Dispatch(token, discordtest.MessageCreate{ID: "1300000000000000001", ChannelID: "1200000000000000002",
		GuildID: "1100000000000000003", Content: "hi <@" + b.UserID + ">", AuthorID: "9007199254740993123",
		AuthorName: "alice", Mentions: []string{b.UserID}})
	m := box.next(t)
	equal(t, "message", m, discord.Message{ID: "1300000000000000001", ChannelID: "1200000000000000002",
		GuildID: "1100000000000000003", Content: "hi <@" + b.UserID + ">", AuthorID: "9007199254740993123",
		AuthorName: "alice", MentionsBot: true})

	fake.Dispatch(token, discordtest.MessageCreate{ID: "1300000000000000002", ChannelID: "1200000000000000020",
		Content: "dm", AuthorID: "5", Edited: true})
	m = box.next(t)
	equal(t, "dm", m, discord.Message{ID: "1300000000000000002", ChannelID: "1200000000000000020",
		Content: "dm", AuthorID: "5", AuthorName: "unknown", Edited: true, DM: true})

	box.mu.Lock()
	equal(t, "delivered", len(box.msgs), 2)
	box.mu.Unlock()

	a.StopGateway("chan-receive")
	equal(t, "state after stop", a.GatewayState("chan-receive"), "")
	fake.WaitFor(t, "the connection to close", func() bool { return fake.Connections(token) == 0 })
	a.Close()
	noDiscordgoGoroutines(t)
}

// TestStopGatewayDoesNotWait: stopping a session returns before the session has
// closed (discordgo's close handshake takes a second), so that a request that
// disables or deletes a channel is not held up; Close still waits for it.
func TestStopGatewayDoesNotWait(t *testing.T) {
	a := newAdapter(t)
	token, _, _ := connected(t, a, "chan-stop")
	closed := discord.SessionClosed(a, "chan-stop")
	a.StopGateway("chan-stop")
	select {
	case <-closed:
		t.Fatal("StopGateway returned after the session had closed: it waited for the close handshake")
	default:
	}
	equal(t, "state after stop", a.GatewayState("chan-stop"), "")
	a.Close()
	select {
	case <-closed:
	default:
		t.Fatal("Close returned before the stopped session had closed")
	}
	equal(t, "connections after Close", fake.Connections(token), 0)
	noDiscordgoGoroutines(t)
}

func TestGatewayReconnect(t *testing.T) {
	a := newAdapter(t)
	token, _, box := connected(t, a, "chan-reconnect")

	fake.Drop(token)
	fake.WaitFor(t, "a reconnect", func() bool { return fake.Resumes(token)+fake.Identifies(token) >= 2 })
	fake.WaitConnected(t, token)
	waitFor(t, "state connected", func() bool { return a.GatewayState("chan-reconnect") == "connected" })
	equal(t, "resumed", fake.Resumes(token), 1)

	fake.Dispatch(token, discordtest.MessageCreate{ChannelID: "1", Content: "after the drop", AuthorID: "2", AuthorName: "bob"})
	equal(t, "content", box.next(t).Content, "after the drop")
	a.Close()
	equal(t, "connections after close", fake.Connections(token), 0)
	noDiscordgoGoroutines(t)
}

func TestGatewayCloseCodes(t *testing.T) {
	a := newAdapter(t)
	token, _, _ := connected(t, a, "chan-4004")
	fake.CloseWith(token, 4004)
	waitFor(t, "failed state", func() bool { return a.GatewayState("chan-4004") == "failed: authentication" })
	attempts := fake.Identifies(token) + fake.Resumes(token)
	equal(t, "connections", fake.Connections(token), 0)
	equal(t, "sessions", a.GatewaySessions()["failed: authentication"], 1)

	// A bot whose MESSAGE_CONTENT intent is not enabled fails at the first IDENTIFY.
	noIntent, b := newBot(t)
	b.NoMessageContent = true
	fake.AddBot(noIntent, b)
	a.StartGateway("chan-4014", noIntent, b.UserID, func(string, discord.Message) {})
	waitFor(t, "failed state", func() bool { return a.GatewayState("chan-4014") == "failed: disallowed intents" })
	equal(t, "identifies", fake.Identifies(noIntent), 1)

	// An unknown token fails with 4004 at IDENTIFY.
	a.StartGateway("chan-unknown", "MTIz.unknown.secretTokenPart_g", "1", func(string, discord.Message) {})
	waitFor(t, "failed state", func() bool { return a.GatewayState("chan-unknown") == "failed: authentication" })

	// The failed sessions' supervisors have returned: no goroutine retries.
	a.Close()
	noDiscordgoGoroutines(t)
	equal(t, "no more attempts", fake.Identifies(token)+fake.Resumes(token), attempts)
	equal(t, "state after close", a.GatewayState("chan-4004"), "")
}

func TestGatewayReplaceAndClose(t *testing.T) {
	a := newAdapter(t)
	token, b, _ := connected(t, a, "chan-a")
	box := newInbox()
	a.StartGateway("chan-a", token, b.UserID, box.handle) // replaces: the old session closes first
	fake.WaitFor(t, "the replacement", func() bool { return fake.Identifies(token) == 2 && fake.Connections(token) == 1 })
	waitFor(t, "state connected", func() bool { return a.GatewayState("chan-a") == "connected" })
	fake.Dispatch(token, discordtest.MessageCreate{ChannelID: "1", Content: "to the new handler", AuthorID: "2"})
	equal(t, "content", box.next(t).Content, "to the new handler")

	token2, _, _ := connected(t, a, "chan-b")
	equal(t, "sessions", a.GatewaySessions()["connected"], 2)
	start := time.Now()
	a.Close()
	if d := time.Since(start); d > 1900*time.Millisecond {
		t.Errorf("Close took %v; sessions should close concurrently", d)
	}
	equal(t, "connections a", fake.Connections(token), 0)
	equal(t, "connections b", fake.Connections(token2), 0)
	equal(t, "sessions after close", len(a.GatewaySessions()), 0)
	a.StartGateway("chan-c", token2, "1", func(string, discord.Message) {})
	equal(t, "start after close", a.GatewayState("chan-c"), "")
	noDiscordgoGoroutines(t)
}

// TestGatewayDisabled: with Config.Gateway false (RELAY_DISCORD_GATEWAY=off) no session starts and
// every channel's state is "off", which the admin shows as "gateway off".
func TestGatewayDisabled(t *testing.T) {
	a := discord.New(discord.Config{APIURL: fake.URL}, nil)
	token, b := newBot(t)
	a.StartGateway("chan-off", token, b.UserID, func(string, discord.Message) {})
	equal(t, "state", a.GatewayState("chan-off"), discord.StateOff)
	equal(t, "state of a channel never started", a.GatewayState("chan-other"), "off")
	equal(t, "identifies", fake.Identifies(token), 0)
	a.StopGateway("chan-off")
	a.Close()
}

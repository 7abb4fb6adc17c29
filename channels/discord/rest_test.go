package discord_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/discord/discordtest"
)

func TestIdentify(t *testing.T) {
	a := newAdapter(t)
	ctx := context.Background()

	token, b := newBot(t)
	got, err := a.Identify(ctx, token)
	must(t, err)
	equal(t, "bot", got, discord.Bot{UserID: b.UserID, Username: b.Username, ApplicationID: b.ApplicationID, VerifyKey: b.VerifyKey})

	noUser, _ := newBot(t)
	fake.AddBot(noUser, discordtest.Bot{UserID: "1", ApplicationID: "2", VerifyKey: b.VerifyKey})
	noApp, _ := newBot(t)
	fake.AddBot(noApp, discordtest.Bot{UserID: "1", Username: "x", ApplicationID: "2"})

	tests := []struct {
		name, token, failRoute string
		failStatus             int
		want                   string
	}{
		{name: "unknown token", token: "MTIz.unknown.secretTokenPart_zz", want: "Discord API error: 401"},
		{name: "no username", token: noUser, want: "Invalid bot token: GET /users/@me returned no user"},
		{name: "no verify_key", token: noApp, want: "Invalid bot token: GET /applications/@me returned no application"},
		{name: "users 500", token: token, failRoute: discordtest.RouteUser, failStatus: 500, want: "Discord API error: 500"},
		{name: "applications 403", token: token, failRoute: discordtest.RouteApplication, failStatus: 403, want: "Discord API error: 403"},
		{name: "empty token", token: " ", want: "Invalid bot token: GET /users/@me returned no user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.failRoute != "" {
				fake.FailNext(tc.failRoute, 1, tc.failStatus, "")
			}
			_, err := a.Identify(ctx, tc.token)
			safe(t, err, tc.token)
			equal(t, "error", err.Error(), tc.want)
		})
	}
}

func TestIdentifyUnreachable(t *testing.T) {
	a := discord.New(discord.Config{APIURL: "http://127.0.0.1:1/api/v10", Timeout: time.Second}, nil)
	t.Cleanup(func() { discord.New(discord.Config{APIURL: fake.URL}, nil) }) // restore discordgo's globals
	_, err := a.Identify(context.Background(), "MTIz.x.secretTokenPart_u")
	safe(t, err, "MTIz.x.secretTokenPart_u")
	if !strings.HasPrefix(err.Error(), "Discord API unreachable: ") {
		t.Errorf("err = %q", err)
	}
}

// creds returns a channels.Credentials holding token as botToken.
func creds(token string) channels.Credentials {
	return func(_ context.Context, name string) ([]byte, error) {
		if name != "botToken" {
			return nil, errors.New("no such secret")
		}
		return []byte(token), nil
	}
}

// sentTo returns the messages the fake accepted for token.
func sentTo(token string) []discordtest.SentMessage {
	var out []discordtest.SentMessage
	for _, m := range fake.Sent() {
		if m.Token == token {
			out = append(out, m)
		}
	}
	return out
}

func TestSendText(t *testing.T) {
	a := newAdapter(t)
	token, _ := newBot(t)
	must(t, a.SendText(context.Background(), token, "1200000000000000002", discord.PairedText))
	sent := sentTo(token)
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	equal(t, "channel", sent[0].ChannelID, "1200000000000000002")
	equal(t, "content", sent[0].Content, discord.PairedText)
	equal(t, "allowed_mentions", string(sent[0].AllowedMentions), `{"parse":[]}`)
}

func TestSend(t *testing.T) {
	a := newAdapter(t)
	ctx := context.Background()
	token, _ := newBot(t)
	part := channels.Part{ResponseID: "r1", ChannelID: "c1", Target: "1200000000000000002", Text: "hi @everyone", Total: 1}

	equal(t, "MaxPartUnits", a.MaxPartUnits(), 2000)
	must(t, a.Send(ctx, part, creds(token)))
	sent := sentTo(token)
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	equal(t, "content", sent[0].Content, "hi @everyone")
	equal(t, "allowed_mentions", string(sent[0].AllowedMentions), `{"parse":[]}`)

	t.Run("429", func(t *testing.T) {
		fake.FailNext(discordtest.RouteMessages, 1, http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":1.25,"global":false}`)
		err := a.Send(ctx, part, creds(token))
		safe(t, err, token)
		equal(t, "RetryAfter", channels.RetryAfter(err), 1250*time.Millisecond)
		equal(t, "permanent", errors.Is(err, channels.ErrPermanent), false)
	})
	t.Run("500 retryable", func(t *testing.T) {
		fake.FailNext(discordtest.RouteMessages, 1, http.StatusInternalServerError, "<html>oops</html>")
		err := a.Send(ctx, part, creds(token))
		safe(t, err, token)
		equal(t, "permanent", errors.Is(err, channels.ErrPermanent), false)
		equal(t, "RetryAfter", channels.RetryAfter(err), 0)
		equal(t, "text", err.Error(), "discord: create message: 500 Internal Server Error")
	})
	t.Run("408 retryable", func(t *testing.T) {
		fake.FailNext(discordtest.RouteMessages, 1, http.StatusRequestTimeout, "")
		err := a.Send(ctx, part, creds(token))
		safe(t, err, token)
		equal(t, "permanent", errors.Is(err, channels.ErrPermanent), false)
	})
	t.Run("403 permanent", func(t *testing.T) {
		fake.FailNext(discordtest.RouteMessages, 1, http.StatusForbidden, `{"message":"Missing Access","code":50001}`)
		err := a.Send(ctx, part, creds(token))
		safe(t, err, token)
		errorIs(t, err, channels.ErrPermanent)
		if !strings.HasSuffix(err.Error(), "discord: create message: 403 Missing Access") {
			t.Errorf("err = %q", err)
		}
	})
	t.Run("bad token permanent", func(t *testing.T) {
		err := a.Send(ctx, part, creds("MTIz.nope.secretTokenPart_q"))
		safe(t, err, "MTIz.nope.secretTokenPart_q")
		errorIs(t, err, channels.ErrPermanent)
	})
	t.Run("no credentials", func(t *testing.T) {
		err := a.Send(ctx, part, creds(""))
		errorIs(t, err, channels.ErrPermanent)
		equal(t, "text", err.Error(), "permanent failure: channel has no credentials")
	})
	t.Run("no target", func(t *testing.T) {
		p := part
		p.Target = ""
		err := a.Send(ctx, p, creds(token))
		equal(t, "text", err.Error(), "permanent failure: no reply target")
	})
	t.Run("network error retryable", func(t *testing.T) {
		b := discord.New(discord.Config{APIURL: "http://127.0.0.1:1/api/v10", Timeout: time.Second}, nil)
		t.Cleanup(func() { discord.New(discord.Config{APIURL: fake.URL}, nil) })
		err := b.Send(ctx, part, creds(token))
		safe(t, err, token)
		equal(t, "permanent", errors.Is(err, channels.ErrPermanent), false)
	})
	equal(t, "sent after failures", len(sentTo(token)), 1)
}

func TestTyping(t *testing.T) {
	a := newAdapter(t)
	token, _ := newBot(t)
	must(t, a.SendTyping(context.Background(), token, "1200000000000000777"))
	found := false
	for _, ch := range fake.Typings() {
		found = found || ch == "1200000000000000777"
	}
	equal(t, "typing recorded", found, true)

	fake.FailNext(discordtest.RouteTyping, 1, http.StatusNotFound, `{"message":"Unknown Channel","code":10003}`)
	err := a.SendTyping(context.Background(), token, "1")
	safe(t, err, token)
	errorIs(t, err, channels.ErrPermanent)
}

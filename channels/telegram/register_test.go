package telegram_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/channels/telegram/telegramtest"
)

func TestGetMe(t *testing.T) {
	fake, a := newFake(t)
	name, err := a.GetMe(context.Background(), token)
	must(t, err)
	equal(t, "username", name, "relay_test_bot")

	calls := fake.CallsTo("getMe")
	if len(calls) != 1 {
		t.Fatalf("getMe calls = %d, want 1", len(calls))
	}
	equal(t, "token", calls[0].Token, token)
	equal(t, "status", calls[0].Status, http.StatusOK)
}

func TestGetMeFirstNameFallback(t *testing.T) {
	fake, a := newFake(t)
	fake.AddBot("1:nameless", "")
	name, err := a.GetMe(context.Background(), "1:nameless")
	must(t, err)
	equal(t, "name", name, telegramtest.BotFirstName)
}

func TestGetMeErrors(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		program func(*telegramtest.Server)
		want    string
	}{
		{"unknown token", "999:AAH-secretTokenPart_9xYz", nil, "Telegram API unreachable: 401"},
		{"server error", token, func(f *telegramtest.Server) { f.FailNext("getMe", 1, 500, "", 0) }, "Telegram API unreachable: 500"},
		{"proxy HTML", token, func(f *telegramtest.Server) {
			f.ReplyNext("getMe", 1, 502, "text/html", "<html><body>502 Bad Gateway "+token+"</body></html>")
		}, "Telegram API unreachable: 502"},
		{"ok false", token, func(f *telegramtest.Server) { f.FailNext("getMe", 1, 200, "Bot is deactivated", 0) }, "Invalid bot token: Bot is deactivated"},
		{"ok false, no description", token, func(f *telegramtest.Server) { f.FailNext("getMe", 1, 200, "", 0) }, "Invalid bot token: getMe failed"},
		{"no result", token, func(f *telegramtest.Server) {
			f.ReplyNext("getMe", 1, 200, "application/json", `{"ok":true}`)
		}, "Invalid bot token: getMe failed"},
		{"null result", token, func(f *telegramtest.Server) {
			f.ReplyNext("getMe", 1, 200, "application/json", `{"ok":true,"result":null,"description":"odd"}`)
		}, "Invalid bot token: odd"},
		{"not JSON", token, func(f *telegramtest.Server) {
			f.ReplyNext("getMe", 1, 200, "text/plain", "hello "+token)
		}, "Invalid bot token: getMe failed"},
		{"empty token", "", nil, "Invalid bot token: empty bot token"},
		{"blank token", "   ", nil, "Telegram API unreachable: 401"},
		{"token with a path", "1:x/../../getMe", nil, "Telegram API unreachable: 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, a := newFake(t)
			if tt.program != nil {
				tt.program(fake)
			}
			_, err := a.GetMe(context.Background(), tt.token)
			safe(t, err)
			equal(t, "error", err.Error(), tt.want)
		})
	}
}

func TestGetMeNetworkError(t *testing.T) {
	fake, a := newFake(t)
	fake.Close()
	_, err := a.GetMe(context.Background(), token)
	safe(t, err)
	equal(t, "error", err.Error(), "Telegram API unreachable: connection refused")
}

func TestGetMeTimeout(t *testing.T) {
	srv := hangingServer(t)
	a := telegram.New(telegram.Config{APIURL: srv.URL, Timeout: 50 * time.Millisecond}, nil)
	_, err := a.GetMe(context.Background(), token)
	safe(t, err)
	equal(t, "error", err.Error(), "Telegram API unreachable: timeout")
	errorIs(t, err, context.DeadlineExceeded)
}

func TestSetWebhook(t *testing.T) {
	fake, a := newFake(t)
	const hook = "https://relay.example.com/telegram/3b241101-e2bb-4255-8caf-4136c566a962"
	const secret = "6f1c2b8e-9d47-4a53-8e0b-2c5d7f9a1e34"
	must(t, a.SetWebhook(context.Background(), token, hook, secret))

	url, sec, ok := fake.Webhook(token)
	equal(t, "webhook set", ok, true)
	equal(t, "url", url, hook)
	equal(t, "secret", sec, secret)
	calls := fake.CallsTo("setWebhook")
	if len(calls) != 1 {
		t.Fatalf("setWebhook calls = %d, want 1", len(calls))
	}
	equal(t, "allowed_updates", calls[0].Params["allowed_updates"], `["message","edited_message","callback_query"]`)
	equal(t, "secret_token", calls[0].Params["secret_token"], secret)
}

func TestSetWebhookErrors(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		url     string
		program func(*telegramtest.Server)
		want    string
	}{
		{"http url refused by Telegram", token, "http://relay.example.com/telegram/x", nil, "Failed to set webhook: 400"},
		{"unknown token", "999:AAH-secretTokenPart_9xYz", "https://relay.example.com/telegram/x", nil, "Failed to set webhook: 401"},
		{"server error", token, "https://relay.example.com/telegram/x", func(f *telegramtest.Server) {
			f.FailNext("setWebhook", 1, 503, "", 0)
		}, "Failed to set webhook: 503"},
		{"ok false", token, "https://relay.example.com/telegram/x", func(f *telegramtest.Server) {
			f.FailNext("setWebhook", 1, 200, "Bad webhook: IP address 10.0.0.1 is reserved", 0)
		}, "Webhook setup failed: Bad webhook: IP address 10.0.0.1 is reserved"},
		{"ok false, no description", token, "https://relay.example.com/telegram/x", func(f *telegramtest.Server) {
			f.FailNext("setWebhook", 1, 200, "", 0)
		}, "Webhook setup failed: setWebhook failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, a := newFake(t)
			if tt.program != nil {
				tt.program(fake)
			}
			err := a.SetWebhook(context.Background(), tt.token, tt.url, "secret")
			safe(t, err)
			equal(t, "error", err.Error(), tt.want)
			_, _, ok := fake.Webhook(tt.token)
			equal(t, "webhook set", ok, false)
		})
	}
}

func TestSetWebhookNetworkError(t *testing.T) {
	fake, a := newFake(t)
	fake.Close()
	err := a.SetWebhook(context.Background(), token, "https://relay.example.com/telegram/x", "secret")
	safe(t, err)
	equal(t, "error", err.Error(), "Telegram API unreachable: connection refused")
}

func TestDeleteWebhook(t *testing.T) {
	fake, a := newFake(t)
	must(t, a.SetWebhook(context.Background(), token, "https://relay.example.com/telegram/x", "s"))
	must(t, a.DeleteWebhook(context.Background(), token))
	_, _, ok := fake.Webhook(token)
	equal(t, "webhook set", ok, false)

	err := a.DeleteWebhook(context.Background(), "999:AAH-secretTokenPart_9xYz")
	safe(t, err)
	equal(t, "error", err.Error(), "permanent failure: telegram: deleteWebhook: 401 Unauthorized")
	errorIs(t, err, channels.ErrPermanent)
}

func TestSendText(t *testing.T) {
	fake, a := newFake(t)
	must(t, a.SendText(context.Background(), token, "523109881", telegram.PairedText))
	sent := fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent = %d messages, want 1", len(sent))
	}
	equal(t, "message", sent[0], telegramtest.SentMessage{ChatID: "523109881", Text: telegram.PairedText})
	if _, ok := fake.CallsTo("sendMessage")[0].Params["parse_mode"]; ok {
		t.Error("SendText sent a parse_mode")
	}

	err := a.SendText(context.Background(), token, "not-a-chat", telegram.RefusalText)
	safe(t, err)
	errorIs(t, err, channels.ErrPermanent)
	equal(t, "error", err.Error(), "permanent failure: telegram: sendMessage: 400 Bad Request: chat not found")
}

func TestSendTyping(t *testing.T) {
	fake, a := newFake(t)
	must(t, a.SendTyping(context.Background(), token, "-1001234567890123"))
	calls := fake.CallsTo("sendChatAction")
	if len(calls) != 1 {
		t.Fatalf("sendChatAction calls = %d, want 1", len(calls))
	}
	equal(t, "chat_id", calls[0].Params["chat_id"], "-1001234567890123")
	equal(t, "action", calls[0].Params["action"], "typing")

	fake.FailNext("sendChatAction", 1, 500, "", 0)
	err := a.SendTyping(context.Background(), token, "1")
	safe(t, err)
	equal(t, "error", err.Error(), "telegram: sendChatAction: 500 Internal Server Error")

	fake.Close()
	err = a.SendTyping(context.Background(), token, "1")
	safe(t, err)
	equal(t, "error", err.Error(), "telegram: sendChatAction: connection refused")
}

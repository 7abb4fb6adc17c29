package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/chaos-relay/relay/channels"
)

// errNoCredentials and errNoTarget use the lastError texts of PROTOCOL §7.5.
var (
	errNoCredentials = errors.New("channel has no credentials")
	errNoTarget      = errors.New("no reply target")
)

// Send implements channels.Sender (PROTOCOL §7.5): sendMessage to p.Target with parse_mode
// "Markdown" (Telegram's legacy V1 mode), and at once again without parse_mode when Telegram
// answers 400 "can't parse entities". A 429 gives a *channels.RetryAfterError carrying retry_after,
// any other 4xx but 408 a channels.Permanent error; network errors, timeouts, 408 and 5xx are
// returned as they are, to be retried.
func (a *Adapter) Send(ctx context.Context, p channels.Part, creds channels.Credentials) error {
	raw, err := creds(ctx, "botToken")
	if err != nil {
		return fmt.Errorf("telegram: credentials: %w", err)
	}
	token := string(raw)
	if strings.TrimSpace(token) == "" {
		return channels.Permanent(errNoCredentials)
	}
	if p.Target == "" {
		return channels.Permanent(errNoTarget)
	}
	err = a.sendMessage(ctx, token, p.Target, p.Text, models.ParseModeMarkdownV1)
	if entitiesRejected(err) {
		a.log.Debug("markdown rejected, resending as plain text",
			"response_id", p.ResponseID, "channel", p.ChannelID, "part", p.Index)
		err = a.sendMessage(ctx, token, p.Target, p.Text, "")
	}
	return classify(err)
}

// SendText sends text as is, without parse_mode: the pairing confirmation and the refusal
// (PROTOCOL §4.3), which are not durable deliveries. Errors are classified as Send's are.
func (a *Adapter) SendText(ctx context.Context, token, chatID, text string) error {
	return classify(a.sendMessage(ctx, token, chatID, text, ""))
}

// SendTyping shows "typing…" in the chat with sendChatAction (PROTOCOL §7.6). Errors are
// classified as Send's are.
func (a *Adapter) SendTyping(ctx context.Context, token, chatID string) error {
	_, err := a.call(ctx, token, "sendChatAction", func(ctx context.Context, b *bot.Bot) error {
		_, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: chatID, Action: models.ChatActionTyping})
		return err
	})
	return classify(err)
}

// sendMessage makes one sendMessage call; chatID goes out as the string it is (Telegram accepts
// numeric ids and @usernames as text).
func (a *Adapter) sendMessage(ctx context.Context, token, chatID, text string, mode models.ParseMode) error {
	_, err := a.call(ctx, token, "sendMessage", func(ctx context.Context, b *bot.Bot) error {
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: chatID, Text: text, ParseMode: mode})
		return err
	})
	return err
}

// entitiesRejected reports whether Telegram refused the text's Markdown: a 400 whose description
// contains "can't parse entities".
func entitiesRejected(err error) bool {
	e, ok := errors.AsType[*callError](err)
	return ok && e.code() == http.StatusBadRequest && strings.Contains(e.Description, "can't parse entities")
}

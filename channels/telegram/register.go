package telegram

import (
	"context"
	"errors"
	"strconv"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// allowedUpdates returns the update kinds the relay asks Telegram for (PROTOCOL §4.3 step 4).
func allowedUpdates() []string { return []string{KindMessage, KindEditedMessage, KindCallbackQuery} }

// registrationError carries one of the exact texts of PROTOCOL §4.3 steps 2 and 4 as its Error(),
// which the server puts after "Telegram registration failed: ". It unwraps to the call's error.
type registrationError struct {
	msg   string
	cause error
}

func (e *registrationError) Error() string { return e.msg }
func (e *registrationError) Unwrap() error { return e.cause }

// GetMe checks token with getMe and returns the bot's name: result.username, else result.first_name.
// Errors: a non-2xx status gives "Telegram API unreachable: <status>", no answer at all
// "Telegram API unreachable: <reason>", and a 2xx answer with ok:false or without a result
// "Invalid bot token: <description, or "getMe failed">".
func (a *Adapter) GetMe(ctx context.Context, token string) (string, error) {
	var user *models.User
	rep, err := a.call(ctx, token, "getMe", func(ctx context.Context, b *bot.Bot) error {
		u, err := b.GetMe(ctx)
		user = u
		return err
	})
	if err == nil && rep.parsed && !rep.hasResult() {
		return "", &registrationError{msg: "Invalid bot token: " + orDefault(cleanText(rep.Description, token), "getMe failed")}
	}
	if err != nil {
		return "", registrationFailure(err, "Telegram API unreachable: ", "Invalid bot token: ", "getMe failed")
	}
	if user == nil {
		return "", nil
	}
	if user.Username != "" {
		return user.Username, nil
	}
	return user.FirstName, nil
}

// SetWebhook points the bot's webhook at url, with secret as secret_token and allowed_updates
// ["message","edited_message","callback_query"].
// Errors: a non-2xx status gives "Failed to set webhook: <status>", no answer at all
// "Telegram API unreachable: <reason>", and a 2xx answer with ok:false
// "Webhook setup failed: <description, or "setWebhook failed">".
func (a *Adapter) SetWebhook(ctx context.Context, token, url, secret string) error {
	_, err := a.call(ctx, token, "setWebhook", func(ctx context.Context, b *bot.Bot) error {
		_, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: url, SecretToken: secret, AllowedUpdates: allowedUpdates()})
		return err
	})
	if err != nil {
		return registrationFailure(err, "Failed to set webhook: ", "Webhook setup failed: ", "setWebhook failed")
	}
	return nil
}

// registrationFailure maps a call error to a PROTOCOL §4.3 text: httpPrefix+status for a non-2xx
// answer, "Telegram API unreachable: <reason>" for none, and okFalsePrefix+description (or
// fallback) for a 2xx answer that is not a success.
func registrationFailure(err error, httpPrefix, okFalsePrefix, fallback string) error {
	e, ok := errors.AsType[*callError](err)
	switch {
	case !ok:
		return &registrationError{msg: "Telegram API unreachable: " + err.Error(), cause: err}
	case e.badToken:
		return &registrationError{msg: "Invalid bot token: " + e.Reason, cause: e}
	case e.Status == 0:
		return &registrationError{msg: "Telegram API unreachable: " + e.Reason, cause: e}
	case e.Status < 200 || e.Status >= 300:
		return &registrationError{msg: httpPrefix + strconv.Itoa(e.Status), cause: e}
	}
	return &registrationError{msg: okFalsePrefix + orDefault(e.Description, fallback), cause: e}
}

// DeleteWebhook removes the bot's webhook (best effort for the caller). Errors are classified as
// Send's are, e.g. "permanent failure: telegram: deleteWebhook: 401 Unauthorized".
func (a *Adapter) DeleteWebhook(ctx context.Context, token string) error {
	_, err := a.call(ctx, token, "deleteWebhook", func(ctx context.Context, b *bot.Bot) error {
		_, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{})
		return err
	})
	return classify(err)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

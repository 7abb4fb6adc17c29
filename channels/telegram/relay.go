package telegram

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
)

var (
	_ channels.Platform = (*Adapter)(nil)
	_ channels.Typer    = (*Adapter)(nil)
	_ channels.Releaser = (*Adapter)(nil)
)

// Type implements channels.Platform.
func (a *Adapter) Type() string { return storage.TypeTelegram }

// Traits implements channels.Platform.
func (a *Adapter) Traits() channels.Traits {
	return channels.Traits{Direction: storage.DirectionBidirectional, InboundSecret: true}
}

// Routes implements channels.Platform: bot registration and the bot's webhook.
func (a *Adapter) Routes(h channels.Host) []channels.Route {
	return []channels.Route{
		channels.RegisterRoute(storage.TypeTelegram, h, a.register),
		channels.CallbackRoute(storage.TypeTelegram, "Channel is not a Telegram channel", h, a.inbound),
	}
}

type registered struct {
	ChannelID   string `json:"channelId"`
	BotUsername string `json:"botUsername"`
	PairingCode string `json:"pairingCode"`
}

// register handles POST /channels/telegram/register (PROTOCOL §4.3): the
// token is checked with getMe, the webhook is set, and only then is the
// channel stored; a failed store removes the webhook again.
func (a *Adapter) register(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	const prefix = "Telegram registration failed: "
	token, agentID, err := channels.BotRegistration(r.Body, prefix)
	if err != nil {
		return channels.Answer{}, err
	}
	origin := h.PublicOrigin(r.HTTP)
	if !strings.HasPrefix(origin, "https://") {
		return channels.Answer{}, channels.BadRequest(prefix + "Telegram needs an HTTPS public origin: set RELAY_BASE_URL")
	}
	username, err := a.GetMe(ctx, token)
	if err != nil {
		return channels.Answer{}, channels.BadRequest(prefix + err.Error())
	}
	ch := storage.Channel{ID: storage.NewID(), UserID: r.User.ID, Type: storage.TypeTelegram,
		Direction: storage.DirectionBidirectional, AgentID: agentID, Enabled: true, CreatedAt: h.Now().UTC()}
	secret, code := storage.NewID(), channels.PairingCode()
	if err := a.SetWebhook(ctx, token, origin+"/telegram/"+ch.ID, secret); err != nil {
		return channels.Answer{}, channels.BadRequest(prefix + err.Error())
	}
	meta := &rawjson.Object{}
	meta.SetString("botUsername", username)
	meta.SetString("webhookSecret", secret)
	meta.SetString("pairingCode", code)
	ch.Metadata, _ = meta.MarshalJSON()
	if err := h.Store().CreateChannel(ctx, &ch, map[string][]byte{channels.SecretBotToken: []byte(token)}); err != nil {
		a.log.Error("store telegram channel", "err", err)
		h.Background(func(ctx context.Context) { _ = a.DeleteWebhook(ctx, token) })
		return channels.Answer{}, channels.BadRequest(prefix + "Storage unavailable")
	}
	return channels.JSON(http.StatusCreated, registered{ChannelID: ch.ID, BotUsername: username, PairingCode: code})
}

// inbound handles POST /telegram/:channelId (PROTOCOL §4.3 Inbound).
// Telegram gets a 200 for everything it should not retry.
func (a *Adapter) inbound(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	ch, meta := r.Channel, r.Meta
	secret, _ := meta.GetString("webhookSecret")
	given := r.HTTP.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if given == "" {
		given = r.HTTP.URL.Query().Get("secret")
	}
	if secret == "" || !channels.SecretEqual(given, secret) {
		return channels.Answer{}, channels.Errorf(http.StatusUnauthorized, "Invalid secret")
	}
	if !ch.Enabled {
		h.Dropped(ch.Type, "disabled")
		return channels.OK(), nil
	}
	u, err := ParseUpdate(r.Body)
	if err != nil {
		return channels.Answer{}, channels.ErrInvalidJSON
	}
	if u.Content == "" {
		h.Dropped(ch.Type, "no_content")
		return channels.OK(), nil
	}
	chatID, sender := "", ""
	if u.ChatID != nil {
		chatID = strconv.FormatInt(*u.ChatID, 10)
	}
	if u.SenderID != nil {
		sender = strconv.FormatInt(*u.SenderID, 10)
	}
	code, _ := meta.GetString("pairingCode")
	if IsPairing(u.Content, code, u.SenderID) {
		paired, err := channels.Pair(ctx, h.Store(), ch.ID, code, sender)
		if err != nil {
			return channels.Answer{}, err
		}
		if paired && chatID != "" {
			a.notice(h, ch.ID, chatID, PairedText)
		}
		return channels.OK(), nil
	}
	if !Allowed(channels.AllowedUsers(ctx, h.Store(), ch, meta, sender), u.SenderID) {
		if chatID != "" {
			a.notice(h, ch.ID, chatID, RefusalText)
		}
		h.Dropped(ch.Type, "not_allowed")
		return channels.OK(), nil
	}
	in := channels.Inbound{Channel: ch, From: u.From, Content: u.Content, Meta: &rawjson.Object{}, ReplyTarget: chatID}
	if u.UpdateID != 0 { // a retried update is acknowledged, not stored again
		in.DedupeKey = "update:" + strconv.FormatInt(u.UpdateID, 10)
	}
	in.Meta.SetInt("updateId", u.UpdateID)
	channels.AddHints(in.Meta, ch, a.Traits())
	if u.ChatID != nil {
		in.Meta.SetInt("chatId", *u.ChatID)
	}
	if u.SenderID != nil {
		in.Meta.SetInt("senderId", *u.SenderID)
	}
	if u.Kind == KindCallbackQuery {
		in.Meta.SetString("callbackQueryId", u.CallbackQueryID)
	} else {
		if u.MessageID != nil {
			in.Meta.SetInt("messageId", *u.MessageID)
		}
		in.Meta.SetString("chatType", u.ChatType)
		if u.Edited {
			in.Meta.SetBool("edited", true)
		}
	}
	m, err := h.Ingest(ctx, in)
	if errors.Is(err, storage.ErrDuplicate) {
		return channels.OK(), nil
	}
	if err != nil {
		return channels.Answer{}, err
	}
	return channels.Stored(m.ID), nil
}

// notice sends a best-effort text (pairing confirmation, refusal) in the
// background; it is not a durable delivery.
func (a *Adapter) notice(h channels.Host, channelID, chatID, text string) {
	h.Background(func(ctx context.Context) {
		token, err := h.Store().ChannelSecret(ctx, channelID, channels.SecretBotToken)
		if err != nil {
			return // a channel created by POST /channels has no token
		}
		if err := a.SendText(ctx, string(token), chatID, text); err != nil {
			a.log.Debug("telegram notice", "err", err)
		}
	})
}

// Plan implements channels.Platform: a reply goes to the chat the reply
// names (metadata chatId) or the channel's last inbound chat.
func (a *Adapter) Plan(v storage.ChannelView, reply *rawjson.Object) storage.Delivery {
	d := storage.Delivery{Status: storage.StatusPending, Target: channels.FirstNonEmpty(channels.ScalarText(reply, "chatId"), v.ReplyTarget)}
	switch {
	case !v.HasSecret(channels.SecretBotToken):
		return storage.Delivery{Status: storage.StatusFailed, Target: d.Target, LastError: "channel has no credentials"}
	case d.Target == "":
		return storage.Delivery{Status: storage.StatusFailed, LastError: "no reply target"}
	}
	return d
}

// Typing implements channels.Typer: "typing…" in the channel's last chat.
func (a *Adapter) Typing(ctx context.Context, st storage.Store, ch storage.Channel) error {
	token, err := st.ChannelSecret(ctx, ch.ID, channels.SecretBotToken)
	if err != nil {
		return nil // no token: nothing to send
	}
	target, err := st.ReplyTarget(ctx, ch.ID)
	if err != nil || target == "" {
		return err
	}
	return a.SendTyping(ctx, string(token), target)
}

// releaseAttempts bounds the background removal of a deleted channel's
// webhook: Telegram keeps posting to a webhook until it is removed.
const releaseAttempts = 5

// PrepareRelease implements channels.Releaser: a deleted channel's webhook
// is removed with its token, which is read before the deletion removes it.
// A channel without a token (created by POST /channels) holds nothing.
func (a *Adapter) PrepareRelease(ctx context.Context, st storage.Store, ch storage.Channel) (func(context.Context), error) {
	token, err := st.ChannelSecret(ctx, ch.ID, channels.SecretBotToken)
	if errors.Is(err, storage.ErrNotFound) {
		return func(context.Context) {}, nil
	}
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) {
		wait := time.Second
		for attempt := 1; ; attempt++ {
			err := a.DeleteWebhook(ctx, string(token))
			if err == nil || errors.Is(err, channels.ErrPermanent) || attempt == releaseAttempts {
				if err != nil {
					a.log.Warn("delete webhook of a deleted channel", "channel", ch.ID, "attempts", attempt, "err", err)
				}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
				wait *= 2
			}
		}
	}, nil
}

// Badge implements channels.Describer: the bot and its pairing state.
func (a *Adapter) Badge(ch storage.Channel) (string, []string) { return channels.BotDescription(ch) }

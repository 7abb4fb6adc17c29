package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/channels/telegram"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

const secretBotToken = "botToken"

type botRegistered struct {
	ChannelID       string `json:"channelId"`
	BotUsername     string `json:"botUsername"`
	PairingCode     string `json:"pairingCode"`
	InteractionsURL string `json:"interactionsUrl,omitempty"`
}

// registerTelegram handles POST /channels/telegram/register (PROTOCOL §4.3):
// the token is checked with getMe, the webhook is set, and only then is the
// channel stored; a failed store removes the webhook again.
func (s *Server) registerTelegram(c *echo.Context) error {
	const prefix = "Telegram registration failed: "
	user, token, agentID, err := s.botRegistration(c, prefix)
	if err != nil {
		return err
	}
	origin := s.publicOrigin(c.Request())
	if !strings.HasPrefix(origin, "https://") {
		return badRequest(prefix + "Telegram needs an HTTPS public origin: set RELAY_BASE_URL")
	}
	ctx := c.Request().Context()
	username, err := s.telegram.GetMe(ctx, token)
	if err != nil {
		return badRequest(prefix + err.Error())
	}
	ch := storage.Channel{ID: storage.NewID(), UserID: user.ID, Type: storage.TypeTelegram,
		Direction: storage.DirectionBidirectional, AgentID: agentID, Enabled: true, CreatedAt: s.now().UTC()}
	secret, code := storage.NewID(), pairingCode()
	if err := s.telegram.SetWebhook(ctx, token, origin+"/telegram/"+ch.ID, secret); err != nil {
		return badRequest(prefix + err.Error())
	}
	meta := &rawjson.Object{}
	meta.SetString("botUsername", username)
	meta.SetString("webhookSecret", secret)
	meta.SetString("pairingCode", code)
	ch.Metadata, _ = meta.MarshalJSON()
	if err := s.store.CreateChannel(ctx, &ch, map[string][]byte{secretBotToken: []byte(token)}); err != nil {
		s.log.Error("store telegram channel", "component", "telegram", "err", err)
		s.background(func(ctx context.Context) { _ = s.telegram.DeleteWebhook(ctx, token) })
		return badRequest(prefix + "Storage unavailable")
	}
	return writeJSON(c, http.StatusCreated, botRegistered{ChannelID: ch.ID, BotUsername: username, PairingCode: code})
}

// botRegistration starts a bot register endpoint: the shared channels rate
// limit, then the body: botToken (a non-empty string) and an optional agentId.
func (s *Server) botRegistration(c *echo.Context, prefix string) (user storage.User, token, agentID string, err error) {
	user = userOf(c)
	if err := s.limit(c, ratelimit.Channels, user.ID, msgChannelLimited); err != nil {
		return user, "", "", err
	}
	body, err := s.readBody(c)
	if err != nil {
		return user, "", "", err
	}
	var f map[string]json.RawMessage
	if decodeObject(body, &f) != nil {
		return user, "", "", badRequest(prefix + msgInvalidJSON)
	}
	if json.Unmarshal(f["botToken"], &token) != nil || token == "" {
		return user, "", "", badRequest("Missing or invalid botToken")
	}
	_ = json.Unmarshal(f["agentId"], &agentID)
	return user, token, agentID, nil
}

// pairingCode is the first 8 characters of a fresh UUIDv4, upper-cased.
func pairingCode() string { return strings.ToUpper(storage.NewID()[:8]) }

// telegramInbound handles POST /telegram/:channelId (PROTOCOL §4.3 Inbound).
// Telegram gets a 200 for everything it should not retry.
func (s *Server) telegramInbound(c *echo.Context) error {
	ch, meta, body, err := s.inboundRequest(c, storage.TypeTelegram, "Channel is not a Telegram channel")
	if err != nil {
		return err
	}
	r := c.Request()
	secret, _ := meta.GetString("webhookSecret")
	given := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if given == "" {
		given = r.URL.Query().Get("secret")
	}
	if secret == "" || !secretEqual(given, secret) {
		return newError(http.StatusUnauthorized, "Invalid secret")
	}
	if !ch.Enabled {
		return s.dropped(c, ch.Type, "disabled")
	}
	u, err := telegram.ParseUpdate(body)
	if err != nil {
		return errInvalidJSON
	}
	if u.Content == "" {
		return s.dropped(c, ch.Type, "no_content")
	}
	chatID := ""
	if u.ChatID != nil {
		chatID = strconv.FormatInt(*u.ChatID, 10)
	}
	code, _ := meta.GetString("pairingCode")
	if telegram.IsPairing(u.Content, code, u.SenderID) {
		paired, err := s.pair(r.Context(), ch.ID, code, strconv.FormatInt(*u.SenderID, 10))
		if err != nil {
			return err
		}
		if paired && chatID != "" {
			s.telegramText(ch.ID, chatID, telegram.PairedText)
		}
		return writeJSON(c, http.StatusOK, okBody{OK: true})
	}
	if !telegram.Allowed(stringList(meta, "allowedUsers"), u.SenderID) {
		if chatID != "" {
			s.telegramText(ch.ID, chatID, telegram.RefusalText)
		}
		return s.dropped(c, ch.Type, "not_allowed")
	}
	in := inbound{channel: ch, from: u.From, content: u.Content, meta: &rawjson.Object{}, replyTarget: chatID}
	if u.UpdateID != 0 { // a retried update is acknowledged, not stored again
		in.dedupeKey = "update:" + strconv.FormatInt(u.UpdateID, 10)
	}
	in.meta.SetInt("updateId", u.UpdateID)
	addHints(in.meta, ch)
	if u.ChatID != nil {
		in.meta.SetInt("chatId", *u.ChatID)
	}
	if u.SenderID != nil {
		in.meta.SetInt("senderId", *u.SenderID)
	}
	if u.Kind == "callback_query" {
		in.meta.SetString("callbackQueryId", u.CallbackQueryID)
	} else {
		if u.MessageID != nil {
			in.meta.SetInt("messageId", *u.MessageID)
		}
		in.meta.SetString("chatType", u.ChatType)
		if u.Edited {
			in.meta.SetBool("edited", true)
		}
	}
	m, err := s.ingest(r.Context(), in)
	if errors.Is(err, storage.ErrDuplicate) {
		return writeJSON(c, http.StatusOK, okBody{OK: true})
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, stored{OK: true, MessageID: m.ID})
}

// inboundRequest runs the first steps of the inbound pipeline (PROTOCOL
// §4.1) for a channel route: the channel's rate limit, the body limit, the
// lookup and the type check. It returns the channel, its metadata and the body.
func (s *Server) inboundRequest(c *echo.Context, typ, wrongType string) (storage.Channel, *rawjson.Object, []byte, error) {
	id := c.Param("channelId")
	if err := s.limit(c, ratelimit.Webhook, id, "Too many webhook requests. Try again later."); err != nil {
		s.metrics.dropped.WithLabelValues(typ, "rate_limited").Inc()
		return storage.Channel{}, nil, nil, err
	}
	body, err := s.readBody(c)
	if err != nil {
		return storage.Channel{}, nil, nil, err
	}
	ch, meta, err := s.platformChannel(c.Request().Context(), id, typ, wrongType)
	return ch, meta, body, err
}

// platformChannel finds a platform callback's channel and checks its type.
func (s *Server) platformChannel(ctx context.Context, id, typ, wrongType string) (storage.Channel, *rawjson.Object, error) {
	ch, err := s.store.Channel(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return ch, nil, newError(http.StatusNotFound, "Unknown channel")
	}
	if err != nil {
		return ch, nil, err
	}
	if ch.Type != typ {
		return ch, nil, badRequest(wrongType)
	}
	meta, err := rawjson.ParseObject(ch.Metadata)
	return ch, meta, err
}

// dropped acknowledges a platform update that is not stored.
func (s *Server) dropped(c *echo.Context, channelType, reason string) error {
	s.metrics.dropped.WithLabelValues(channelType, reason).Inc()
	return writeJSON(c, http.StatusOK, okBody{OK: true})
}

// pair consumes the channel's pairing code for sender, in one transaction
// (PROTOCOL §4.3 Pairing): the sender joins allowedUsers, the code is gone.
// paired is false when another update used the code first.
func (s *Server) pair(ctx context.Context, channelID, code, sender string) (paired bool, err error) {
	_, err = s.store.UpdateChannel(ctx, channelID, func(ch *storage.Channel) error {
		paired = false
		meta, err := rawjson.ParseObject(ch.Metadata)
		if err != nil {
			return err
		}
		if current, _ := meta.GetString("pairingCode"); current != code {
			return nil
		}
		users := stringList(meta, "allowedUsers")
		if !slices.Contains(users, sender) {
			users = append(users, sender)
		}
		list, _ := rawjson.Marshal(users)
		meta.Set("allowedUsers", list)
		meta.Delete("pairingCode")
		ch.Metadata, err = meta.MarshalJSON()
		paired = true
		return err
	})
	return paired, err
}

// telegramText sends a best-effort notice (pairing confirmation, refusal)
// in the background; it is not a durable delivery.
func (s *Server) telegramText(channelID, chatID, text string) {
	s.background(func(ctx context.Context) {
		token, err := s.store.ChannelSecret(ctx, channelID, secretBotToken)
		if err != nil {
			return // a channel created by POST /channels has no token
		}
		if err := s.telegram.SendText(ctx, string(token), chatID, text); err != nil {
			s.log.Debug("telegram notice", "component", "telegram", "err", err)
		}
	})
}

// stringList reads a metadata array of strings (other elements are skipped).
func stringList(meta *rawjson.Object, key string) []string {
	raw, ok := meta.Get(key)
	if !ok {
		return nil
	}
	var items []any
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// releasePlatform frees what a deleted channel held on its platform, best
// effort and after the commit: Telegram's webhook, Discord's gateway session.
func (s *Server) releasePlatform(ch storage.Channel, token string) {
	if ch.Type == storage.TypeDiscord && s.discord != nil {
		s.discord.StopGateway(ch.ID)
	}
	if ch.Type == storage.TypeTelegram && token != "" && s.telegram != nil {
		s.background(func(ctx context.Context) {
			if err := s.telegram.DeleteWebhook(ctx, token); err != nil {
				s.log.Debug("delete webhook", "component", "telegram", "err", err)
			}
		})
	}
}

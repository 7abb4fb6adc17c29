package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// Platform ids of a Discord channel (not secret; kept outside its metadata).
const (
	platformApplication = "applicationId"
	platformVerifyKey   = "verifyKey"
	platformBotUser     = "botUserId"
)

// registerDiscord handles POST /channels/discord/register (PROTOCOL §4.4).
func (s *Server) registerDiscord(c *echo.Context) error {
	const prefix = "Discord registration failed: "
	user, token, agentID, err := s.botRegistration(c, prefix)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	bot, err := s.discord.Identify(ctx, token)
	if err != nil {
		return badRequest(prefix + err.Error())
	}
	ch := storage.Channel{ID: storage.NewID(), UserID: user.ID, Type: storage.TypeDiscord,
		Direction: storage.DirectionBidirectional, AgentID: agentID, Enabled: true, CreatedAt: s.now().UTC(),
		Platform: map[string]string{platformApplication: bot.ApplicationID, platformVerifyKey: bot.VerifyKey, platformBotUser: bot.UserID}}
	code := pairingCode()
	meta := &rawjson.Object{}
	meta.SetString("botUsername", bot.Username)
	meta.SetString("webhookSecret", storage.NewID())
	meta.SetString("pairingCode", code)
	ch.Metadata, _ = meta.MarshalJSON()
	if err := s.store.CreateChannel(ctx, &ch, map[string][]byte{secretBotToken: []byte(token)}); err != nil {
		s.log.Error("store discord channel", "component", "discord", "err", err)
		return badRequest(prefix + "Storage unavailable")
	}
	// The newest registration of a bot receives its events, as Telegram
	// moves a webhook: older channels of the same bot stop their sessions.
	if older, err := s.store.ChannelsOfType(ctx, storage.TypeDiscord); err == nil {
		for _, o := range older {
			if o.ID != ch.ID && o.Platform[platformBotUser] == bot.UserID {
				s.discord.StopGateway(o.ID)
			}
		}
	}
	s.discord.StartGateway(ch.ID, token, bot.UserID, s.discordGatewayMessage)
	return writeJSON(c, http.StatusCreated, botRegistered{ChannelID: ch.ID, BotUsername: bot.Username, PairingCode: code,
		InteractionsURL: s.publicOrigin(c.Request()) + "/discord/" + ch.ID})
}

// startGateways restores a gateway session for every enabled Discord
// channel with a token; sessions connect in the background.
func (s *Server) startGateways(ctx context.Context) {
	chans, err := s.store.ChannelsOfType(ctx, storage.TypeDiscord)
	if err != nil {
		s.log.Error("list discord channels", "component", "discord", "err", err)
		return
	}
	newest := map[string]storage.Channel{} // bot user → newest channel
	for _, ch := range chans {
		if old, ok := newest[ch.Platform[platformBotUser]]; !ok || ch.Seq > old.Seq {
			newest[ch.Platform[platformBotUser]] = ch
		}
	}
	for bot, ch := range newest {
		s.restartGateway(ctx, ch, bot)
	}
}

// restartGateway starts (or stops) a channel's gateway session to match its
// enabled flag.
func (s *Server) restartGateway(ctx context.Context, ch storage.Channel, botUser string) {
	if !ch.Enabled || botUser == "" {
		s.discord.StopGateway(ch.ID)
		return
	}
	token, err := s.store.ChannelSecret(ctx, ch.ID, secretBotToken)
	if err != nil {
		return // created by POST /channels: forwarded payloads only
	}
	s.discord.StartGateway(ch.ID, string(token), botUser, s.discordGatewayMessage)
}

// discordOutcome is what happened to an inbound Discord message.
type discordOutcome int

const (
	discordStored discordOutcome = iota
	discordPaired
	discordRefused
	discordDropped
	discordInboxFull
)

// discordMessage runs pairing, the allowlist and the store for a message
// from the gateway, a forwarded payload or a slash command.
func (s *Server) discordMessage(ctx context.Context, ch storage.Channel, meta *rawjson.Object, m discord.Message, extra func(*rawjson.Object)) (discordOutcome, storage.Message, error) {
	if m.Bot || m.Content == "" {
		reason := "no_content"
		if m.Bot {
			reason = "bot"
		}
		s.metrics.dropped.WithLabelValues(ch.Type, reason).Inc()
		return discordDropped, storage.Message{}, nil
	}
	code, _ := meta.GetString("pairingCode")
	if discord.IsPairing(m.Content, code, m.AuthorID) {
		paired, err := s.pair(ctx, ch.ID, code, m.AuthorID)
		if err != nil || !paired {
			return discordDropped, storage.Message{}, err
		}
		return discordPaired, storage.Message{}, nil
	}
	if !discord.Allowed(stringList(meta, "allowedUsers"), m.AuthorID) {
		s.metrics.dropped.WithLabelValues(ch.Type, "not_allowed").Inc()
		return discordRefused, storage.Message{}, nil
	}
	in := inbound{channel: ch, from: m.AuthorName, content: m.Content, meta: &rawjson.Object{}, replyTarget: m.ChannelID}
	addHints(in.meta, ch)
	in.meta.SetString("discordChannelId", m.ChannelID)
	in.meta.SetString("senderId", m.AuthorID)
	if extra != nil {
		extra(in.meta)
	} else {
		in.meta.SetString("messageId", m.ID)
		if m.GuildID != "" {
			in.meta.SetString("guildId", m.GuildID)
		}
		if m.Edited {
			in.meta.SetBool("edited", true)
		}
		if m.ID != "" {
			in.dedupeKey = "message:" + m.ID
		}
	}
	stored, err := s.ingest(ctx, in)
	var ae *apiError
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		return discordDropped, stored, nil
	case errors.As(err, &ae) && ae.msg == msgInboxFull:
		return discordInboxFull, stored, err
	case err != nil:
		return discordDropped, stored, err
	}
	return discordStored, stored, nil
}

// discordGatewayMessage handles a MESSAGE_CREATE from a gateway session.
// Gateway events share the channel's webhook bucket; refused, limited and
// failed events are dropped and counted, with a best-effort notice.
func (s *Server) discordGatewayMessage(channelID string, m discord.Message) {
	ctx := s.bgCtx
	if _, ok := s.limits.Allow(ratelimit.Webhook, channelID); !ok {
		s.metrics.rateLimited.WithLabelValues(string(ratelimit.Webhook)).Inc()
		s.metrics.dropped.WithLabelValues(storage.TypeDiscord, "rate_limited").Inc()
		return
	}
	ch, meta, err := s.platformChannel(ctx, channelID, storage.TypeDiscord, "")
	if err != nil {
		return // deleted meanwhile
	}
	if !ch.Enabled {
		s.metrics.dropped.WithLabelValues(ch.Type, "disabled").Inc()
		return
	}
	outcome, _, err := s.discordMessage(ctx, ch, meta, m, nil)
	switch outcome {
	case discordPaired:
		s.discordText(ch.ID, m.ChannelID, discord.PairedText)
	case discordRefused:
		if m.DM || m.MentionsBot { // in guilds, only when spoken to
			s.discordText(ch.ID, m.ChannelID, discord.RefusalText)
		}
	case discordInboxFull:
		s.discordText(ch.ID, m.ChannelID, discord.InboxFull)
	default:
		if err != nil {
			s.log.Error("discord gateway message", "component", "discord", "err", err)
		}
	}
}

// discordInbound handles POST /discord/:channelId (PROTOCOL §4.4): a signed
// Interactions endpoint, or forwarded gateway payloads with ?secret=.
func (s *Server) discordInbound(c *echo.Context) error {
	ch, meta, body, err := s.inboundRequest(c, storage.TypeDiscord, "Channel is not a Discord channel")
	if err != nil {
		return err
	}
	r := c.Request()
	if sig := r.Header.Get("X-Signature-Ed25519"); sig != "" {
		return s.discordInteraction(c, ch, meta, sig, body)
	}
	secret, _ := meta.GetString("webhookSecret")
	if secret == "" || !secretEqual(r.URL.Query().Get("secret"), secret) {
		return newError(http.StatusUnauthorized, "Invalid secret")
	}
	m, err := discord.ParseForwarded(body)
	if err != nil {
		return errInvalidJSON
	}
	if discord.IsPing(body) {
		return writeRawJSON(c, http.StatusOK, []byte(discord.PongBody))
	}
	if !ch.Enabled {
		return s.dropped(c, ch.Type, "disabled")
	}
	outcome, msg, err := s.discordMessage(r.Context(), ch, meta, m, nil)
	switch outcome {
	case discordStored:
		return writeJSON(c, http.StatusOK, stored{OK: true, MessageID: msg.ID})
	case discordPaired:
		s.discordText(ch.ID, m.ChannelID, discord.PairedText)
	case discordRefused:
		s.discordText(ch.ID, m.ChannelID, discord.RefusalText)
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, okBody{OK: true})
}

// discordInteraction answers a signed interaction (PING, slash command).
func (s *Server) discordInteraction(c *echo.Context, ch storage.Channel, meta *rawjson.Object, sig string, body []byte) error {
	r := c.Request()
	if err := discord.VerifyInteraction(ch.Platform[platformVerifyKey], sig, r.Header.Get("X-Signature-Timestamp"), body, s.now()); err != nil {
		return newError(http.StatusUnauthorized, discord.ErrBadSignature.Error())
	}
	in, err := discord.ParseInteraction(body)
	if err != nil {
		return errInvalidJSON
	}
	reply := func(text string) error { return writeRawJSON(c, http.StatusOK, discord.InteractionReply(text)) }
	switch {
	case in.Type == discord.InteractionPing:
		return writeRawJSON(c, http.StatusOK, []byte(discord.PongBody))
	case in.Type != discord.InteractionCommand:
		return reply(discord.Unsupported)
	case !ch.Enabled:
		s.metrics.dropped.WithLabelValues(ch.Type, "disabled").Inc()
		return reply(discord.Disabled)
	}
	m := discord.Message{ID: in.ID, ChannelID: in.ChannelID, GuildID: in.GuildID, Content: in.Content,
		AuthorID: in.UserID, AuthorName: in.Username}
	outcome, _, err := s.discordMessage(r.Context(), ch, meta, m, func(o *rawjson.Object) {
		if in.GuildID != "" {
			o.SetString("guildId", in.GuildID)
		}
		o.SetString("interactionId", in.ID)
		o.SetString("commandName", in.CommandName)
	})
	switch outcome {
	case discordStored:
		return reply(discord.Received)
	case discordPaired:
		return reply(discord.PairedText)
	case discordRefused:
		return reply(discord.RefusalText)
	case discordInboxFull:
		return reply(discord.InboxFull)
	}
	if err != nil {
		return err
	}
	return reply(discord.Received) // a duplicate: acknowledged as before
}

// discordText sends a best-effort notice into a Discord channel.
func (s *Server) discordText(channelID, discordChannel, text string) {
	if discordChannel == "" {
		return
	}
	s.background(func(ctx context.Context) {
		token, err := s.store.ChannelSecret(ctx, channelID, secretBotToken)
		if err != nil {
			return
		}
		if err := s.discord.SendText(ctx, string(token), discordChannel, text); err != nil {
			s.log.Debug("discord notice", "component", "discord", "err", err)
		}
	})
}

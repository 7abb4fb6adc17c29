package discord

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/channels"
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

var (
	_ channels.Platform = (*Adapter)(nil)
	_ channels.Typer    = (*Adapter)(nil)
	_ channels.Releaser = (*Adapter)(nil)
	_ channels.Runner   = (*Adapter)(nil)
	_ channels.Switcher = (*Adapter)(nil)
	_ channels.Sessions = (*Adapter)(nil)

	_ prometheus.Collector = (*Adapter)(nil)
)

// Type implements channels.Platform.
func (a *Adapter) Type() string { return storage.TypeDiscord }

// Traits implements channels.Platform.
func (a *Adapter) Traits() channels.Traits {
	return channels.Traits{Direction: storage.DirectionBidirectional, InboundSecret: true}
}

// Routes implements channels.Platform: bot registration and the channel's
// interactions endpoint (also the target of forwarded gateway payloads).
func (a *Adapter) Routes(h channels.Host) []channels.Route {
	return []channels.Route{
		channels.RegisterRoute(storage.TypeDiscord, h, a.register),
		channels.CallbackRoute(storage.TypeDiscord, "Channel is not a Discord channel", h, a.inbound),
	}
}

type registered struct {
	ChannelID       string `json:"channelId"`
	BotUsername     string `json:"botUsername"`
	PairingCode     string `json:"pairingCode"`
	InteractionsURL string `json:"interactionsUrl"`
}

// register handles POST /channels/discord/register (PROTOCOL §4.4).
func (a *Adapter) register(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	const prefix = "Discord registration failed: "
	token, agentID, err := channels.BotRegistration(r.Body, prefix)
	if err != nil {
		return channels.Answer{}, err
	}
	bot, err := a.Identify(ctx, token)
	if err != nil {
		return channels.Answer{}, channels.BadRequest(prefix + err.Error())
	}
	ch := storage.Channel{ID: storage.NewID(), UserID: r.User.ID, Type: storage.TypeDiscord,
		Direction: storage.DirectionBidirectional, AgentID: agentID, Enabled: true, CreatedAt: h.Now().UTC(),
		Platform: map[string]string{platformApplication: bot.ApplicationID, platformVerifyKey: bot.VerifyKey, platformBotUser: bot.UserID}}
	code := channels.PairingCode()
	meta := &rawjson.Object{}
	meta.SetString("botUsername", bot.Username)
	meta.SetString("webhookSecret", storage.NewID())
	meta.SetString("pairingCode", code)
	ch.Metadata, _ = meta.MarshalJSON()
	st := h.Store()
	if err := st.CreateChannel(ctx, &ch, map[string][]byte{channels.SecretBotToken: []byte(token)}); err != nil {
		a.log.Error("store discord channel", "err", err)
		return channels.Answer{}, channels.BadRequest(prefix + "Storage unavailable")
	}
	// The newest registration of a bot receives its events, as Telegram
	// moves a webhook: older channels of the same bot stop their sessions.
	a.reconcileSoon()
	return channels.JSON(http.StatusCreated, registered{ChannelID: ch.ID, BotUsername: bot.Username, PairingCode: code,
		InteractionsURL: h.PublicOrigin(r.HTTP) + "/discord/" + ch.ID})
}

// Run implements channels.Runner: it keeps a gateway session for the newest
// enabled channel of every bot, each on the one node of the relay that holds
// the bot's lease, and stops every session when ctx ends.
func (a *Adapter) Run(ctx context.Context, h channels.Host) error {
	if a.gateway {
		a.superviseGateways(ctx, h)
	} else {
		<-ctx.Done()
	}
	a.Close()
	return nil
}

// Switched implements channels.Switcher: a channel enabled or disabled
// starts or stops its session, in the background (enabling an enabled
// channel restarts a session that Discord closed for good).
func (a *Adapter) Switched(_ channels.Host, ch storage.Channel) {
	if !a.gateway {
		return
	}
	if state := a.GatewayState(ch.ID); ch.Enabled && (state == StateFailedAuth || state == StateFailedIntents) {
		a.camps.mu.Lock()
		a.camps.end(ch.Platform[platformBotUser], ch.ID) // the next campaign opens it anew
		a.camps.mu.Unlock()
	}
	a.reconcileSoon()
}

// PrepareRelease implements channels.Releaser: a deleted channel's session
// stops (without waiting for it to close).
func (a *Adapter) PrepareRelease(_ context.Context, _ storage.Store, ch storage.Channel) (func(context.Context), error) {
	return func(context.Context) {
		a.StopGateway(ch.ID)
		a.reconcileSoon()
	}, nil
}

// SessionState implements channels.Sessions.
func (a *Adapter) SessionState(channelID string) string { return a.GatewayState(channelID) }

// outcome is what happened to an inbound Discord message.
type outcome int

const (
	stored outcome = iota
	paired
	refused
	dropped
	inboxFull
)

// message runs pairing, the allowlist and the store for a message from the
// gateway, a forwarded payload or a slash command.
func (a *Adapter) message(ctx context.Context, h channels.Host, ch storage.Channel, meta *rawjson.Object, m Message, extra func(*rawjson.Object)) (outcome, storage.Message, error) {
	if m.Bot || m.Content == "" {
		reason := "no_content"
		if m.Bot {
			reason = "bot"
		}
		h.Dropped(ch.Type, reason)
		return dropped, storage.Message{}, nil
	}
	code, _ := meta.GetString("pairingCode")
	if IsPairing(m.Content, code, m.AuthorID) {
		ok, err := channels.Pair(ctx, h.Store(), ch.ID, code, m.AuthorID)
		if err != nil || !ok {
			return dropped, storage.Message{}, err
		}
		return paired, storage.Message{}, nil
	}
	if !Allowed(channels.AllowedUsers(ctx, h.Store(), ch, meta, m.AuthorID), m.AuthorID) {
		h.Dropped(ch.Type, "not_allowed")
		return refused, storage.Message{}, nil
	}
	in := channels.Inbound{Channel: ch, From: m.AuthorName, Content: m.Content, Meta: &rawjson.Object{}, ReplyTarget: m.ChannelID}
	channels.AddHints(in.Meta, ch, a.Traits())
	in.Meta.SetString("discordChannelId", m.ChannelID)
	in.Meta.SetString("senderId", m.AuthorID)
	if extra != nil {
		extra(in.Meta)
	} else {
		in.Meta.SetString("messageId", m.ID)
		if m.GuildID != "" {
			in.Meta.SetString("guildId", m.GuildID)
		}
		if m.Edited {
			in.Meta.SetBool("edited", true)
		}
		if m.ID != "" {
			in.DedupeKey = "message:" + m.ID
		}
	}
	msg, err := h.Ingest(ctx, in)
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		return dropped, msg, nil
	case errors.Is(err, storage.ErrInboxFull):
		return inboxFull, msg, err
	case err != nil:
		return dropped, msg, err
	}
	return stored, msg, nil
}

// gatewayMessageTimeout bounds the handling of one gateway message: it runs
// on the session's reader, which must not stall (Discord drops a session
// that misses heartbeats).
const gatewayMessageTimeout = 10 * time.Second

// gatewayHandler handles a MESSAGE_CREATE from a gateway session. Gateway
// events share the channel's webhook bucket; refused, limited and failed
// events are dropped and counted, with a best-effort notice.
func (a *Adapter) gatewayHandler(h channels.Host) Handler {
	return func(channelID string, m Message) {
		if !h.Allow(ratelimit.Webhook, channelID) {
			h.Dropped(storage.TypeDiscord, "rate_limited")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), gatewayMessageTimeout)
		defer cancel()
		ch, err := h.Store().Channel(ctx, channelID)
		if err != nil || ch.Type != storage.TypeDiscord {
			return // deleted meanwhile
		}
		meta, err := rawjson.ParseObject(ch.Metadata)
		if err != nil {
			return
		}
		if !ch.Enabled {
			h.Dropped(ch.Type, "disabled")
			return
		}
		out, _, err := a.message(ctx, h, ch, meta, m, nil)
		switch out {
		case paired:
			a.notice(h, ch.ID, m.ChannelID, PairedText)
		case refused:
			if m.DM || m.MentionsBot { // in guilds, only when spoken to
				a.notice(h, ch.ID, m.ChannelID, RefusalText)
			}
		case inboxFull:
			a.notice(h, ch.ID, m.ChannelID, InboxFull)
		default:
			if err != nil {
				a.log.Error("discord gateway message", "err", err)
			}
		}
	}
}

// inbound handles POST /discord/:channelId (PROTOCOL §4.4): a signed
// Interactions endpoint, or forwarded gateway payloads with ?secret=.
func (a *Adapter) inbound(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	ch, meta := r.Channel, r.Meta
	if sig := r.HTTP.Header.Get("X-Signature-Ed25519"); sig != "" {
		return a.interaction(ctx, h, r, sig)
	}
	secret, _ := meta.GetString("webhookSecret")
	if secret == "" || !channels.SecretEqual(r.HTTP.URL.Query().Get("secret"), secret) {
		return channels.Answer{}, channels.Errorf(http.StatusUnauthorized, "Invalid secret")
	}
	m, err := ParseForwarded(r.Body)
	if err != nil {
		return channels.Answer{}, channels.ErrInvalidJSON
	}
	if IsPing(r.Body) {
		return channels.RawJSON(http.StatusOK, []byte(PongBody)), nil
	}
	if !ch.Enabled {
		h.Dropped(ch.Type, "disabled")
		return channels.OK(), nil
	}
	out, msg, err := a.message(ctx, h, ch, meta, m, nil)
	switch out {
	case stored:
		return channels.Stored(msg.ID), nil
	case paired:
		a.notice(h, ch.ID, m.ChannelID, PairedText)
	case refused:
		a.notice(h, ch.ID, m.ChannelID, RefusalText)
	}
	if err != nil {
		return channels.Answer{}, err
	}
	return channels.OK(), nil
}

// interaction answers a signed interaction (PING, slash command).
func (a *Adapter) interaction(ctx context.Context, h channels.Host, r *channels.Request, sig string) (channels.Answer, error) {
	ch, meta := r.Channel, r.Meta
	if err := VerifyInteraction(ch.Platform[platformVerifyKey], sig, r.HTTP.Header.Get("X-Signature-Timestamp"), r.Body, h.Now()); err != nil {
		return channels.Answer{}, channels.Errorf(http.StatusUnauthorized, ErrBadSignature.Error())
	}
	in, err := ParseInteraction(r.Body)
	if err != nil {
		return channels.Answer{}, channels.ErrInvalidJSON
	}
	reply := func(text string) (channels.Answer, error) {
		return channels.RawJSON(http.StatusOK, InteractionReply(text)), nil
	}
	switch {
	case in.Type == InteractionPing:
		return channels.RawJSON(http.StatusOK, []byte(PongBody)), nil
	case in.Type != InteractionCommand:
		return reply(Unsupported)
	case !ch.Enabled:
		h.Dropped(ch.Type, "disabled")
		return reply(Disabled)
	}
	m := Message{ID: in.ID, ChannelID: in.ChannelID, GuildID: in.GuildID, Content: in.Content,
		AuthorID: in.UserID, AuthorName: in.Username}
	out, _, err := a.message(ctx, h, ch, meta, m, func(o *rawjson.Object) {
		if in.GuildID != "" {
			o.SetString("guildId", in.GuildID)
		}
		o.SetString("interactionId", in.ID)
		o.SetString("commandName", in.CommandName)
	})
	switch out {
	case stored:
		return reply(Received)
	case paired:
		return reply(PairedText)
	case refused:
		return reply(RefusalText)
	case inboxFull:
		return reply(InboxFull)
	}
	if err != nil {
		return channels.Answer{}, err
	}
	return reply(Received) // a duplicate: acknowledged as before
}

// notice sends a best-effort text into a Discord channel.
func (a *Adapter) notice(h channels.Host, channelID, discordChannel, text string) {
	if discordChannel == "" {
		return
	}
	h.Background(func(ctx context.Context) {
		token, err := h.Store().ChannelSecret(ctx, channelID, channels.SecretBotToken)
		if err != nil {
			return
		}
		if err := a.SendText(ctx, string(token), discordChannel, text); err != nil {
			a.log.Debug("discord notice", "err", err)
		}
	})
}

// Plan implements channels.Platform: a reply goes to the Discord channel the
// reply names (metadata discordChannelId) or the channel's last inbound one.
func (a *Adapter) Plan(v storage.ChannelView, reply *rawjson.Object) storage.Delivery {
	target := channels.FirstNonEmpty(channels.ScalarText(reply, "discordChannelId"), v.ReplyTarget)
	switch {
	case !v.HasSecret(channels.SecretBotToken):
		return storage.Delivery{Status: storage.StatusFailed, Target: target, LastError: "channel has no credentials"}
	case target == "":
		return storage.Delivery{Status: storage.StatusFailed, LastError: "no reply target"}
	}
	return storage.Delivery{Status: storage.StatusPending, Target: target}
}

// Typing implements channels.Typer: "typing…" in the channel's last
// Discord channel.
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

// sessionsDesc is the relay_discord_gateway_sessions gauge.
var sessionsDesc = prometheus.NewDesc("relay_discord_gateway_sessions", "Discord gateway sessions by state.", []string{"state"}, nil)

// Describe implements prometheus.Collector: the adapter reports its gateway
// sessions by state at scrape time.
func (a *Adapter) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

// Collect implements prometheus.Collector.
func (a *Adapter) Collect(ch chan<- prometheus.Metric) {
	for state, n := range a.GatewaySessions() {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n), state)
	}
}

// Badge implements channels.Describer: the bot, its pairing state and its
// gateway session.
func (a *Adapter) Badge(ch storage.Channel) (string, []string) {
	label, details := channels.BotDescription(ch)
	state := a.GatewayState(ch.ID)
	if state == "" {
		state = "disconnected"
	}
	return label, append(details, "gateway "+state)
}

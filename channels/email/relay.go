package email

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

const (
	secretVerification = "verificationToken"
	addressAttempts    = 5
)

var _ channels.Platform = (*Adapter)(nil)

// Type implements channels.Platform.
func (a *Adapter) Type() string { return storage.TypeEmail }

// Traits implements channels.Platform.
func (a *Adapter) Traits() channels.Traits {
	return channels.Traits{Direction: storage.DirectionBidirectional, HintName: true}
}

// Routes implements channels.Platform: registration, the verification link
// and Resend's inbound events.
func (a *Adapter) Routes(h channels.Host) []channels.Route {
	return []channels.Route{
		channels.RegisterRoute(storage.TypeEmail, h, a.register),
		{Method: http.MethodGet, Path: "/email/verify", Kind: channels.Public,
			Handle: func(ctx context.Context, r *channels.Request) (channels.Answer, error) { return a.verify(ctx, h, r) }},
		{Method: http.MethodPost, Path: "/email/inbound", Kind: channels.Public,
			Limit: ratelimit.EmailInbound, LimitText: "Too many requests. Try again later.",
			Handle: func(ctx context.Context, r *channels.Request) (channels.Answer, error) { return a.inbound(ctx, h, r) }},
	}
}

type registered struct {
	ChannelID      string `json:"channelId"`
	InboundAddress string `json:"inboundAddress"`
}

// register handles POST /channels/email/register (PROTOCOL §4.5): the
// verification mail is sent before anything is stored, so a failed send
// leaves no address mapping or channel behind.
func (a *Adapter) register(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	const prefix = "Email registration failed: "
	var f map[string]json.RawMessage
	if channels.DecodeObject(r.Body, &f) != nil {
		return channels.Answer{}, channels.BadRequest(prefix + "Invalid JSON body")
	}
	var userEmail, agentID string
	if json.Unmarshal(f["userEmail"], &userEmail) != nil || userEmail == "" {
		return channels.Answer{}, channels.BadRequest("Missing or invalid userEmail")
	}
	_ = json.Unmarshal(f["agentId"], &agentID)
	var channelName any
	_ = json.Unmarshal(f["channelName"], &channelName)
	name := ChannelName(channelName, userEmail)
	if a.domain == "" {
		return channels.Answer{}, channels.Errorf(http.StatusServiceUnavailable, ErrNoDomain.Error())
	}
	if !a.HasAPIKey() { // a configuration problem, like the domain
		return channels.Answer{}, channels.Errorf(http.StatusServiceUnavailable, prefix+ErrNoAPIKey.Error())
	}
	slug, err := Slug(name)
	if err != nil {
		return channels.Answer{}, channels.BadRequest(prefix + err.Error())
	}
	st := h.Store()
	address := ""
	for range addressAttempts {
		candidate := NewAddress(slug, a.domain)
		if _, err := st.ChannelByAddress(ctx, candidate); errors.Is(err, storage.ErrNotFound) {
			address = candidate
			break
		} else if err != nil {
			return channels.Answer{}, err
		}
	}
	if address == "" {
		return channels.Answer{}, channels.BadRequest(prefix + "Failed to generate unique email address after 5 attempts")
	}
	ch := storage.Channel{ID: storage.NewID(), UserID: r.User.ID, Type: storage.TypeEmail, Direction: storage.DirectionBidirectional,
		AgentID: agentID, Enabled: true, Address: address, CreatedAt: h.Now().UTC()}
	token := storage.NewID()
	verifyURL := h.PublicOrigin(r.HTTP) + "/email/verify?" + url.Values{"token": {token}, "channelId": {ch.ID}}.Encode()
	if err := a.SendVerification(ctx, userEmail, address, verifyURL); err != nil {
		return channels.Answer{}, channels.BadRequest(prefix + err.Error())
	}
	meta := &rawjson.Object{}
	meta.SetString("userEmail", userEmail)
	meta.SetString("inboundAddress", address)
	meta.SetBool("verified", false)
	meta.Set("allowedSenders", json.RawMessage("[]"))
	ch.Metadata, _ = meta.MarshalJSON()
	err = st.CreateChannel(ctx, &ch, map[string][]byte{secretVerification: []byte(token)})
	switch {
	case errors.Is(err, storage.ErrAddressTaken):
		return channels.Answer{}, channels.BadRequest(prefix + "Failed to generate unique email address after 5 attempts")
	case err != nil:
		a.log.Error("store email channel", "err", err)
		return channels.Answer{}, channels.BadRequest(prefix + "Storage unavailable")
	}
	return channels.JSON(http.StatusCreated, registered{ChannelID: ch.ID, InboundAddress: address})
}

// inbound handles POST /email/inbound (PROTOCOL §4.5): Svix-signed Resend
// events. Everything that should not be retried gets a 200.
func (a *Adapter) inbound(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	if !a.InboundConfigured() {
		return channels.Answer{}, channels.Errorf(http.StatusServiceUnavailable, ErrInboundNotConfigured.Error())
	}
	if err := a.VerifyWebhook(r.HTTP.Header, r.Body, h.Now()); err != nil {
		for _, known := range []error{ErrMissingHeaders, ErrStale, ErrBadSignature} {
			if errors.Is(err, known) {
				return channels.Answer{}, channels.Errorf(http.StatusUnauthorized, known.Error())
			}
		}
		return channels.Answer{}, channels.Errorf(http.StatusUnauthorized, ErrBadSignature.Error())
	}
	ev, err := ParseEvent(r.Body)
	if err != nil {
		return channels.Answer{}, channels.ErrInvalidJSON
	}
	if ev.Type != EventReceived {
		h.Dropped(storage.TypeEmail, "no_content")
		return channels.OK(), nil
	}
	received := ev.Data
	if a.HasAPIKey() && received.ID != "" {
		fetched, err := a.FetchReceived(ctx, received.ID)
		switch {
		case errors.Is(err, ErrTransient):
			return channels.Answer{}, channels.Errorf(http.StatusServiceUnavailable, "Temporarily unable to fetch email")
		case err == nil:
			received = MergeFetched(received, fetched)
		default:
			a.log.Debug("fetch received email", "err", err) // continue with the webhook's copy
		}
	}
	ch, to, err := recipientChannel(ctx, h.Store(), received.To)
	if err != nil {
		return channels.Answer{}, err
	}
	if ch.ID == "" {
		h.Dropped(storage.TypeEmail, "no_recipient")
		return channels.OK(), nil
	}
	meta, err := rawjson.ParseObject(ch.Metadata)
	if err != nil {
		return channels.Answer{}, err
	}
	if !ch.Enabled {
		h.Dropped(ch.Type, "disabled")
		return channels.OK(), nil
	}
	if v, _ := meta.Get("verified"); string(v) != "true" {
		h.Dropped(ch.Type, "unverified")
		return channels.OK(), nil
	}
	msg := Extract(received)
	if !SenderAllowed(channels.StringList(meta, "allowedSenders"), msg.From) {
		h.Dropped(ch.Type, "not_allowed")
		return channels.OK(), nil
	}
	in := channels.Inbound{Channel: ch, From: msg.From, Content: msg.Content, Meta: &rawjson.Object{},
		DedupeKey: "svix:" + r.HTTP.Header.Get("svix-id"), ReplyTarget: msg.From}
	if msg.From != "unknown" {
		in.AcceptSender = msg.From
	}
	channels.AddHints(in.Meta, ch, a.Traits())
	in.Meta.SetString("senderAddress", msg.From)
	in.Meta.SetString("subject", msg.Subject)
	in.Meta.SetString("toAddress", to)
	in.Meta.SetString("threadId", msg.Threading.ThreadID)
	in.Meta.SetBool("isReply", msg.Threading.IsReply)
	in.Meta.SetString("emailMessageId", msg.Threading.EmailMessageID)
	in.Meta.SetString("inReplyTo", msg.Threading.InReplyTo)
	in.Meta.SetString("references", msg.Threading.References)
	m, err := h.Ingest(ctx, in)
	if errors.Is(err, storage.ErrDuplicate) {
		return channels.OK(), nil
	}
	if err != nil {
		return channels.Answer{}, err
	}
	return channels.Stored(m.ID), nil
}

// recipientChannel finds the channel of the first recipient that has one
// (an index lookup per address; there is no scan of all sessions).
func recipientChannel(ctx context.Context, st storage.Store, to []string) (storage.Channel, string, error) {
	for _, addr := range Recipients(to) {
		ch, err := st.ChannelByAddress(ctx, addr)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		return ch, addr, err
	}
	return storage.Channel{}, "", nil
}

// verify handles GET /email/verify (PROTOCOL §4.5): a one-time link.
func (a *Adapter) verify(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	q := r.HTTP.URL.Query()
	token, id := q.Get("token"), q.Get("channelId")
	if token == "" || id == "" {
		return channels.Answer{Status: http.StatusBadRequest, Body: []byte("Missing token or channelId"),
			Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Cache-Control": {"no-store"}}}, nil
	}
	st := h.Store()
	ch, err := st.Channel(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return verifyPage(http.StatusNotFound, verifyView{Failure: "Verification failed: channel not found."})
	case err != nil:
		return channels.Answer{}, err
	case ch.Type != storage.TypeEmail:
		return verifyPage(http.StatusBadRequest, verifyView{Failure: "Verification failed: not an email channel."})
	}
	ch, err = st.ConsumeChannelSecret(ctx, id, secretVerification,
		func(stored []byte) bool { return channels.SecretEqual(string(stored), token) },
		func(ch *storage.Channel) error {
			meta, err := rawjson.ParseObject(ch.Metadata)
			if err != nil {
				return err
			}
			meta.SetBool("verified", true)
			owner, _ := meta.GetString("userEmail")
			senders := channels.StringList(meta, "allowedSenders")
			if owner != "" && !channels.ContainsFold(senders, owner) {
				senders = append(senders, owner)
			}
			list, _ := rawjson.Marshal(senders)
			meta.Set("allowedSenders", list)
			ch.Metadata, err = meta.MarshalJSON()
			return err
		})
	switch {
	case errors.Is(err, storage.ErrSecretMismatch):
		return verifyPage(http.StatusBadRequest, verifyView{Failure: "Verification failed: invalid or expired token."})
	case errors.Is(err, storage.ErrNotFound):
		return verifyPage(http.StatusNotFound, verifyView{Failure: "Verification failed: channel not found."})
	case err != nil:
		return channels.Answer{}, err
	}
	return verifyPage(http.StatusOK, verifyView{Address: ch.Address})
}

// Plan implements channels.Platform: a reply goes to the address the reply
// names (metadata senderAddress) or the channel's last sender, if the
// channel is verified and the address is one it accepted mail from or
// allows (PROTOCOL §7.5).
func (a *Adapter) Plan(v storage.ChannelView, reply *rawjson.Object) storage.Delivery {
	target := channels.FirstNonEmpty(channels.ScalarText(reply, "senderAddress"), v.ReplyTarget)
	chMeta, err := rawjson.ParseObject(v.Channel.Metadata)
	if err != nil {
		chMeta = &rawjson.Object{}
	}
	verified, _ := chMeta.Get("verified")
	fail := func(reason string) storage.Delivery {
		return storage.Delivery{Status: storage.StatusFailed, Target: target, LastError: reason}
	}
	switch {
	case target == "":
		return fail("no reply target")
	case string(verified) != "true":
		return fail("channel not verified")
	case !a.HasAPIKey() || a.domain == "":
		return fail("email not configured")
	case !v.Accepted(strings.ToLower(target)) && !channels.ContainsFold(channels.StringList(chMeta, "allowedSenders"), target):
		return fail("recipient not allowed")
	}
	return storage.Delivery{Status: storage.StatusPending, Target: target}
}

// Badge implements channels.Describer: the inbound address, whether the
// owner verified it, and whose mail it takes.
func (a *Adapter) Badge(ch storage.Channel) (string, []string) {
	meta, err := rawjson.ParseObject(ch.Metadata)
	if err != nil {
		return ch.Address, nil
	}
	label, _ := meta.GetString("inboundAddress")
	details := []string{"unverified"}
	if v, _ := meta.Get("verified"); string(v) == "true" {
		details[0] = "verified"
	}
	if n := len(channels.StringList(meta, "allowedSenders")); n > 0 {
		details = append(details, channels.Plural(n, "sender"))
	} else {
		details = append(details, "all senders")
	}
	return label, details
}

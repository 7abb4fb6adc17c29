package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

const (
	secretVerification = "verificationToken"
	addressAttempts    = 5
)

type emailRegistered struct {
	ChannelID      string `json:"channelId"`
	InboundAddress string `json:"inboundAddress"`
}

// registerEmail handles POST /channels/email/register (PROTOCOL §4.5): the
// verification mail is sent before anything is stored, so a failed send
// leaves no address mapping or channel behind.
func (s *Server) registerEmail(c *echo.Context) error {
	const prefix = "Email registration failed: "
	user := userOf(c)
	if err := s.limit(c, ratelimit.Channels, user.ID, msgChannelLimited); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var f map[string]json.RawMessage
	if decodeObject(body, &f) != nil {
		return badRequest(prefix + msgInvalidJSON)
	}
	var userEmail, agentID string
	if json.Unmarshal(f["userEmail"], &userEmail) != nil || userEmail == "" {
		return badRequest("Missing or invalid userEmail")
	}
	_ = json.Unmarshal(f["agentId"], &agentID)
	var channelName any
	_ = json.Unmarshal(f["channelName"], &channelName)
	name := email.ChannelName(channelName, userEmail)
	if s.email.Domain() == "" {
		return newError(http.StatusServiceUnavailable, email.ErrNoDomain.Error())
	}
	if !s.email.HasAPIKey() { // the issue asks for 503, as for the domain: a configuration problem
		return newError(http.StatusServiceUnavailable, prefix+email.ErrNoAPIKey.Error())
	}
	slug, err := email.Slug(name)
	if err != nil {
		return badRequest(prefix + err.Error())
	}
	ctx := c.Request().Context()
	address := ""
	for range addressAttempts {
		candidate := email.NewAddress(slug, s.email.Domain())
		if _, err := s.store.ChannelByAddress(ctx, candidate); errors.Is(err, storage.ErrNotFound) {
			address = candidate
			break
		} else if err != nil {
			return err
		}
	}
	if address == "" {
		return badRequest(prefix + "Failed to generate unique email address after 5 attempts")
	}
	ch := storage.Channel{ID: storage.NewID(), UserID: user.ID, Type: storage.TypeEmail, Direction: storage.DirectionBidirectional,
		AgentID: agentID, Enabled: true, Address: address, CreatedAt: s.now().UTC()}
	token := storage.NewID()
	verifyURL := s.publicOrigin(c.Request()) + "/email/verify?" + url.Values{"token": {token}, "channelId": {ch.ID}}.Encode()
	if err := s.email.SendVerification(ctx, userEmail, address, verifyURL); err != nil {
		return badRequest(prefix + err.Error())
	}
	meta := &rawjson.Object{}
	meta.SetString("userEmail", userEmail)
	meta.SetString("inboundAddress", address)
	meta.SetBool("verified", false)
	meta.Set("allowedSenders", json.RawMessage("[]"))
	ch.Metadata, _ = meta.MarshalJSON()
	err = s.store.CreateChannel(ctx, &ch, map[string][]byte{secretVerification: []byte(token)})
	switch {
	case errors.Is(err, storage.ErrAddressTaken):
		return badRequest(prefix + "Failed to generate unique email address after 5 attempts")
	case err != nil:
		s.log.Error("store email channel", "component", "email", "err", err)
		return badRequest(prefix + "Storage unavailable")
	}
	return writeJSON(c, http.StatusCreated, emailRegistered{ChannelID: ch.ID, InboundAddress: address})
}

// emailInbound handles POST /email/inbound (PROTOCOL §4.5): Svix-signed
// Resend events. Everything that should not be retried gets a 200.
func (s *Server) emailInbound(c *echo.Context) error {
	if err := s.limit(c, ratelimit.EmailInbound, "", "Too many requests. Try again later."); err != nil {
		s.metrics.dropped.WithLabelValues(storage.TypeEmail, "rate_limited").Inc()
		return err
	}
	if !s.email.InboundConfigured() {
		return newError(http.StatusServiceUnavailable, email.ErrInboundNotConfigured.Error())
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	r := c.Request()
	if err := s.email.VerifyWebhook(r.Header, body, s.now()); err != nil {
		for _, known := range []error{email.ErrMissingHeaders, email.ErrStale, email.ErrBadSignature} {
			if errors.Is(err, known) {
				return newError(http.StatusUnauthorized, known.Error())
			}
		}
		return newError(http.StatusUnauthorized, email.ErrBadSignature.Error())
	}
	ev, err := email.ParseEvent(body)
	if err != nil {
		return errInvalidJSON
	}
	if ev.Type != email.EventReceived {
		return s.dropped(c, storage.TypeEmail, "no_content")
	}
	ctx := r.Context()
	received := ev.Data
	if s.email.HasAPIKey() && received.ID != "" {
		fetched, err := s.email.FetchReceived(ctx, received.ID)
		switch {
		case errors.Is(err, email.ErrTransient):
			return newError(http.StatusServiceUnavailable, "Temporarily unable to fetch email")
		case err == nil:
			received = email.MergeFetched(received, fetched)
		default:
			s.log.Debug("fetch received email", "component", "email", "err", err) // continue with the webhook's copy
		}
	}
	ch, to, err := s.recipientChannel(ctx, received.To)
	if err != nil {
		return err
	}
	if ch.ID == "" {
		return s.dropped(c, storage.TypeEmail, "no_recipient")
	}
	meta, err := rawjson.ParseObject(ch.Metadata)
	if err != nil {
		return err
	}
	if !ch.Enabled {
		return s.dropped(c, ch.Type, "disabled")
	}
	if v, _ := meta.Get("verified"); string(v) != "true" {
		return s.dropped(c, ch.Type, "unverified")
	}
	msg := email.Extract(received)
	if !email.SenderAllowed(stringList(meta, "allowedSenders"), msg.From) {
		return s.dropped(c, ch.Type, "not_allowed")
	}
	in := inbound{channel: ch, from: msg.From, content: msg.Content, meta: &rawjson.Object{},
		dedupeKey: "svix:" + r.Header.Get("svix-id"), replyTarget: msg.From}
	if msg.From != "unknown" {
		in.acceptSender = msg.From
	}
	addHints(in.meta, ch)
	in.meta.SetString("senderAddress", msg.From)
	in.meta.SetString("subject", msg.Subject)
	in.meta.SetString("toAddress", to)
	in.meta.SetString("threadId", msg.Threading.ThreadID)
	in.meta.SetBool("isReply", msg.Threading.IsReply)
	in.meta.SetString("emailMessageId", msg.Threading.EmailMessageID)
	in.meta.SetString("inReplyTo", msg.Threading.InReplyTo)
	in.meta.SetString("references", msg.Threading.References)
	m, err := s.ingest(ctx, in)
	if errors.Is(err, storage.ErrDuplicate) {
		return writeJSON(c, http.StatusOK, okBody{OK: true})
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, stored{OK: true, MessageID: m.ID})
}

// recipientChannel finds the channel of the first recipient that has one
// (an index lookup per address; there is no scan of all sessions).
func (s *Server) recipientChannel(ctx context.Context, to []string) (storage.Channel, string, error) {
	for _, addr := range email.Recipients(to) {
		ch, err := s.store.ChannelByAddress(ctx, addr)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		return ch, addr, err
	}
	return storage.Channel{}, "", nil
}

// verifyEmail handles GET /email/verify (PROTOCOL §4.5): a one-time link.
func (s *Server) verifyEmail(c *echo.Context) error {
	q := c.Request().URL.Query()
	token, id := q.Get("token"), q.Get("channelId")
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	if token == "" || id == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		return c.String(http.StatusBadRequest, "Missing token or channelId")
	}
	ctx := c.Request().Context()
	ch, err := s.store.Channel(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return s.verifyPage(c, http.StatusNotFound, verifyView{Failure: "Verification failed: channel not found."})
	case err != nil:
		return err
	case ch.Type != storage.TypeEmail:
		return s.verifyPage(c, http.StatusBadRequest, verifyView{Failure: "Verification failed: not an email channel."})
	}
	ch, err = s.store.ConsumeChannelSecret(ctx, id, secretVerification,
		func(stored []byte) bool { return secretEqual(string(stored), token) },
		func(ch *storage.Channel) error {
			meta, err := rawjson.ParseObject(ch.Metadata)
			if err != nil {
				return err
			}
			meta.SetBool("verified", true)
			owner, _ := meta.GetString("userEmail")
			senders := stringList(meta, "allowedSenders")
			if owner != "" && !containsFold(senders, owner) {
				senders = append(senders, owner)
			}
			list, _ := rawjson.Marshal(senders)
			meta.Set("allowedSenders", list)
			ch.Metadata, err = meta.MarshalJSON()
			return err
		})
	switch {
	case errors.Is(err, storage.ErrSecretMismatch):
		return s.verifyPage(c, http.StatusBadRequest, verifyView{Failure: "Verification failed: invalid or expired token."})
	case errors.Is(err, storage.ErrNotFound):
		return s.verifyPage(c, http.StatusNotFound, verifyView{Failure: "Verification failed: channel not found."})
	case err != nil:
		return err
	}
	return s.verifyPage(c, http.StatusOK, verifyView{Address: ch.Address})
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

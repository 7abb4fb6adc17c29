package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/sanitize"
	"github.com/chaos-relay/relay/storage"
)

const msgReplyLimited = "Too many reply requests. Try again later."

type replyAccepted struct {
	OK         bool   `json:"ok"`
	ResponseID string `json:"responseId"`
}

// reply handles POST /reply (PROTOCOL §7.2).
func (s *Server) reply(c *echo.Context) error {
	user := userOf(c)
	if err := s.limit(c, ratelimit.Reply, user.ID, msgReplyLimited); err != nil {
		return err
	}
	f, err := s.readObject(c)
	if err != nil {
		return err
	}
	r, err := s.acceptReply(c.Request().Context(), user, f, "http")
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, replyAccepted{OK: true, ResponseID: r.ID})
}

// acceptReply runs steps 3–8 of the reply pipeline on a decoded body (HTTP or
// WebSocket frame): it validates, then commits the response and its delivery
// record in one durable transaction.
func (s *Server) acceptReply(ctx context.Context, user storage.User, f map[string]json.RawMessage, transport string) (storage.Response, error) {
	var channelID string
	if json.Unmarshal(f["channelId"], &channelID) != nil || channelID == "" || channels.IsFalsy(f["content"]) {
		return storage.Response{}, badRequest("Missing channelId or content")
	}
	var raw string
	if json.Unmarshal(f["content"], &raw) != nil {
		return storage.Response{}, badRequest(sanitize.ErrReplyMissing.Error())
	}
	content, err := sanitize.Reply(raw)
	if err != nil {
		return storage.Response{}, badRequest(err.Error())
	}
	meta := &rawjson.Object{}
	if m := bytes.TrimSpace(f["metadata"]); len(m) > 0 && string(m) != "null" {
		if meta, err = rawjson.ParseObject(m); err != nil {
			return storage.Response{}, badRequest("Invalid metadata")
		}
	}
	var replyTo string
	if json.Unmarshal(f["replyTo"], &replyTo) == nil && replyTo != "" {
		meta.SetString("replyTo", replyTo)
	}
	metaJSON, _ := meta.MarshalJSON()
	r := storage.Response{UserID: user.ID, ChannelID: channelID, From: "agent", Content: content, Metadata: metaJSON}
	d, err := s.store.AppendResponse(ctx, &r, func(v storage.ChannelView) (storage.Delivery, error) {
		if !v.Channel.Enabled {
			return storage.Delivery{}, newError(http.StatusForbidden, "Channel is disabled")
		}
		return s.planDelivery(v, meta), nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return r, errNoChannel
	}
	if err != nil {
		return r, err
	}
	s.metrics.replies.WithLabelValues(r.ChannelType, transport).Inc()
	s.ops.minutes.Reply()
	s.outbox.Accepted(d)
	return r, nil
}

// planDelivery decides a new response's delivery record (PROTOCOL §7.5)
// by its platform's rules: the target is resolved now, so later inbound
// traffic cannot redirect a queued reply; a missing prerequisite fails the
// delivery at once. A type without a platform only stores its replies.
func (s *Server) planDelivery(v storage.ChannelView, meta *rawjson.Object) storage.Delivery {
	if pl := s.platforms.of(v.Channel.Type); pl != nil {
		return pl.Plan(v, meta)
	}
	return storage.Delivery{Status: storage.StatusStored}
}

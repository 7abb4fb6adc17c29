package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/sanitize"
	"github.com/chaos-relay/relay/storage"
)

// Limits of PROTOCOL §1.8 and §3.4.
const (
	maxNameUnits      = 256
	maxPromptUnits    = 16_384
	maxAgentIDUnits   = 256
	maxMetadataBytes  = 16_384
	maxWebhookSecret  = 256
	msgChannelLimited = "Too many channel registration requests. Try again later."

	// minChannelRetention is the shortest retention a channel may set: the
	// sweep runs every few minutes, so less would promise what it cannot keep.
	minChannelRetention = time.Minute
)

var channelIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// reservedKeys are managed by the relay; only the register endpoints set them.
var reservedKeys = []string{"botToken", "botTokenPlain", "verificationToken", "userEmail", "inboundAddress", "fromAddress", "verified"}

// channelJSON is a channel as clients see it (PROTOCOL §3.1), in member order.
type channelJSON struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Direction string          `json:"direction"`
	AgentID   string          `json:"agentId"`
	Enabled   bool            `json:"enabled"`
	Metadata  json.RawMessage `json:"metadata"`
	Name      string          `json:"name,omitempty"`
	Prompt    string          `json:"prompt,omitempty"`
	// Retention is an addition: present only when the channel has its own.
	Retention string `json:"retention,omitempty"`
}

func toChannelJSON(c storage.Channel) channelJSON {
	meta := c.Metadata
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	out := channelJSON{ID: c.ID, Type: c.Type, Direction: c.Direction, AgentID: c.AgentID, Enabled: c.Enabled,
		Metadata: meta, Name: c.Name, Prompt: c.Prompt}
	if c.Retention > 0 {
		out.Retention = FormatDuration(c.Retention)
	}
	return out
}

// listChannels handles GET /channels.
func (s *Server) listChannels(c *echo.Context) error {
	list, err := s.store.Channels(c.Request().Context(), userOf(c).ID)
	if err != nil {
		return err
	}
	out := struct {
		Channels []channelJSON `json:"channels"`
	}{Channels: make([]channelJSON, 0, len(list))}
	for _, ch := range list {
		out.Channels = append(out.Channels, toChannelJSON(ch))
	}
	return writeJSON(c, http.StatusOK, out)
}

type createChannelResponse struct {
	Channel    channelJSON `json:"channel"`
	WebhookURL string      `json:"webhookUrl,omitempty"`
}

// createChannel handles POST /channels (PROTOCOL §3.4).
func (s *Server) createChannel(c *echo.Context) error {
	user := userOf(c)
	if err := s.limit(c, ratelimit.Channels, user.ID, msgChannelLimited); err != nil {
		return err
	}
	f, err := s.readObject(c)
	if err != nil {
		return err
	}
	ch := storage.Channel{UserID: user.ID, Type: storage.TypeWebhook, Enabled: true, CreatedAt: s.now().UTC()}
	if v, set := optionalString(f["type"]); set {
		if v == nil || s.platforms.of(*v) == nil {
			return badRequest("Invalid channel type")
		}
		ch.Type = *v
	}
	pl := s.platforms.of(ch.Type)
	if pl == nil {
		return badRequest("Invalid channel type") // a relay without webhooks
	}
	traits := pl.Traits()
	ch.Direction = traits.Direction
	if v, set := optionalString(f["direction"]); set {
		if v == nil || (*v != storage.DirectionInbound && *v != storage.DirectionBidirectional) {
			return badRequest("Invalid direction")
		}
		ch.Direction = *v
	}
	ch.ID = storage.NewID()
	if v, set := optionalString(f["id"]); set {
		if v == nil || !channelIDPattern.MatchString(*v) {
			return badRequest("Invalid channel id")
		}
		ch.ID = *v
	}
	if ch.Name, err = textField(f["name"], maxNameUnits, "Invalid name"); err != nil {
		return err
	}
	if ch.Prompt, err = textField(f["prompt"], maxPromptUnits, "Invalid prompt"); err != nil {
		return err
	}
	if v, set := optionalString(f["agentId"]); set {
		if v == nil || sanitize.UTF16Len(*v) > maxAgentIDUnits {
			return badRequest("Invalid agentId")
		}
		ch.AgentID = *v
	}
	ch.Enabled = string(bytes.TrimSpace(f["enabled"])) != "false"
	if ch.Retention, err = s.retention(f["retention"]); err != nil {
		return err
	}
	meta, err := newChannelMetadata(f["metadata"], traits.InboundSecret)
	if err != nil {
		return err
	}
	ch.Metadata, _ = meta.MarshalJSON()
	if err := s.store.CreateChannel(c.Request().Context(), &ch, nil); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return newError(http.StatusConflict, "Channel id already exists")
		}
		return err
	}
	out := createChannelResponse{Channel: toChannelJSON(ch)}
	if l, ok := pl.(channels.Linker); ok {
		out.WebhookURL = l.WebhookURL(s.publicOrigin(c.Request()), ch)
	}
	return writeJSON(c, http.StatusCreated, out)
}

// newChannelMetadata validates a create request's metadata (PROTOCOL §3.4);
// a channel whose inbound routes need a secret gets a webhookSecret unless
// one is given.
func newChannelMetadata(raw json.RawMessage, inboundSecret bool) (*rawjson.Object, error) {
	errInvalid := badRequest("Invalid metadata")
	meta := &rawjson.Object{}
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && string(raw) != "null" {
		var err error
		if meta, err = rawjson.ParseObject(raw); err != nil {
			return nil, errInvalid
		}
		if b, _ := meta.MarshalJSON(); len(b) > maxMetadataBytes {
			return nil, badRequest("Metadata too large")
		}
	}
	for _, k := range reservedKeys {
		if meta.Has(k) {
			return nil, badRequest("Reserved metadata key: " + k)
		}
	}
	for _, k := range []string{"allowedUsers", "allowedSenders"} {
		v, ok := meta.Get(k)
		if !ok {
			continue
		}
		list, err := normaliseList(v, "Invalid "+k)
		if errors.Is(err, errNotArray) {
			return nil, errInvalid
		}
		if err != nil {
			return nil, err
		}
		meta.Set(k, list)
	}
	secret := ""
	if v, ok := meta.Get("webhookSecret"); ok && !isEmptyValue(v) {
		s, isString := meta.GetString("webhookSecret")
		if !isString || sanitize.UTF16Len(s) > maxWebhookSecret {
			return nil, errInvalid
		}
		secret = s
	}
	if secret == "" && inboundSecret {
		meta.SetString("webhookSecret", storage.NewID())
	}
	return meta, nil
}

// updateChannel handles PATCH /channels/:channelId (PROTOCOL §3.5).
func (s *Server) updateChannel(c *echo.Context) error {
	user, id := userOf(c), c.Param("channelId")
	if _, err := s.ownedChannel(c, id); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	patch, err := parseChannelPatch(body)
	if err != nil {
		return err
	}
	if patch.retention != nil {
		if *patch.retention, err = s.retention(patch.rawRetention); err != nil {
			return err
		}
	}
	ch, err := s.store.UpdateChannel(c.Request().Context(), id, func(ch *storage.Channel) error {
		if ch.UserID != user.ID {
			return storage.ErrNotFound
		}
		return patch.apply(ch)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return errNoChannel
	}
	if err != nil {
		return err
	}
	if sw, ok := s.platforms.of(ch.Type).(channels.Switcher); ok && patch.enabled != nil {
		sw.Switched(host{s}, ch)
	}
	return writeJSON(c, http.StatusOK, struct {
		OK      bool        `json:"ok"`
		Channel channelJSON `json:"channel"`
	}{true, toChannelJSON(ch)})
}

// channelPatch is a validated PATCH body; nil fields are left alone.
type channelPatch struct {
	name, prompt, agentID *string
	enabled               *bool
	retention             *time.Duration // set (0 for the relay's) when the body has the member
	rawRetention          json.RawMessage
	lists                 map[string]json.RawMessage // allowedUsers / allowedSenders, normalised
}

func parseChannelPatch(body []byte) (channelPatch, error) {
	var p channelPatch
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	var f map[string]json.RawMessage
	if err := decodeObject(body, &f); err != nil {
		return p, err
	}
	// json.Unmarshal accepts null into a string or bool; null is neither, so
	// it leaves the field alone like any other value of the wrong type.
	if s, ok := jsonString(f["name"]); ok {
		if sanitize.UTF16Len(s) > maxNameUnits {
			return p, badRequest("Invalid name")
		}
		p.name = &s
	}
	if pr, ok := jsonString(f["prompt"]); ok {
		if sanitize.UTF16Len(pr) > maxPromptUnits {
			return p, badRequest("Invalid prompt")
		}
		p.prompt = &pr
	}
	if raw, ok := f["agentId"]; ok {
		var a *string
		if json.Unmarshal(raw, &a) == nil {
			if a == nil {
				a = new(string)
			}
			if sanitize.UTF16Len(*a) > maxAgentIDUnits {
				return p, badRequest("Invalid agentId")
			}
			p.agentID = a
		}
	}
	if raw, ok := f["retention"]; ok {
		p.retention, p.rawRetention = new(time.Duration), raw
	}
	switch string(bytes.TrimSpace(f["enabled"])) {
	case "true":
		p.enabled = new(true)
	case "false":
		p.enabled = new(false)
	}
	var meta map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(f["metadata"]), []byte("{")) && json.Unmarshal(f["metadata"], &meta) == nil {
		for _, k := range []string{"allowedUsers", "allowedSenders"} {
			raw, ok := meta[k]
			if !ok {
				continue
			}
			list, err := normaliseList(raw, "Invalid "+k)
			if errors.Is(err, errNotArray) {
				continue // not an array: ignored
			}
			if err != nil {
				return p, err
			}
			if p.lists == nil {
				p.lists = map[string]json.RawMessage{}
			}
			p.lists[k] = list
		}
	}
	return p, nil
}

func (p channelPatch) apply(ch *storage.Channel) error {
	if p.name != nil {
		ch.Name = *p.name
	}
	if p.prompt != nil {
		ch.Prompt = *p.prompt
	}
	if p.agentID != nil {
		ch.AgentID = *p.agentID
	}
	if p.enabled != nil {
		ch.Enabled = *p.enabled
	}
	if p.retention != nil {
		ch.Retention = *p.retention
	}
	if len(p.lists) == 0 {
		return nil
	}
	meta, err := rawjson.ParseObject(ch.Metadata)
	if err != nil {
		return err
	}
	for _, k := range []string{"allowedUsers", "allowedSenders"} {
		if v, ok := p.lists[k]; ok {
			meta.Set(k, v)
		}
	}
	ch.Metadata, err = meta.MarshalJSON()
	return err
}

// deleteChannel handles DELETE /channels/:channelId (PROTOCOL §3.6).
func (s *Server) deleteChannel(c *echo.Context) error {
	ctx := c.Request().Context()
	ch, err := s.ownedChannel(c, c.Param("channelId"))
	if err != nil {
		return err
	}
	release, err := s.prepareRelease(ctx, []storage.Channel{ch}) // before its secrets are gone
	if err != nil {
		return err
	}
	err = s.store.DeleteChannel(ctx, userOf(c).ID, ch.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return errNoChannel
	}
	if err != nil {
		return err
	}
	s.kickPurge()
	s.forgetChannels(ch)
	release()
	return writeJSON(c, http.StatusOK, okBody{OK: true})
}

// prepareRelease prepares the release of what channels hold on their
// platforms (channels.Releaser) before their deletion commits, and returns
// the release to call after it: it runs in the background.
func (s *Server) prepareRelease(ctx context.Context, chans []storage.Channel) (func(), error) {
	var releases []func(context.Context)
	for _, ch := range chans {
		r, ok := s.platforms.of(ch.Type).(channels.Releaser)
		if !ok {
			continue
		}
		release, err := r.PrepareRelease(ctx, s.store, ch)
		if err != nil {
			return nil, fmt.Errorf("server: prepare the release of channel %s: %w", ch.ID, err)
		}
		releases = append(releases, release)
	}
	return func() {
		for _, release := range releases {
			s.background(releaseTimeout, release)
		}
	}, nil
}

type okBody struct {
	OK bool `json:"ok"`
}

// ownedChannel returns the caller's channel id, or errNoChannel.
func (s *Server) ownedChannel(c *echo.Context, id string) (storage.Channel, error) {
	ch, err := s.store.Channel(c.Request().Context(), id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && ch.UserID != userOf(c).ID {
		return storage.Channel{}, errNoChannel
	}
	return ch, err
}

// optionalString reads an optional string member. Absent, null and "" count
// as not set; a set value that is not a string gives (nil, true).
func optionalString(raw json.RawMessage) (*string, bool) {
	if isEmptyValue(raw) {
		return nil, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, true
	}
	return &s, true
}

// jsonString decodes raw when it is a JSON string (not null or another type).
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// isEmptyValue reports an absent, null or "" member.
func isEmptyValue(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", `""`:
		return true
	}
	return false
}

// textField reads name or prompt: a non-string is ignored, "" means unset,
// and a string over max UTF-16 units is refused with msg.
func textField(raw json.RawMessage, max int, msg string) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", nil
	}
	if sanitize.UTF16Len(s) > max {
		return "", badRequest(msg)
	}
	return s, nil
}

var errNotArray = errors.New("not an array")

// normaliseList turns a JSON array into an array of unique strings (PROTOCOL
// §3.5): strings kept, numbers as their JSON text, booleans as "true"/"false";
// null, objects and arrays are refused with msg.
func normaliseList(raw json.RawMessage, msg string) (json.RawMessage, error) {
	var items []json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) || json.Unmarshal(raw, &items) != nil {
		return nil, errNotArray
	}
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, it := range items {
		v, ok := listElement(bytes.TrimSpace(it))
		if !ok {
			return nil, badRequest(msg)
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return rawjson.Marshal(out)
}

func listElement(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		return s, json.Unmarshal(raw, &s) == nil
	case 't', 'f':
		return string(raw), true
	case 'n', '{', '[':
		return "", false
	}
	return channels.NumberText(string(raw)), true
}

// errRetention is the 400 of a retention that is not a Go duration between a
// minute and RELAY_MAX_RETENTION.
var errRetention = badRequest("Invalid retention")

// retention reads a channel's retention member (an addition to PROTOCOL
// §3.4, §3.5): a Go duration such as "72h" within bounds; absent or null is
// the relay's retention (0).
func (s *Server) retention(raw json.RawMessage) (time.Duration, error) {
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	v, ok := jsonString(raw)
	if !ok {
		return 0, errRetention
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minChannelRetention || d > s.cfg.MaxRetention {
		return 0, errRetention
	}
	return d, nil
}

// FormatDuration is time.Duration.String without the zero tails: 24h, not
// 24h0m0s (the relay's durations as people write them).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

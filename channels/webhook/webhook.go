// Package webhook is the relay's generic webhook channel (PROTOCOL §4.2): any
// system that can POST to a URL sends messages to a session through it, and
// reads the session's replies from the public responses route.
package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/sanitize"
	"github.com/chaos-relay/relay/storage"
)

// maxFromUnits bounds X-Webhook-Source, the sender name a caller may give.
const maxFromUnits = 256

// Platform is the webhook channel type.
type Platform struct{}

var (
	_ channels.Platform = Platform{}
	_ channels.Linker   = Platform{}
)

// Type implements channels.Platform.
func (Platform) Type() string { return storage.TypeWebhook }

// Traits implements channels.Platform: webhooks are inbound unless created
// bidirectional, always authenticated, and their replies are public.
func (Platform) Traits() channels.Traits {
	return channels.Traits{Direction: storage.DirectionInbound, InboundSecret: true, HintName: true, HintPrompt: true,
		PublicResponses: true}
}

// Plan implements channels.Platform: replies are stored for GET /responses.
func (Platform) Plan(storage.ChannelView, *rawjson.Object) storage.Delivery {
	return storage.Delivery{Status: storage.StatusStored}
}

// WebhookURL implements channels.Linker: the URL to post to, token included.
func (Platform) WebhookURL(origin string, ch storage.Channel) string {
	meta, err := rawjson.ParseObject(ch.Metadata)
	if err != nil {
		return ""
	}
	secret, _ := meta.GetString("webhookSecret")
	return origin + "/webhook/" + ch.ID + "?token=" + url.QueryEscape(secret)
}

// Routes implements channels.Platform.
func (p Platform) Routes(h channels.Host) []channels.Route {
	return []channels.Route{channels.CallbackRoute(storage.TypeWebhook, "Channel is not a webhook", h, p.inbound)}
}

// inbound handles POST /webhook/:channelId (PROTOCOL §4.2).
func (p Platform) inbound(ctx context.Context, h channels.Host, r *channels.Request) (channels.Answer, error) {
	ch, req := r.Channel, r.HTTP
	secret, _ := r.Meta.GetString("webhookSecret")
	if tok := token(req); secret == "" || !channels.SecretEqual(tok, secret) {
		return channels.Answer{}, channels.Errorf(http.StatusUnauthorized, "Invalid token")
	}
	if !ch.Enabled {
		h.Dropped(ch.Type, "disabled")
		return channels.Answer{}, channels.Errorf(http.StatusForbidden, "Channel is disabled")
	}
	in := channels.Inbound{Channel: ch, From: "webhook", Meta: &rawjson.Object{}}
	ct := strings.ToLower(req.Header.Get("Content-Type"))
	switch {
	case strings.Contains(ct, "application/json"):
		compact, err := rawjson.Compact(r.Body)
		if err != nil {
			return channels.Answer{}, channels.ErrInvalidJSON
		}
		in.Content = string(compact)
		if compact[0] == '"' {
			var s string
			_ = json.Unmarshal(compact, &s) // compact came out of rawjson.Compact: valid
			in.Content = s
		}
		in.Meta.Set("raw", compact)
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		form := rawjson.Form(string(r.Body))
		b, _ := form.MarshalJSON()
		in.Content = string(b)
		in.Meta.Set("form", b)
	default:
		in.Content = string(r.Body)
		in.Meta.SetString("raw", string(r.Body))
	}
	channels.AddHints(in.Meta, ch, p.Traits())
	if src := req.Header.Get("X-Webhook-Source"); src != "" {
		in.From = sanitize.TruncateUTF16(sanitize.Inbound(src), maxFromUnits)
	}
	m, err := h.Ingest(ctx, in)
	if err != nil {
		return channels.Answer{}, err
	}
	return channels.Stored(m.ID), nil
}

// token is the first non-empty of ?token=, X-Webhook-Token and a Bearer
// credential.
func token(r *http.Request) string {
	if t := queryValue(r.URL.RawQuery, "token"); t != "" {
		return t
	}
	if t := r.Header.Get("X-Webhook-Token"); t != "" {
		return t
	}
	t, _ := channels.BearerToken(r.Header.Get("Authorization"))
	return t
}

// queryValue is url.ParseQuery(rawQuery).Get(key) without building the map
// of every parameter: one lookup on every webhook.
func queryValue(rawQuery, key string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if strings.Contains(pair, ";") { // rejected by url.ParseQuery
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(k); err != nil || k != key {
			continue
		}
		if v, err := url.QueryUnescape(v); err == nil {
			return v
		}
	}
	return ""
}

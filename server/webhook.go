package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/sanitize"
	"github.com/chaos-relay/relay/storage"
)

const maxFromUnits = 256

// webhook handles POST /webhook/:channelId (PROTOCOL §4.2).
func (s *Server) webhook(c *echo.Context) error {
	ch, meta, body, err := s.inboundRequest(c, storage.TypeWebhook, "Channel is not a webhook")
	if err != nil {
		return err
	}
	r := c.Request()
	secret, _ := meta.GetString("webhookSecret")
	if tok := webhookToken(r); secret == "" || !secretEqual(tok, secret) {
		return newError(http.StatusUnauthorized, "Invalid token")
	}
	if !ch.Enabled {
		s.metrics.dropped.WithLabelValues(ch.Type, "disabled").Inc()
		return newError(http.StatusForbidden, "Channel is disabled")
	}
	in := inbound{channel: ch, from: "webhook", meta: &rawjson.Object{}}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case strings.Contains(ct, "application/json"):
		compact, err := rawjson.Compact(body)
		if err != nil {
			return errInvalidJSON
		}
		in.content = string(compact)
		if compact[0] == '"' {
			in.content = decodeJSONString(compact)
		}
		in.meta.Set("raw", compact)
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		form := rawjson.Form(string(body))
		b, _ := form.MarshalJSON()
		in.content = string(b)
		in.meta.Set("form", b)
	default:
		in.content = string(body)
		in.meta.SetString("raw", string(body))
	}
	addHints(in.meta, ch)
	if src := r.Header.Get("X-Webhook-Source"); src != "" {
		in.from = sanitize.TruncateUTF16(sanitize.Inbound(src), maxFromUnits)
	}
	m, err := s.ingest(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, stored{OK: true, MessageID: m.ID})
}

type stored struct {
	OK        bool   `json:"ok"`
	MessageID string `json:"messageId,omitempty"`
}

// webhookToken is the first non-empty of ?token=, X-Webhook-Token and a
// Bearer credential.
func webhookToken(r *http.Request) string {
	if t := queryValue(r.URL.RawQuery, "token"); t != "" {
		return t
	}
	if t := r.Header.Get("X-Webhook-Token"); t != "" {
		return t
	}
	t, _ := bearerToken(r.Header.Get("Authorization"))
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

// decodeJSONString decodes a compact JSON string literal.
func decodeJSONString(lit []byte) string {
	var s string
	_ = json.Unmarshal(lit, &s) // lit came out of rawjson.Compact: valid
	return s
}

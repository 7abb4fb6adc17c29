package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// repliesScanned bounds the read for a message's replies: the responses of
// its channel after it, up to this many.
const repliesScanned = 1000

// providerIDs are the metadata members that carry a message's id at its
// platform, by channel type, in the order looked for.
var providerIDs = map[string][]string{
	storage.TypeTelegram: {"updateId"},
	storage.TypeDiscord:  {"messageId", "interactionId"},
	storage.TypeEmail:    {"emailMessageId"},
}

// timelineJSON is GET /admin/messages/:id: the message (content cut to a
// preview like everywhere in the admin, §11.6), its ingest, its deliveries
// to sockets and polls, and the replies that answered it with their
// delivery attempts. Members without a value are absent.
type timelineJSON struct {
	ID          string            `json:"id"`
	UserID      string            `json:"userId"`
	ChannelType string            `json:"channelType"`
	ChannelID   string            `json:"channelId"`
	From        string            `json:"from"`
	Content     string            `json:"content"`
	Timestamp   string            `json:"timestamp"`
	Size        int               `json:"size"` // content and metadata bytes
	ProviderID  *providerIDJSON   `json:"providerId,omitempty"`
	Ingest      *ingestJSON       `json:"ingest,omitempty"`
	Writes      []socketWriteJSON `json:"writes"`
	Fetches     []fetchJSON       `json:"fetches"`
	Replies     []replyJSON       `json:"replies"`
}

// providerIDJSON is the message's id at its platform: the metadata member
// and its value (numbers in their decimal form).
type providerIDJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type ingestJSON struct {
	Received  string  `json:"received"`
	Stored    string  `json:"stored"`
	LatencyMs float64 `json:"latencyMs"`
}

type socketWriteJSON struct {
	At         string        `json:"at"`
	Connection writeConnJSON `json:"connection"`
}

// writeConnJSON is the socket a message was written to, as it opened
// (/admin/connections has its state now).
type writeConnJSON struct {
	ID          uint64 `json:"id"`
	Node        string `json:"node"`
	RemoteAddr  string `json:"remoteAddr"`
	UserAgent   string `json:"userAgent"`
	ConnectedAt string `json:"connectedAt"`
}

type fetchJSON struct {
	At         string `json:"at"`
	Node       string `json:"node"`
	RemoteAddr string `json:"remoteAddr"`
	UserAgent  string `json:"userAgent"`
}

type replyJSON struct {
	ID        string        `json:"id"`
	From      string        `json:"from"`
	Content   string        `json:"content"`
	Timestamp string        `json:"timestamp"`
	Delivery  *deliveryJSON `json:"delivery,omitempty"`
}

type attemptJSON struct {
	At            string `json:"at"`
	Number        int    `json:"number"`
	Result        string `json:"result"`
	Error         string `json:"error,omitempty"`
	NextAttemptAt string `json:"nextAttemptAt,omitempty"`
}

// messageTimeline is GET /admin/messages/:id, this relay's addition to
// PROTOCOL §9. Unknown → 404 {"error":"Message not found"}.
func (h *Handler) messageTimeline(c *echo.Context) error {
	ctx := c.Request().Context()
	m, err := h.store.Message(ctx, c.Param("id"))
	if errors.Is(err, storage.ErrNotFound) {
		return httpError(http.StatusNotFound, msgMessageNotFound)
	}
	if err != nil {
		return err
	}
	out := timelineJSON{ID: m.ID, UserID: m.UserID, ChannelType: m.ChannelType, ChannelID: m.ChannelID, From: m.From,
		Content: preview(m.Content), Timestamp: formatTime(m.Timestamp), Size: len(m.Content) + len(m.Metadata),
		ProviderID: providerID(m), Writes: []socketWriteJSON{}, Fetches: []fetchJSON{}, Replies: []replyJSON{}}
	tr := h.relay.Trace(m)
	if !tr.Stored.IsZero() {
		out.Ingest = &ingestJSON{Received: formatTime(tr.Received), Stored: formatTime(tr.Stored),
			LatencyMs: float64(tr.Stored.Sub(tr.Received).Microseconds()) / 1000}
	}
	for _, w := range tr.Writes {
		out.Writes = append(out.Writes, socketWriteJSON{At: formatTime(w.At), Connection: writeConnJSON{ID: w.Conn.ID,
			Node: w.Conn.Node, RemoteAddr: w.Conn.RemoteAddr, UserAgent: w.Conn.UserAgent, ConnectedAt: formatTime(w.Conn.ConnectedAt)}})
	}
	for _, f := range tr.Fetches {
		out.Fetches = append(out.Fetches, fetchJSON{At: formatTime(f.At), Node: f.Node, RemoteAddr: f.RemoteAddr, UserAgent: f.UserAgent})
	}
	if out.Replies, err = h.replies(c, m); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

// replies returns the responses of m's channel whose replyTo is m's id,
// among the first repliesScanned after m, with their delivery records.
func (h *Handler) replies(c *echo.Context, m storage.Message) ([]replyJSON, error) {
	ctx := c.Request().Context()
	list, _, err := h.store.ResponsesAfter(ctx, m.ChannelID, m.Timestamp.Add(-time.Millisecond), repliesScanned)
	if errors.Is(err, storage.ErrNotFound) { // the channel is gone, and its responses with it
		return []replyJSON{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []replyJSON{}
	for _, r := range list {
		var meta struct {
			ReplyTo string `json:"replyTo"`
		}
		if json.Unmarshal(r.Metadata, &meta) != nil || meta.ReplyTo != m.ID {
			continue
		}
		e := replyJSON{ID: r.ID, From: r.From, Content: preview(r.Content), Timestamp: formatTime(r.Timestamp)}
		d, err := h.store.Delivery(ctx, r.ID)
		switch {
		case err == nil:
			de := deliveryEntry(d)
			de.History = attemptEntries(d.History)
			e.Delivery = &de
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func attemptEntries(list []storage.Attempt) []attemptJSON {
	out := make([]attemptJSON, 0, len(list))
	for _, a := range list {
		out = append(out, attemptJSON{At: formatTime(a.At), Number: a.Number, Result: a.Result, Error: a.Error,
			NextAttemptAt: formatTime(a.NextAttemptAt)})
	}
	return out
}

// providerID finds the message's id at its platform in its metadata.
func providerID(m storage.Message) *providerIDJSON {
	var meta map[string]json.RawMessage
	if json.Unmarshal(m.Metadata, &meta) != nil {
		return nil
	}
	for _, name := range providerIDs[m.ChannelType] {
		raw, ok := meta[name]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return &providerIDJSON{Name: name, Value: s}
		}
		var n json.Number // only a JSON number, in its literal digits
		if raw[0] != '"' && json.Unmarshal(raw, &n) == nil && n != "" {
			return &providerIDJSON{Name: name, Value: n.String()}
		}
	}
	return nil
}

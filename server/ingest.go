package server

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/sanitize"
	"github.com/chaos-relay/relay/storage"
)

// Budget of a stored message (PROTOCOL §4.1 step 7).
const (
	messageBudget   = 65_536
	rawOmitAbove    = 32_768
	budgetReserve   = 2_048
	truncatedMarker = "\n\n[Message truncated: too large to deliver in full.]"
)

// ingest runs steps 6–9 of the inbound pipeline (PROTOCOL §4.1): sanitise,
// fit to the 64 KiB budget, enforce the backlog cap and store durably. It
// returns only after the message is on disk. Refusals are
// storage.ErrInboxFull (answered 429 by handleError) and
// storage.ErrDuplicate.
func (s *Server) ingest(ctx context.Context, in channels.Inbound) (storage.Message, error) {
	start := s.now()
	m := storage.Message{
		UserID:      in.Channel.UserID,
		ChannelType: in.Channel.Type,
		ChannelID:   in.Channel.ID,
		From:        sanitize.Inbound(in.From),
		Content:     sanitize.Inbound(in.Content),
	}
	m.Metadata = fitMessage(&m, in.Meta)
	err := s.store.AppendMessage(ctx, &m, storage.AppendOptions{
		MaxBacklog:   s.cfg.MaxBacklogPerUser,
		DedupeKey:    in.DedupeKey,
		ReplyTarget:  in.ReplyTarget,
		AcceptSender: in.AcceptSender,
		Retention:    in.Channel.Retention,
	})
	switch {
	case errors.Is(err, storage.ErrInboxFull):
		s.metrics.dropped.WithLabelValues(m.ChannelType, "inbox_full").Inc()
		return m, err
	case errors.Is(err, storage.ErrDuplicate):
		s.metrics.dropped.WithLabelValues(m.ChannelType, "duplicate").Inc()
		return m, err
	case err != nil:
		return m, err
	}
	s.metrics.inbound.WithLabelValues(m.ChannelType).Inc()
	s.ingested(m, start)
	return m, nil // the store's change feed wakes the owner's sockets (Server.Notify)
}

// fitMessage keeps a message within its store budget: it drops metadata.raw
// (or .form) when the message without its content is over 32 KiB, then cuts
// the content to what remains, with a marker. It returns the final metadata.
func fitMessage(m *storage.Message, meta *rawjson.Object) []byte {
	b, _ := meta.MarshalJSON()
	if emptyMessageSize(m, b) > rawOmitAbove {
		for _, k := range []string{"raw", "form"} {
			if meta.Has(k) {
				meta.Delete(k)
				meta.SetBool("rawOmitted", true)
				b, _ = meta.MarshalJSON()
				break
			}
		}
	}
	if budget := messageBudget - emptyMessageSize(m, b) - budgetReserve; len(m.Content) > budget {
		original := len(m.Content)
		keep := max(0, budget-len(truncatedMarker))
		m.Content = sanitize.TruncateUTF8(m.Content, keep) + truncatedMarker
		meta.SetBool("truncated", true)
		meta.Set("originalContentBytes", []byte(strconv.Itoa(original)))
		b, _ = meta.MarshalJSON()
	}
	return b
}

// emptyMessageSize is the length of the message's compact JSON (§5.1) with
// an empty content, computed without encoding it: every member but the
// strings and the metadata has a fixed length.
func emptyMessageSize(m *storage.Message, meta []byte) int {
	const skeleton = len(`{"id":"","userId":"","channelType":"","channelId":"","from":"","content":"","timestamp":"","metadata":}`)
	n := skeleton + len(placeholderID) + len(placeholderTime) + len(meta)
	var buf [128]byte // most fields are short: measured without an allocation
	for _, s := range []string{m.UserID, m.ChannelType, m.ChannelID, m.From} {
		n += len(rawjson.AppendString(buf[:0], s)) - 2 // without the quotes, counted in the skeleton
		// encoding/json, which writes the wire form, also escapes U+2028/U+2029.
		n += 3 * (strings.Count(s, "\u2028") + strings.Count(s, "\u2029"))
	}
	return n
}

// Placeholders with the length of a real id and timestamp, for measuring.
const (
	placeholderID   = "00000000-0000-7000-8000-000000000000"
	placeholderTime = "2026-01-01T00:00:00.000Z"
)

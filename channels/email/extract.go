package email

import "strings"

// Message is what an inbound email becomes (PROTOCOL §4.5 processing steps 3-5), before the
// server sanitises it, builds the metadata and stores it.
type Message struct {
	From      string // the sender's bare address, or "unknown"
	Subject   string // the subject, or "(no subject)"
	Content   string // "Subject: <subject>\n\n<body>"
	Threading Threading
}

// Threading is the email's threading metadata (PROTOCOL §4.5 step 5); absent headers are "".
type Threading struct {
	EmailMessageID string // Message-ID
	InReplyTo      string // In-Reply-To
	References     string // References
	ThreadID       string // InReplyTo, else EmailMessageID
	IsReply        bool   // InReplyTo != ""
}

// BareAddress is the address in s: the text inside <…> if present, else s trimmed; lower-cased.
// Like the original's /<([^>]+)>/, the first "<" followed by at least one character and a ">"
// counts.
func BareAddress(s string) string {
	for rest := s; ; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		if j := strings.IndexByte(rest, '>'); j > 0 {
			return strings.ToLower(strings.TrimSpace(rest[:j]))
		} else if j < 0 {
			break
		}
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// Recipients returns the bare addresses of to, in order, skipping empty ones (PROTOCOL §4.5
// step 2). The server looks them up in the address index; the first match wins.
func Recipients(to []string) []string {
	out := make([]string, 0, len(to))
	for _, t := range to {
		if a := BareAddress(t); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// SenderAllowed applies a channel's allowedSenders (PROTOCOL §4.5 step 3): an empty list allows
// everyone, otherwise some entry must equal sender case-insensitively.
func SenderAllowed(allowedSenders []string, sender string) bool {
	if len(allowedSenders) == 0 {
		return true
	}
	for _, a := range allowedSenders {
		if strings.EqualFold(a, sender) {
			return true
		}
	}
	return false
}

// Extract builds the message of PROTOCOL §4.5 steps 3-5 from a received email: the sender's bare
// address or "unknown"; the subject or "(no subject)"; the body is the text, else the HTML with
// every <[^>]*> removed and trimmed (entities are not decoded), else the subject; threading from
// the headers, whose names match case-insensitively (the first non-empty value wins).
func Extract(r Received) Message {
	m := Message{From: BareAddress(r.From), Subject: r.Subject}
	if m.From == "" {
		m.From = "unknown"
	}
	if m.Subject == "" {
		m.Subject = "(no subject)"
	}
	body := r.Text
	if body == "" {
		body = strings.TrimSpace(stripTags(r.HTML))
	}
	if body == "" {
		body = m.Subject
	}
	m.Content = "Subject: " + m.Subject + "\n\n" + body

	t := &m.Threading
	t.EmailMessageID = header(r.Headers, "Message-ID")
	t.InReplyTo = header(r.Headers, "In-Reply-To")
	t.References = header(r.Headers, "References")
	t.ThreadID = t.InReplyTo
	if t.ThreadID == "" {
		t.ThreadID = t.EmailMessageID
	}
	t.IsReply = t.InReplyTo != ""
	return m
}

// header returns the first non-empty value of the header name (case-insensitive), trimmed.
func header(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(strings.TrimSpace(h.Name), name) {
			if v := strings.TrimSpace(h.Value); v != "" {
				return v
			}
		}
	}
	return ""
}

// stripTags removes every match of <[^>]*> from s, as the original's regular expression did: a
// "<" without a later ">" is kept. It does not decode entities.
func stripTags(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

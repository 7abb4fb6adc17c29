package admin

import (
	"strconv"

	"github.com/labstack/echo/v5"
)

// deadLettersPerPage is how many failed deliveries the dashboard lists
// before "Load more".
const deadLettersPerPage = 20

// opsView adds the operator views to the dashboard: the charts and the first
// page of dead letters.
func (h *Handler) opsView(c *echo.Context, v *dashboardView) error {
	v.Charts = buildCharts(h.relay.Traffic())
	list, cursor, err := h.findDeadLetters(c, deadLetterFilter{}, "", deadLettersPerPage)
	if err != nil {
		return err
	}
	for _, d := range list {
		v.DeadLetters = append(v.DeadLetters, deliveryEntry(d))
	}
	v.DeadMore = cursor != ""
	return nil
}

// connLine is a line of a session card about one of its sockets or its
// polling: the state ("open", "closed" or "polls"), the text, and the client's
// User-Agent as its title. The dashboard script's connectionLine and
// pollerLine make the same lines: keep them in step.
type connLine struct {
	State string
	Text  string
	Title string
}

// connLines are the lines of a session's sockets and polling.
func (h *Handler) connLines(userID string) []connLine {
	var out []connLine
	for _, cn := range h.relay.Connections(userID) {
		out = append(out, connectionLine(connectionEntry(cn)))
	}
	for _, p := range h.relay.Pollers(userID) {
		out = append(out, pollerLine(pollerEntry(p)))
	}
	return out
}

// connectionLine describes a socket: "#7 · 127.0.0.1 · since … · cursor … ·
// lag 0" while open, "#7 · 127.0.0.1 · closed … · 1001 Server shutting down ·
// by relay" once closed.
func connectionLine(c connectionJSON) connLine {
	text := "#" + strconv.FormatUint(c.ID, 10) + " · "
	if c.Node != "" {
		text += "node " + c.Node + " · "
	}
	text += c.RemoteAddr
	if c.State == "closed" {
		text += " · closed " + displayTime(c.ClosedAt) + " · " + strconv.Itoa(c.CloseCode)
		switch {
		case c.CloseReason != "":
			text += " " + c.CloseReason
		case c.CloseCode == 1006:
			text += " dropped"
		}
		if c.ClosedBy != "" {
			text += " · by " + c.ClosedBy
		}
		return connLine{State: c.State, Text: text, Title: c.UserAgent}
	}
	text += " · since " + displayTime(c.ConnectedAt) + " · cursor " + displayTime(c.Cursor)
	if c.Replaying {
		text += " · replaying"
	} else {
		text += " · lag " + strconv.FormatInt(c.Lag, 10)
	}
	return connLine{State: c.State, Text: text, Title: c.UserAgent}
}

// pollerLine describes a session's polling: "127.0.0.1 · last poll … ·
// cursor … · 12 polls".
func pollerLine(p pollerJSON) connLine {
	text := ""
	if p.Node != "" {
		text = "node " + p.Node + " · "
	}
	text += p.RemoteAddr + " · last poll " + displayTime(p.LastPoll) + " · cursor " + displayTime(p.Cursor) + " · " + plural(p.Polls, "poll")
	return connLine{State: "polls", Text: text, Title: p.UserAgent}
}

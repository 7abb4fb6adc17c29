package discord

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// Gateway session states, as GatewayState reports them.
const (
	StateConnecting        = "connecting"
	StateConnected         = "connected"
	StateReconnecting      = "reconnecting"
	StateFailedAuth        = "failed: authentication"     // closed with 4004
	StateFailedIntents     = "failed: disallowed intents" // closed with 4014
	StateStopped           = "stopped"
	closeAuthFailed        = 4004
	closeDisallowedIntents = 4014
)

// StateOff is every channel's gateway state when the adapter runs without gateway sessions
// (Config.Gateway false, RELAY_DISCORD_GATEWAY=off): none is ever started, and the admin can tell
// a relay without a gateway apart from a session that is down.
const StateOff = "off"

// errStopping aborts a dial that completes after StopGateway.
var errStopping = errors.New("discord: gateway session stopping")

// Handler receives the gateway's MESSAGE_CREATE events of non-bot authors with content, for the
// relay channel channelID. It is called on the session's reading goroutine, one event at a time:
// it must not block long, or the session stops reading (and Discord drops it for missed
// heartbeats).
type Handler func(channelID string, m Message)

// gwSession is the gateway session of one relay channel: a discordgo Session (which owns a reader
// and a heartbeat goroutine while connected) and one supervisor goroutine of ours that opens it,
// re-opens it after a disconnect with exponential back-off, and closes it on stop.
type gwSession struct {
	channelID string
	token     string // for scrubbing error texts
	s         *discordgo.Session

	stop chan struct{} // closed by StopGateway/Close
	done chan struct{} // closed when the supervisor has returned (the session is closed)
	disc chan struct{} // cap 1: discordgo reported a disconnect

	mu       sync.Mutex
	state    string
	opening  bool     // the supervisor is inside Open
	conn     net.Conn // the raw connection of the latest dial
	stopping bool
}

func (g *gwSession) setState(s string) {
	g.mu.Lock()
	g.state = s
	g.mu.Unlock()
}

func (g *gwSession) getState() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

// dial is the session's websocket NetDialContext: it records the raw connection so that a stop can
// interrupt an Open blocked on a silent gateway (discordgo reads HELLO and READY without deadline).
func (g *gwSession) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		c.Close()
		return nil, errStopping
	}
	g.conn = c
	return c, nil
}

// requestStop signals the supervisor and aborts an Open in progress. It is idempotent.
func (g *gwSession) requestStop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return
	}
	g.stopping = true
	close(g.stop)
	if g.opening && g.conn != nil {
		g.conn.Close()
	}
}

func (g *gwSession) setOpening(v bool) {
	g.mu.Lock()
	g.opening = v
	g.mu.Unlock()
}

// StartGateway starts the gateway session of the relay channel channelID with token, replacing
// (and first closing) a running session of the same channel. h receives the channel's messages;
// botUserID sets Message.MentionsBot. It returns at once; the session connects in the background
// and reconnects until StopGateway, Close, or a 4004/4014 close. It is a no-op when
// Config.Gateway is false or after Close.
func (a *Adapter) StartGateway(channelID, token, botUserID string, h Handler) {
	if !a.gateway {
		return
	}
	a.endpointsChecked.Do(func() {
		if first := setEndpoints(a.apiURL + "/"); first != a.apiURL+"/" {
			a.log.Warn("discordgo's endpoints are process-wide and already point elsewhere; gateway lookups use them",
				"endpoints", first)
		}
	})
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		return // discordgo.New never fails
	}
	g := &gwSession{
		channelID: channelID,
		token:     token,
		s:         s,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		disc:      make(chan struct{}, 1),
		state:     StateConnecting,
	}
	s.StateEnabled = false
	s.ShouldReconnectOnError = false // we re-open ourselves, honouring 4004/4014 and Stop
	s.ShouldRetryOnRateLimit = false
	s.SyncEvents = true // handlers run on the reader goroutine: no goroutine per event
	s.LogLevel = -1     // discordgo logs through the standard logger; we log ourselves
	s.Identify.Intents = Intents
	s.Client = a.client
	s.Dialer = &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: a.timeout,
		NetDialContext:   g.dial,
	}
	s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		select {
		case g.disc <- struct{}{}:
		default:
		}
	})
	s.AddHandler(func(_ *discordgo.Session, e *discordgo.MessageCreate) {
		if e.Message == nil || e.Author == nil || e.Author.Bot || e.Content == "" {
			return
		}
		defer func() {
			if r := recover(); r != nil {
				a.log.Error("gateway handler panicked", "channel", channelID, "panic", r)
			}
		}()
		h(channelID, fromGateway(e.Message, botUserID))
	})

	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	old := a.sessions[channelID]
	a.sessions[channelID] = g
	if old != nil {
		old.requestStop()
	}
	a.wg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.wg.Done()
		a.supervise(g)
	}()
}

// StopGateway stops the session of channelID, if any, without waiting for it to close: a request
// that disables or deletes a channel is answered once its change is committed. The closing session
// stays owned by the adapter (Close waits for it) and its close is bounded (discordgo's close
// handshake waits at most a second). GatewayState reports "" at once.
func (a *Adapter) StopGateway(channelID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.sessions[channelID]; g != nil {
		delete(a.sessions, channelID)
		g.requestStop()
	}
}

// GatewayState returns the state of channelID's session: "connecting", "connected",
// "reconnecting", "failed: authentication" (closed with 4004), "failed: disallowed intents"
// (closed with 4014), "stopped" (closing), or "" when there is none. Without gateway sessions
// (Config.Gateway false) it is "off" for every channel.
func (a *Adapter) GatewayState(channelID string) string {
	if !a.gateway {
		return StateOff
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.sessions[channelID]; g != nil {
		return g.getState()
	}
	return ""
}

// GatewaySessions counts the sessions by state (the relay_discord_gateway_sessions gauge).
func (a *Adapter) GatewaySessions() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	counts := make(map[string]int)
	for _, g := range a.sessions {
		counts[g.getState()]++
	}
	return counts
}

// Close stops every gateway session, concurrently (discordgo's Close waits a second for the
// close handshake), and waits for them and for those still closing. Later StartGateway calls are
// no-ops.
func (a *Adapter) Close() {
	a.mu.Lock()
	a.closed = true
	for _, g := range a.sessions {
		g.requestStop()
	}
	a.sessions = make(map[string]*gwSession)
	a.mu.Unlock()
	a.wg.Wait()
}

// supervise owns g's connection: it opens the session, re-opens it after each disconnect (at
// once the first time, then with exponential back-off and jitter while attempts fail), gives up on
// 4004 and 4014, and closes the session when stopped.
func (a *Adapter) supervise(g *gwSession) {
	defer close(g.done)
	log := a.log.With("channel", g.channelID)
	failures := 0
	for {
		g.setOpening(true)
		err := g.s.Open()
		g.setOpening(false)
		if stopped(g.stop) {
			break
		}
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			if failures > 0 || g.getState() != StateConnecting {
				log.Info("gateway connected")
			}
			failures = 0
			g.setState(StateConnected)
			select {
			case <-g.stop:
			case <-g.disc:
				g.setState(StateReconnecting)
				log.Info("gateway disconnected, reconnecting")
				continue
			}
			break
		}
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok && (ce.Code == closeAuthFailed || ce.Code == closeDisallowedIntents) {
			state := StateFailedAuth
			if ce.Code == closeDisallowedIntents {
				state = StateFailedIntents
			}
			g.setState(state)
			log.Warn("gateway closed by Discord, not retrying", "code", ce.Code, "state", state)
			return
		}
		failures++
		wait := a.backoff(failures)
		if g.getState() == StateConnected {
			g.setState(StateReconnecting)
		}
		log.Warn("gateway connect failed", "err", cleanText(err.Error(), g.token), "attempt", failures, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-g.stop:
			t.Stop()
		case <-t.C:
			continue
		}
		break
	}
	g.setState(StateStopped)
	_ = g.s.Close()
}

// backoff is the wait after the n-th failed attempt in a row: minBackoff × 2^(n−1), capped at
// maxBackoff, times a random factor in [0.5, 1.0].
func (a *Adapter) backoff(n int) time.Duration {
	d := a.minBackoff
	for i := 1; i < n && d < a.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, a.maxBackoff)
	return time.Duration(float64(d) * (0.5 + rand.Float64()/2))
}

func stopped(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// fromGateway converts a gateway message; it carries the same fields as a forwarded payload.
func fromGateway(m *discordgo.Message, botUserID string) Message {
	out := Message{
		ID:         m.ID,
		ChannelID:  m.ChannelID,
		GuildID:    m.GuildID,
		Content:    m.Content,
		AuthorName: "unknown",
		Edited:     m.EditedTimestamp != nil,
		DM:         m.GuildID == "",
	}
	if m.Author != nil {
		out.AuthorID = m.Author.ID
		out.Bot = m.Author.Bot
		if m.Author.Username != "" {
			out.AuthorName = m.Author.Username
		}
	}
	for _, u := range m.Mentions {
		if u != nil && botUserID != "" && u.ID == botUserID {
			out.MentionsBot = true
		}
	}
	return out
}

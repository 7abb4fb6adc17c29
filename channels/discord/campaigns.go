package discord

import (
	"context"
	"sync"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/storage"
)

// reconcileEvery is how often a node compares the gateway sessions it wants
// with the store. Changes made on this node reconcile at once (kick); the
// period is how soon a node of a relay of several learns of channels that
// another node registered, switched or deleted.
const reconcileEvery = 10 * time.Second

// leasePrefix names a bot's lease: one node of a relay holds it and runs the
// bot's gateway session (Discord delivers a bot's events to every session
// it has open, so two would store every message twice).
const leasePrefix = "discord."

// LeaseName is the lease under which a bot's gateway session runs.
func LeaseName(botUserID string) string { return leasePrefix + botUserID }

// campaigns are the gateway sessions this node wants: one per bot, for the
// bot's newest channel when it is enabled and holds a token, each run while
// this node holds the bot's lease.
type campaigns struct {
	kick chan struct{} // reconcile now

	mu    sync.Mutex
	byBot map[string]*campaign       // running
	last  map[string]<-chan struct{} // by bot: closed when its latest campaign has ended
	wg    sync.WaitGroup
}

// campaign runs a channel's session under its bot's lease until cancelled.
type campaign struct {
	channelID string
	cancel    context.CancelFunc
}

func newCampaigns() *campaigns {
	return &campaigns{kick: make(chan struct{}, 1), byBot: map[string]*campaign{}, last: map[string]<-chan struct{}{}}
}

// end stops a bot's campaign, if it runs for channelID ("": any); the
// lock is held.
func (c *campaigns) end(bot, channelID string) {
	if cp := c.byBot[bot]; cp != nil && (channelID == "" || cp.channelID == channelID) {
		cp.cancel()
		delete(c.byBot, bot)
	}
}

// reconcileSoon asks the supervisor to compare sessions with the store now.
func (a *Adapter) reconcileSoon() {
	select {
	case a.camps.kick <- struct{}{}:
	default:
	}
}

// superviseGateways keeps one campaign per bot that should have a session,
// until ctx ends; it then stops them (releasing their leases) and waits.
func (a *Adapter) superviseGateways(ctx context.Context, h channels.Host) {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		a.reconcile(ctx, h)
		select {
		case <-ctx.Done():
			a.camps.mu.Lock()
			for bot := range a.camps.byBot {
				a.camps.end(bot, "")
			}
			a.camps.mu.Unlock()
			a.camps.wg.Wait()
			return
		case <-t.C:
		case <-a.camps.kick:
		}
	}
}

// reconcile starts a campaign for every bot whose newest channel should
// have a session and stops the campaigns of channels that no longer should
// (disabled, deleted, or replaced by a newer registration of their bot).
func (a *Adapter) reconcile(ctx context.Context, h channels.Host) {
	st := h.Store()
	chans, err := st.ChannelsOfType(ctx, storage.TypeDiscord)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("list discord channels", "err", err)
		}
		return
	}
	newest := newestByBot(chans)
	a.camps.mu.Lock()
	defer a.camps.mu.Unlock()
	for bot, c := range a.camps.byBot {
		if ch, ok := newest[bot]; !ok || !ch.Enabled || ch.ID != c.channelID {
			a.camps.end(bot, "")
		}
	}
	for bot, ch := range newest {
		if _, running := a.camps.byBot[bot]; running || !ch.Enabled {
			continue
		}
		token, err := st.ChannelSecret(ctx, ch.ID, channels.SecretBotToken)
		if err != nil {
			continue // created by POST /channels: forwarded payloads only
		}
		cctx, cancel := context.WithCancel(ctx)
		a.camps.byBot[bot] = &campaign{channelID: ch.ID, cancel: cancel}
		prev, done := a.camps.last[bot], make(chan struct{})
		a.camps.last[bot] = done
		a.camps.wg.Go(func() {
			defer close(done)
			if prev != nil {
				<-prev // its session of the same channel stops first
			}
			h.Lease(LeaseName(bot)).Run(cctx, func(held context.Context) {
				a.StartGateway(ch.ID, string(token), bot, a.gatewayHandler(h))
				<-held.Done()
				a.StopGateway(ch.ID)
			})
		})
	}
}

// newestByBot maps each bot user to its newest channel among chans: the
// one channel of the bot that has a session.
func newestByBot(chans []storage.Channel) map[string]storage.Channel {
	newest := map[string]storage.Channel{}
	for _, ch := range chans {
		bot := ch.Platform[platformBotUser]
		if old, ok := newest[bot]; bot != "" && (!ok || ch.Seq > old.Seq) {
			newest[bot] = ch
		}
	}
	return newest
}

// SessionLeases implements channels.Sessions: a bot's lease names its
// newest channel, the one whose session runs under it.
func (a *Adapter) SessionLeases(chans []storage.Channel) map[string]string {
	out := map[string]string{}
	for bot, ch := range newestByBot(chans) {
		out[LeaseName(bot)] = ch.ID
	}
	return out
}

package admin

import (
	"context"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// fakeOps is what the fake relay's operator views show: set by the tests,
// under fakeRelay.mu.
type fakeOps struct {
	conns           []Connection
	pollers         []Poller
	traces          map[string]Trace // by message id
	traffic         []Minute         // nil: 24 h of nothing, ending at the clock's minute
	lastInbound     map[string]time.Time
	retriedChannels []string
}

func (f *fakeRelay) Connections(userID string) []Connection {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Connection
	for _, c := range f.ops.conns {
		if userID == "" || c.UserID == userID {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeRelay) Pollers(userID string) []Poller {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Poller
	for _, p := range f.ops.pollers {
		if userID == "" || p.UserID == userID {
			out = append(out, p)
		}
	}
	return out
}

func (f *fakeRelay) Trace(m storage.Message) Trace {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops.traces[m.ID]
}

func (f *fakeRelay) Traffic() []Minute {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops.traffic != nil {
		return f.ops.traffic
	}
	return quietDay(f.now())
}

// quietDay is 24 hours of minutes without traffic, ending at now's minute.
func quietDay(now time.Time) []Minute {
	out := make([]Minute, 24*60)
	end := now.UTC().Truncate(time.Minute)
	for i := range out {
		out[i].Start = end.Add(time.Duration(i-len(out)+1) * time.Minute)
	}
	return out
}

func (f *fakeRelay) LastInbound(channelID string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops.lastInbound[channelID]
}

// RetryChannel retries the channel's failed deliveries in the real store,
// as the outbox does.
func (f *fakeRelay) RetryChannel(ctx context.Context, channelID string) (int, error) {
	list, err := f.store.Deliveries(ctx, storage.StatusFailed, "", 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range list {
		if d.ChannelID != channelID {
			continue
		}
		if _, err := f.store.UpdateDelivery(ctx, d.ResponseID, func(d *storage.Delivery) error {
			d.Status, d.Attempts, d.NextAttemptAt = storage.StatusPending, 0, f.now()
			return nil
		}); err != nil {
			return n, err
		}
		n++
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops.retriedChannels = append(f.ops.retriedChannels, channelID)
	return n, nil
}

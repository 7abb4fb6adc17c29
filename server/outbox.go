package server

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/storage"
)

// outbox delivers pending replies (PROTOCOL §7.5): replies of one channel go
// out in order, one at a time; different channels in parallel, up to the
// configured number of workers. The store is the queue: nothing is held only
// in memory, so a restart resumes where the last commit left off.
type outbox struct {
	s       *Server
	senders map[string]channels.Sender

	mu       sync.Mutex
	inflight map[string]bool // channel ids being attempted
	signal   chan struct{}   // closed (and replaced) to wake every worker
}

func newOutbox(s *Server, senders map[string]channels.Sender) *outbox {
	return &outbox{s: s, senders: senders, inflight: map[string]bool{}, signal: make(chan struct{})}
}

// kick wakes the workers: a reply was accepted or a channel became free.
func (o *outbox) kick() {
	o.mu.Lock()
	close(o.signal)
	o.signal = make(chan struct{})
	o.mu.Unlock()
}

// run starts the workers and returns when ctx is done and all have returned.
// An attempt interrupted by shutdown is not counted and stays pending.
func (o *outbox) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { o.work(ctx) })
	}
	wg.Wait()
}

func (o *outbox) work(ctx context.Context) {
	for ctx.Err() == nil {
		o.mu.Lock()
		signal := o.signal
		o.mu.Unlock()
		job, wait := o.claim(ctx)
		if job != nil {
			o.attempt(ctx, *job)
			o.release(job.Delivery.ChannelID)
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-signal:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// idleWait bounds how long a worker sleeps with nothing due; kicks wake it
// earlier.
const idleWait = time.Minute

// claim picks the oldest due reply of a channel no other worker holds, or
// says how long to wait for the next one to fall due.
func (o *outbox) claim(ctx context.Context) (*storage.PendingReply, time.Duration) {
	heads, err := o.s.store.PendingHeads(ctx)
	if err != nil {
		if ctx.Err() == nil {
			o.s.log.Error("read pending deliveries", "component", "delivery", "err", err)
		}
		return nil, time.Second
	}
	return o.claimFrom(ctx, heads)
}

// claimFrom claims the oldest due reply of heads whose channel is free.
func (o *outbox) claimFrom(ctx context.Context, heads []storage.PendingReply) (*storage.PendingReply, time.Duration) {
	now := o.s.now()
	wait := idleWait
	var job *storage.PendingReply
	o.mu.Lock()
	for i := range heads {
		h := &heads[i]
		if o.inflight[h.Delivery.ChannelID] {
			continue
		}
		if due := h.Delivery.NextAttemptAt.Sub(now); due > 0 {
			wait = min(wait, due)
			continue
		}
		o.inflight[h.Delivery.ChannelID] = true
		job = h
		break
	}
	o.mu.Unlock()
	if job == nil {
		return nil, wait
	}
	// The heads were read before the channel was claimed: another worker may
	// have attempted this reply in between and released the channel. Its
	// record as committed says what is left to send, if anything.
	d, err := o.s.store.Delivery(ctx, job.Delivery.ResponseID)
	if err != nil || d.Status != storage.StatusPending || d.NextAttemptAt.After(now) {
		o.release(job.Delivery.ChannelID)
		return nil, 0 // read the heads again
	}
	job.Delivery = d
	return job, 0
}

func (o *outbox) release(channelID string) {
	o.mu.Lock()
	delete(o.inflight, channelID)
	o.mu.Unlock()
	o.kick() // the channel's next reply may be due
}

// attempt sends the unsent parts of one reply and records the outcome.
// partsSent is committed after every accepted part, so a retry (or a restart)
// never sends an accepted part again.
func (o *outbox) attempt(ctx context.Context, job storage.PendingReply) {
	d, r := job.Delivery, job.Response
	log := o.s.log.With("component", "delivery", "response_id", d.ResponseID, "channel_type", d.ChannelType)
	sender := o.senders[d.ChannelType]
	if sender == nil {
		o.finish(d, storage.StatusFailed, "no sender for channel type "+d.ChannelType)
		return
	}
	parts := channels.Split(r.Content, sender.MaxPartUnits())
	creds := func(ctx context.Context, name string) ([]byte, error) {
		return o.s.store.ChannelSecret(ctx, d.ChannelID, name)
	}
	// Committing progress must survive shutdown: the part was accepted.
	commitCtx := context.WithoutCancel(ctx)
	for i := d.PartsSent; i < len(parts); i++ {
		err := sender.Send(ctx, channels.Part{ResponseID: d.ResponseID, ChannelID: d.ChannelID, Target: d.Target,
			Text: parts[i], Index: i, Total: len(parts), Metadata: r.Metadata, ChannelMetadata: job.Channel.Metadata}, creds)
		if err != nil {
			if ctx.Err() != nil {
				return // interrupted by shutdown: the attempt does not count
			}
			o.retryOrFail(commitCtx, d, err, log)
			return
		}
		d, err = o.s.store.UpdateDelivery(commitCtx, d.ResponseID, func(rec *storage.Delivery) error {
			rec.PartsSent, rec.PartsTotal, rec.UpdatedAt = i+1, len(parts), o.s.now().UTC()
			return nil
		})
		if err != nil {
			log.Error("record sent part", "err", err)
			return
		}
	}
	o.finish(d, storage.StatusSent, "")
}

// retryOrFail schedules the next attempt with exponential backoff and jitter
// (a platform's hint is a minimum), or fails the delivery when the error is
// permanent or the budget of attempts or age is spent.
func (o *outbox) retryOrFail(ctx context.Context, d storage.Delivery, sendErr error, log *slog.Logger) {
	cfg := o.s.cfg.Delivery
	now := o.s.now()
	attempts := d.Attempts + 1
	backoff := min(cfg.MaxBackoff, time.Second<<min(attempts-1, 30))
	delay := max(time.Duration(float64(backoff)*(0.5+rand.Float64()/2)), channels.RetryAfter(sendErr))
	next := now.Add(delay)
	status := storage.StatusPending
	switch {
	case errors.Is(sendErr, channels.ErrPermanent), attempts >= cfg.MaxAttempts, next.Sub(d.CreatedAt) > cfg.MaxAge:
		status = storage.StatusFailed
	}
	_, err := o.s.store.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.Status, rec.Attempts, rec.LastError, rec.UpdatedAt = status, attempts, sendErr.Error(), now.UTC()
		rec.NextAttemptAt = time.Time{}
		if status == storage.StatusPending {
			rec.NextAttemptAt = next.UTC()
		}
		return nil
	})
	if err != nil {
		log.Warn("record failed attempt", "err", err)
		return
	}
	result := "retry"
	if status == storage.StatusFailed {
		result = "failed"
	}
	o.s.metrics.deliveries.WithLabelValues(d.ChannelType, result).Inc()
	log.Warn("delivery attempt failed", "attempt", attempts, "status", status, "err", sendErr)
}

// finish records a final status.
func (o *outbox) finish(d storage.Delivery, status, lastError string) {
	_, err := o.s.store.UpdateDelivery(context.Background(), d.ResponseID, func(rec *storage.Delivery) error {
		rec.Status, rec.LastError, rec.UpdatedAt, rec.NextAttemptAt = status, lastError, o.s.now().UTC(), time.Time{}
		if status == storage.StatusSent {
			rec.Attempts++
		}
		return nil
	})
	if err != nil {
		o.s.log.Error("record delivery", "component", "delivery", "response_id", d.ResponseID, "err", err)
		return
	}
	o.s.metrics.deliveries.WithLabelValues(d.ChannelType, status).Inc()
}

// Package outbox delivers the relay's pending replies to their platforms
// (PROTOCOL §7.5). Replies of one channel go out in order, one at a time;
// different channels in parallel, up to the configured number of workers.
//
// The store is the queue: a reply is committed pending with its delivery
// record before it is acknowledged, every accepted part is committed, and a
// restart resumes where the last commit left off. In memory the outbox keeps
// only an index of each channel's head, ordered by when it falls due (queue),
// so a wake-up costs one heap operation and one worker, not a scan of every
// pending reply by every worker.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/storage"
)

// Store is what the outbox reads and writes.
type Store interface {
	PendingHeads(ctx context.Context) ([]storage.PendingReply, error)
	PendingHead(ctx context.Context, channelID string) (storage.PendingReply, error)
	PendingCounts(ctx context.Context) (map[string]int, error)
	Delivery(ctx context.Context, responseID string) (storage.Delivery, error)
	UpdateDelivery(ctx context.Context, responseID string, fn func(*storage.Delivery) error) (storage.Delivery, error)
	ChannelSecret(ctx context.Context, channelID, name string) ([]byte, error)
	// Deliveries lists delivery records newest first (RetryChannel).
	Deliveries(ctx context.Context, status, cursor string, limit int) ([]storage.Delivery, error)
}

// ErrNotRetryable: only a failed delivery can be retried. It is a
// storage.ErrConflict.
var ErrNotRetryable = fmt.Errorf("outbox: only failed deliveries can be retried: %w", storage.ErrConflict)

// rescanEvery is how often the whole pending index is read again. Every
// change the relay makes reaches the queue directly (Kick); the rescan is the
// safety net, and it also finds replies that fell due at another process.
const rescanEvery = time.Minute

// Options are the outbox's collaborators besides its store and senders.
type Options struct {
	Log *slog.Logger     // required
	Now func() time.Time // default time.Now
	// Registry receives the outbox's metrics (nil: not registered).
	Registry prometheus.Registerer
	// Outcome, when set, is told every outcome that relay_deliveries_total
	// counts (result sent, failed or retry), for the dashboard's charts.
	Outcome func(channelType, result string)
	// Claims, when set, share the channels with the outboxes of the other
	// nodes of a relay (nil: this outbox delivers every channel).
	Claims Claims
}

// Claims share channels between the outboxes of several relay nodes: a node
// attempts a channel's replies only while it holds the channel's claim, so
// each reply is sent by one node and in order. A claim outlives its node by
// a bounded time (a lease), after which another node takes the channel over.
type Claims interface {
	// Claim takes the channel's claim or confirms this node holds it; false
	// when another node does.
	Claim(ctx context.Context, channelID string) (bool, error)
	// Release gives the claim up: the channel has nothing pending here.
	Release(ctx context.Context, channelID string)
}

// claimRetry is how long a channel another node holds waits before this
// node tries again: the holder delivers it meanwhile, and a holder that died
// loses its claim within its lease's lifetime.
const claimRetry = 5 * time.Second

// Outbox is the delivery worker pool.
type Outbox struct {
	cfg     Config
	store   Store
	senders map[string]channels.Sender
	log     *slog.Logger
	now     func() time.Time
	queue   *queue
	wake    chan struct{} // a token: one idle worker takes it
	metrics *metrics
	outcome func(channelType, result string) // Options.Outcome
	claims  Claims                           // Options.Claims; nil on one node
}

// New builds an outbox delivering with senders, by channel type. A pending
// reply of a type without a sender fails.
func New(cfg Config, st Store, senders map[string]channels.Sender, opts Options) *Outbox {
	o := &Outbox{cfg: cfg, store: st, senders: senders, log: opts.Log, now: opts.Now,
		queue: newQueue(), wake: make(chan struct{}, 1), outcome: opts.Outcome, claims: opts.Claims}
	if o.now == nil {
		o.now = time.Now
	}
	o.metrics = newMetrics(opts.Registry, o)
	return o
}

// Accepted tells the outbox of a delivery record that was just committed
// with its reply: a pending one is queued, one that failed at once counted.
func (o *Outbox) Accepted(d storage.Delivery) {
	switch d.Status {
	case storage.StatusPending:
		o.Kick(d.ChannelID)
	case storage.StatusFailed:
		o.count(d.ChannelType, storage.StatusFailed)
	}
}

// Kick tells the outbox that a channel's pending replies changed: its head
// is read again and one worker is woken.
func (o *Outbox) Kick(channelID string) {
	o.queue.markDirty(channelID)
	o.signal()
}

// signal wakes one idle worker, if none is already due to wake.
func (o *Outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Retry puts a failed delivery back in the queue with a fresh budget of
// attempts; parts already accepted are not sent again. storage.ErrNotFound
// when the delivery is unknown, ErrNotRetryable when it is not failed.
func (o *Outbox) Retry(ctx context.Context, responseID string) (storage.Delivery, error) {
	d, err := o.requeue(ctx, responseID)
	if err == nil {
		o.Kick(d.ChannelID)
	}
	return d, err
}

// requeue makes a failed delivery pending again, due now, with a fresh
// budget of attempts; its history stays.
func (o *Outbox) requeue(ctx context.Context, responseID string) (storage.Delivery, error) {
	return o.store.UpdateDelivery(ctx, responseID, func(d *storage.Delivery) error {
		if d.Status != storage.StatusFailed {
			return ErrNotRetryable
		}
		now := o.now().UTC()
		d.Status, d.Attempts, d.NextAttemptAt, d.UpdatedAt = storage.StatusPending, 0, now, now
		return nil
	})
}

// Run loads the pending heads and runs the workers until ctx is done, then
// waits for them. An attempt interrupted by shutdown is not counted and
// stays pending.
func (o *Outbox) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { o.rescan(ctx) })
	for range o.cfg.Workers {
		wg.Go(func() { o.work(ctx) })
	}
	wg.Wait()
}

// rescan reads every pending head now and then every rescanEvery.
func (o *Outbox) rescan(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		heads, err := o.store.PendingHeads(ctx)
		switch {
		case err == nil:
			o.queue.load(heads)
			o.signal()
			t.Reset(rescanEvery)
		case ctx.Err() == nil:
			o.log.Error("read pending deliveries", "err", err)
			t.Reset(time.Second)
		}
	}
}

func (o *Outbox) work(ctx context.Context) {
	for ctx.Err() == nil {
		wait := o.refresh(ctx)
		job, due, more := o.queue.claim(o.now(), min(wait, rescanEvery))
		if job != nil {
			if more {
				o.signal() // another head is due: hand it to an idle worker
			}
			if later := o.attemptClaimed(ctx, job); !later.IsZero() {
				o.queue.postpone(*job, later)
				continue
			}
			o.queue.release(job.Delivery.ChannelID)
			continue
		}
		timer := time.NewTimer(due)
		select {
		case <-ctx.Done():
		case <-o.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// refresh reads the head of every dirty channel again. It returns how soon
// to look again: at once normally, after a second when the store failed.
func (o *Outbox) refresh(ctx context.Context) time.Duration {
	for _, id := range o.queue.takeDirty() {
		head, err := o.store.PendingHead(ctx, id)
		switch {
		case err == nil:
			o.queue.set(id, &head)
		case errors.Is(err, storage.ErrNotFound):
			o.queue.set(id, nil)
			if o.claims != nil {
				o.claims.Release(ctx, id)
			}
		default:
			if ctx.Err() == nil {
				o.log.Error("read pending delivery", "channel_id", id, "err", err)
			}
			o.queue.markDirty(id)
			return time.Second
		}
	}
	return rescanEvery
}

// attemptClaimed attempts a claimed head as its record stands now: the
// queue's copy may be stale (another worker, or node, attempted the reply
// since it was read), and the committed record says what is left to send, if
// anything. The record is read once the channel's claim is held, so that it
// holds every part a node that held the claim before sent. It returns when
// to look at the channel again if another node holds it (zero otherwise:
// the release reads the channel's head again).
func (o *Outbox) attemptClaimed(ctx context.Context, job *storage.PendingReply) (later time.Time) {
	if o.claims != nil {
		channelID := job.Delivery.ChannelID
		if ok, err := o.claims.Claim(ctx, channelID); !ok || err != nil {
			if err != nil && ctx.Err() == nil {
				o.log.Warn("claim channel", "channel_id", channelID, "err", err)
			}
			return o.now().Add(claimRetry)
		}
	}
	d, err := o.store.Delivery(ctx, job.Delivery.ResponseID)
	if err != nil || d.Status != storage.StatusPending || d.NextAttemptAt.After(o.now()) {
		return time.Time{}
	}
	job.Delivery = d
	o.attempt(ctx, *job)
	return time.Time{}
}

// attempt sends the unsent parts of one reply and records the outcome.
// partsSent is committed after every accepted part, so a retry (or a restart)
// never sends an accepted part again.
func (o *Outbox) attempt(ctx context.Context, job storage.PendingReply) {
	d, r := job.Delivery, job.Response
	log := o.log.With("response_id", d.ResponseID, "channel_type", d.ChannelType)
	sender := o.senders[d.ChannelType]
	if sender == nil {
		o.finish(d, storage.StatusFailed, "no sender for channel type "+d.ChannelType, log)
		return
	}
	parts := channels.Split(r.Content, sender.MaxPartUnits())
	creds := func(ctx context.Context, name string) ([]byte, error) {
		return o.store.ChannelSecret(ctx, d.ChannelID, name)
	}
	// Committing progress must survive shutdown: the part was accepted.
	commitCtx := context.WithoutCancel(ctx)
	for i := d.PartsSent; i < len(parts); i++ {
		if i > d.PartsSent && !o.stillClaimed(ctx, d.ChannelID) {
			return // another node took the channel over; it resumes from partsSent
		}
		err := sender.Send(ctx, channels.Part{ResponseID: d.ResponseID, ChannelID: d.ChannelID, Target: d.Target,
			Text: parts[i], Index: i, Total: len(parts), Metadata: r.Metadata, ChannelMetadata: job.Channel.Metadata}, creds)
		if err != nil {
			if ctx.Err() != nil {
				return // interrupted by shutdown: the attempt does not count
			}
			o.retryOrFail(commitCtx, d, err, log)
			return
		}
		d, err = o.store.UpdateDelivery(commitCtx, d.ResponseID, func(rec *storage.Delivery) error {
			rec.PartsSent, rec.PartsTotal, rec.UpdatedAt = i+1, len(parts), o.now().UTC()
			return nil
		})
		if err != nil {
			log.Error("record sent part", "err", err)
			return
		}
	}
	o.finish(d, storage.StatusSent, "", log)
}

// stillClaimed reports whether this node may go on sending a channel's parts:
// a node that lost its claim (cut off from the others longer than the lease)
// stops before another node resends what it sends.
func (o *Outbox) stillClaimed(ctx context.Context, channelID string) bool {
	if o.claims == nil {
		return true
	}
	ok, err := o.claims.Claim(ctx, channelID)
	return ok && err == nil
}

// retryOrFail schedules the next attempt with exponential backoff and jitter
// (a platform's hint is a minimum), or fails the delivery when the error is
// permanent or the budget of attempts or age is spent.
func (o *Outbox) retryOrFail(ctx context.Context, d storage.Delivery, sendErr error, log *slog.Logger) {
	now := o.now()
	attempts := d.Attempts + 1
	backoff := min(o.cfg.MaxBackoff, time.Second<<min(attempts-1, 30))
	delay := max(time.Duration(float64(backoff)*(0.5+rand.Float64()/2)), channels.RetryAfter(sendErr))
	next := now.Add(delay)
	status := storage.StatusPending
	switch {
	case errors.Is(sendErr, channels.ErrPermanent), attempts >= o.cfg.MaxAttempts, next.Sub(d.CreatedAt) > o.cfg.MaxAge:
		status = storage.StatusFailed
	}
	_, err := o.store.UpdateDelivery(ctx, d.ResponseID, func(rec *storage.Delivery) error {
		rec.Status, rec.Attempts, rec.LastError, rec.UpdatedAt = status, attempts, sendErr.Error(), now.UTC()
		rec.NextAttemptAt = time.Time{}
		result := storage.AttemptFailed
		if status == storage.StatusPending {
			rec.NextAttemptAt = next.UTC()
			result = storage.AttemptRetry
		}
		rec.Record(storage.Attempt{At: now.UTC(), Number: attempts, Result: result, Error: sendErr.Error(), NextAttemptAt: rec.NextAttemptAt})
		return nil
	})
	if err != nil {
		log.Warn("record failed attempt", "err", err)
		return
	}
	result := "retry"
	if status == storage.StatusFailed {
		result = storage.StatusFailed
	}
	o.count(d.ChannelType, result)
	log.Warn("delivery attempt failed", "attempt", attempts, "status", status, "err", sendErr)
}

// finish records a final status.
func (o *Outbox) finish(d storage.Delivery, status, lastError string, log *slog.Logger) {
	_, err := o.store.UpdateDelivery(context.Background(), d.ResponseID, func(rec *storage.Delivery) error {
		rec.Status, rec.LastError, rec.UpdatedAt, rec.NextAttemptAt = status, lastError, o.now().UTC(), time.Time{}
		if status == storage.StatusSent {
			rec.Attempts++
		}
		rec.Record(storage.Attempt{At: rec.UpdatedAt, Number: max(rec.Attempts, 1), Result: status, Error: lastError})
		return nil
	})
	if err != nil {
		log.Error("record delivery", "err", err)
		return
	}
	o.count(d.ChannelType, status)
}

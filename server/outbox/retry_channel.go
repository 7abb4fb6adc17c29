package outbox

import (
	"context"
	"errors"

	"github.com/chaos-relay/relay/storage"
)

// retryScanPage is how many failed delivery records RetryChannel reads at a
// time while it looks for a channel's.
const retryScanPage = 200

// RetryChannel retries every failed delivery of a channel, as Retry does one,
// and returns how many became pending. The failed records are found by a
// scan of every failed delivery (they are bounded by the retention, and this
// is an operator's action). A delivery retried or settled meanwhile is
// skipped; storage.ErrNotFound when the channel has been deleted (its
// deliveries stay failed).
func (o *Outbox) RetryChannel(ctx context.Context, channelID string) (int, error) {
	var ids []string
	for cursor := ""; ; {
		page, err := o.store.Deliveries(ctx, storage.StatusFailed, cursor, retryScanPage)
		if err != nil {
			return 0, err
		}
		for _, d := range page {
			if d.ChannelID == channelID {
				ids = append(ids, d.ResponseID)
			}
		}
		if len(page) < retryScanPage {
			break
		}
		cursor = page[len(page)-1].ResponseID
	}
	n := 0
	defer func() {
		if n > 0 {
			o.Kick(channelID)
		}
	}()
	for _, id := range ids {
		_, err := o.requeue(ctx, id)
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrNotRetryable):
		default:
			return n, err
		}
	}
	return n, nil
}

// count counts a delivery outcome in relay_deliveries_total and tells
// Options.Outcome.
func (o *Outbox) count(channelType, result string) {
	o.metrics.deliveries.WithLabelValues(channelType, result).Inc()
	if o.outcome != nil {
		o.outcome(channelType, result)
	}
}

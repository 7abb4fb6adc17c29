package bolt

import "time"

// lingerFromGroup is the smallest group after which the writer may wait for
// stragglers. Smaller groups mean a light load, where a write's latency
// matters more than sharing an fsync.
const lingerFromGroup = 8

// batcher forms the writer's group commits from the queue of writes.
//
// Writes that arrive during a commit form the next group, and a write that
// finds the store idle is committed at once (PROTOCOL §11.1). Under a
// saturating load of senders that each wait for their answer (webhook
// senders, Telegram's per-bot delivery), committing only what is queued makes
// the group sizes oscillate: a large group's senders are answered together and
// come back while a group of one or two commits, which pays a whole fsync. So
// after a large group, while the store is busy, the next group may wait for as
// many writes as the last one had, at most half as long as the last commit
// took (docs/performance-notes.md, "Fourth pass").
type batcher struct {
	writes <-chan *write
	max    int
	timer  *time.Timer
	now    func() time.Time

	last     int           // writes in the last group
	lastTook time.Duration // how long the last group took to commit
	lastEnd  time.Time     // when it was committed
}

func newBatcher(writes <-chan *write, maxGroup int) *batcher {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &batcher{writes: writes, max: maxGroup, timer: t, now: time.Now}
}

// next returns the next group, reusing group's array, and false once the
// queue is closed and empty. It blocks until there is a write.
func (b *batcher) next(group []*write) ([]*write, bool) {
	w, ok := <-b.writes
	if !ok {
		return group[:0], false
	}
	return b.fill(append(group[:0], w)), true
}

// fill completes a group begun with one write.
func (b *batcher) fill(group []*write) []*write {
	group = b.queued(group)
	want := min(b.last, b.max)
	if len(group) >= want || b.idle(b.now()) {
		return group
	}
	b.timer.Reset(b.lastTook / 2)
	defer b.timer.Stop()
	for len(group) < want {
		select {
		case w, ok := <-b.writes:
			if !ok {
				return group
			}
			group = append(group, w)
		case <-b.timer.C:
			return group
		}
	}
	return group
}

// idle tells whether a write arriving at now finds the store idle: the last
// group was small, or no commit ended within the time the last one took.
func (b *batcher) idle(now time.Time) bool {
	return b.last < lingerFromGroup || now.Sub(b.lastEnd) > b.lastTook
}

// queued appends what is already queued, up to max writes, without waiting.
func (b *batcher) queued(group []*write) []*write {
	for len(group) < b.max {
		select {
		case w, ok := <-b.writes:
			if !ok {
				return group
			}
			group = append(group, w)
		default:
			return group
		}
	}
	return group
}

// committed records the group just committed.
func (b *batcher) committed(writes int, took time.Duration) {
	b.last, b.lastTook, b.lastEnd = writes, took, b.now()
}

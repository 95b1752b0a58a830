package monitor

import (
	"math"
	"sync"
	"time"
)

// Defaults of RecallOptions.
const (
	DefaultWindow = 1000
	DefaultMaxAge = 15 * time.Minute
)

// z95 is the two-sided 95% normal quantile.
const z95 = 1.959963984540054

// RecallOptions configure a RecallEstimator. Zero fields take the defaults.
type RecallOptions struct {
	Window int              // keep at most this many per-query samples (DefaultWindow)
	MaxAge time.Duration    // and only samples younger than this (DefaultMaxAge); < 0: no age limit
	Clock  func() time.Time // "now" for age pruning in Estimate (time.Now)
}

// EnsureDefaults fills the zero fields of o and returns it.
func (o RecallOptions) EnsureDefaults() RecallOptions {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// Interval is a recall estimate over a set of per-query recall values: their
// mean, how many there were, and a 95% confidence interval. With no samples
// Recall is NaN and the interval is [0, 1].
type Interval struct {
	Recall  float64
	Samples int
	Low     float64
	High    float64
}

// Estimate is a rolling recall@k estimate of one collection, overall and
// split by filtered and unfiltered queries.
type Estimate struct {
	Interval
	Filtered   Interval
	Unfiltered Interval
	// Seq is the sequence number of the newest sample observed (samples are
	// numbered from 1); From is the floor that EstimateSince applied (only
	// samples with a sequence number > From are counted).
	Seq  uint64
	From uint64
	At   time.Time // the clock reading the window was pruned at
}

type recallSample struct {
	seq      uint64
	at       time.Time
	recall   float64
	filtered bool
}

// RecallEstimator keeps a sliding window of per-query recall values (by count
// and by age) and estimates recall@k with a confidence interval.
//
// RecallEstimator is safe for concurrent use.
type RecallEstimator struct {
	opts RecallOptions
	mu   struct {
		sync.Mutex
		ring []recallSample // circular, oldest at head
		head int
		n    int
		seq  uint64
	}
}

// NewRecallEstimator returns an empty estimator.
func NewRecallEstimator(opts RecallOptions) *RecallEstimator {
	opts = opts.EnsureDefaults()
	e := &RecallEstimator{opts: opts}
	e.mu.ring = make([]recallSample, opts.Window)
	return e
}

// RecallAt returns the recall@k of approx against exact: the share of
// exact[:k] found in approx[:k]. When exact holds fewer than k ids (a
// selective filter) the denominator is len(exact). It returns NaN when exact
// is empty or k <= 0: there was nothing to find, and such a query says
// nothing about recall.
func RecallAt[T comparable](approx, exact []T, k int) float64 {
	if k <= 0 || len(exact) == 0 {
		return math.NaN()
	}
	want := min(k, len(exact))
	set := make(map[T]struct{}, want)
	for _, id := range exact[:want] {
		set[id] = struct{}{}
	}
	hit := 0
	for _, id := range approx[:min(k, len(approx))] {
		if _, ok := set[id]; ok {
			hit++
			delete(set, id) // a duplicated id counts once
		}
	}
	return float64(hit) / float64(want)
}

// Observe records one re-run query: approx are the ids the index returned,
// exact those of exact search (both nearest first), k the query's k. It
// returns the query's recall (NaN, and nothing recorded, when exact is
// empty). Ids of another type go through RecallAt and ObserveRecall.
func (e *RecallEstimator) Observe(approx, exact []uint32, k int, filtered bool, at time.Time) float64 {
	r := RecallAt(approx, exact, k)
	e.ObserveRecall(r, filtered, at)
	return r
}

// ObserveRecall records one query's recall value in [0, 1]; NaN is ignored.
func (e *RecallEstimator) ObserveRecall(recall float64, filtered bool, at time.Time) {
	if math.IsNaN(recall) {
		return
	}
	recall = min(max(recall, 0), 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.seq++
	s := recallSample{seq: e.mu.seq, at: at, recall: recall, filtered: filtered}
	w := len(e.mu.ring)
	if e.mu.n < w {
		e.mu.ring[(e.mu.head+e.mu.n)%w] = s
		e.mu.n++
		return
	}
	e.mu.ring[e.mu.head] = s
	e.mu.head = (e.mu.head + 1) % w
}

// Reset drops every sample (the sequence numbers keep counting).
func (e *RecallEstimator) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.head, e.mu.n = 0, 0
}

// Estimate returns the estimate over the current window.
func (e *RecallEstimator) Estimate() Estimate { return e.EstimateSince(0) }

// EstimateSince returns the estimate over the samples of the current window
// whose sequence number is > seq (Autopilot.Since gives the seq of its last
// ef change, so that samples taken at the old ef do not count).
func (e *RecallEstimator) EstimateSince(seq uint64) Estimate {
	now := e.opts.Clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pruneLocked(now)
	var all, filt, unf accum
	w := len(e.mu.ring)
	for i := 0; i < e.mu.n; i++ {
		s := &e.mu.ring[(e.mu.head+i)%w]
		if s.seq <= seq {
			continue
		}
		all.add(s.recall)
		if s.filtered {
			filt.add(s.recall)
		} else {
			unf.add(s.recall)
		}
	}
	return Estimate{
		Interval:   all.interval(),
		Filtered:   filt.interval(),
		Unfiltered: unf.interval(),
		Seq:        e.mu.seq,
		From:       seq,
		At:         now,
	}
}

// pruneLocked drops samples older than MaxAge.
// REQUIRES: mu held.
func (e *RecallEstimator) pruneLocked(now time.Time) {
	if e.opts.MaxAge < 0 {
		return
	}
	cut := now.Add(-e.opts.MaxAge)
	w := len(e.mu.ring)
	for e.mu.n > 0 && e.mu.ring[e.mu.head].at.Before(cut) {
		e.mu.head = (e.mu.head + 1) % w
		e.mu.n--
	}
}

type accum struct {
	n   int
	sum float64
}

func (a *accum) add(x float64) { a.n++; a.sum += x }

func (a accum) interval() Interval {
	if a.n == 0 {
		return Interval{Recall: math.NaN(), Low: 0, High: 1}
	}
	p := a.sum / float64(a.n)
	lo, hi := Wilson(p, a.n)
	return Interval{Recall: p, Samples: a.n, Low: lo, High: hi}
}

// Wilson returns the 95% Wilson score interval for a mean p of n values in
// [0, 1]. For per-query recall values (not 0/1 outcomes) it is conservative:
// a variable in [0, 1] with mean p has variance at most p(1-p). Unlike the
// normal interval it does not collapse to a point when every sample is 1.
func Wilson(p float64, n int) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	fn := float64(n)
	z2 := z95 * z95
	den := 1 + z2/fn
	centre := (p + z2/(2*fn)) / den
	half := z95 * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	return max(0, centre-half), min(1, centre+half)
}

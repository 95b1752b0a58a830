package monitor

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of SamplerOptions.
const (
	// 4.5% of one core plus a 100 ms burst: under 5% of one core over any
	// window of 20 s or more (measured 5.4–5.75% over 20 s with 5% + 250 ms).
	DefaultBudget      = 0.045
	DefaultBurst       = 100 * time.Millisecond // CPU time the bucket holds
	DefaultMinInterval = 2 * time.Second        // idle: one stored-vector probe this often
	defaultCostGuess   = time.Millisecond       // cost assumed before any Done
)

// SamplerOptions configure a Sampler. Zero fields take the defaults.
type SamplerOptions struct {
	// Budget is the share of one core that exact re-runs may use on average
	// (DefaultBudget). Burst is the CPU time the bucket can bank while the
	// sampler is not spending (DefaultBurst); spending never exceeds
	// Budget*elapsed + Burst.
	Budget float64
	Burst  time.Duration
	// MinInterval: when no sample was taken for this long (low traffic),
	// Tick returns a stored-vector probe (DefaultMinInterval). The budget
	// still wins over this minimum rate.
	MinInterval time.Duration
	Clock       func() time.Time // time.Now
	Rand        *rand.Rand       // picks queries and stored vectors; seeded PCG(1, 2) when nil
}

// EnsureDefaults fills the zero fields of o and returns it.
func (o SamplerOptions) EnsureDefaults() SamplerOptions {
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(1, 2))
	}
	return o
}

// SamplerStats are a Sampler's counters.
type SamplerStats struct {
	Offered  uint64        // live queries offered to Sample
	Live     uint64        // live queries chosen
	Stored   uint64        // stored-vector probes returned by Tick
	Other    uint64        // other background checks granted by Reserve (the metric check)
	Spent    time.Duration // CPU time charged through Done
	Tokens   time.Duration // CPU time the bucket holds now (negative: in debt)
	AvgCost  time.Duration // moving average of one exact re-run
	Rate     float64       // live queries per second (moving average)
	Interval time.Duration // elapsed since the sampler was created
}

// Sampler decides which live queries to re-run with exact search, and when
// to probe with a stored vector instead, so that the exact re-runs use at most
// Budget of one core. It is a token bucket of CPU time: it fills at Budget
// seconds per second up to Burst; Done charges the measured cost of each
// re-run. While the bucket holds enough for one average re-run, a live query
// is chosen with probability (affordable rate / observed query rate), so the
// chosen queries are a uniform random sample rather than the first after each
// refill.
//
// Most queries are declined without a lock: Sample first counts the query
// (an atomic add) and compares a hash of its number with a gate, which the
// locked path sets to gateSlack times the chance of a query being sampled.
// Only the queries that pass the gate (about gateSlack times those sampled)
// take the lock, where the token bucket and the random choice decide as
// before.
//
// Sampler is safe for concurrent use.
type Sampler struct {
	opts    SamplerOptions
	start   time.Time
	seed    uint64        // of the gate's hash
	offered atomic.Uint64 // queries offered to Sample
	gate    atomic.Uint64 // a query passes when mix64(seed^n) < gate; MaxUint64: all pass
	mu      struct {
		sync.Mutex
		tokens   float64 // seconds of CPU
		last     time.Time
		lastPick time.Time // last sample of either kind
		avgCost  float64   // seconds, EWMA
		costs    int
		pending  int     // picks not yet settled by Done
		reserved float64 // tokens reserved for them
		rate     float64 // queries/s, EWMA over 1 s windows
		winStart time.Time
		winFrom  uint64 // offered at winStart
		stats    SamplerStats
	}
}

// NewSampler returns a sampler whose bucket starts full.
func NewSampler(opts SamplerOptions) *Sampler {
	opts = opts.EnsureDefaults()
	now := opts.Clock()
	s := &Sampler{opts: opts, start: now, seed: opts.Rand.Uint64()}
	s.gate.Store(math.MaxUint64)
	s.mu.tokens = opts.Burst.Seconds()
	s.mu.last, s.mu.lastPick, s.mu.winStart = now, now, now
	s.mu.avgCost = defaultCostGuess.Seconds()
	return s
}

// refillLocked adds the tokens earned since the last call.
// REQUIRES: mu held.
func (s *Sampler) refillLocked(now time.Time) {
	if dt := now.Sub(s.mu.last).Seconds(); dt > 0 {
		s.mu.tokens = min(s.mu.tokens+dt*s.opts.Budget, s.opts.Burst.Seconds())
		s.mu.last = now
	}
	if dt := now.Sub(s.mu.winStart); dt >= time.Second {
		off := s.offered.Load()
		r := float64(off-s.mu.winFrom) / dt.Seconds()
		if s.mu.rate == 0 {
			s.mu.rate = r
		} else {
			s.mu.rate = 0.5*s.mu.rate + 0.5*r
		}
		s.mu.winStart, s.mu.winFrom = now, off
	}
	s.setGateLocked(now)
}

// gateSlack is how many times more queries than the sampler picks pass the
// lock-free gate to the locked decision (so that a stale gate, set at a
// lower rate, still lets the budget's worth through).
const gateSlack = 2

// rateLocked is the query rate the sampler assumes: the moving average, or
// the current window's rate when higher (a burst, or the first second).
// REQUIRES: mu held.
func (s *Sampler) rateLocked(now time.Time) float64 {
	win := float64(s.offered.Load() - s.mu.winFrom)
	return max(s.mu.rate, win/max(now.Sub(s.mu.winStart).Seconds(), 1))
}

// setGateLocked sets the gate to let gateSlack × affordable/rate of the
// queries through.
// REQUIRES: mu held.
func (s *Sampler) setGateLocked(now time.Time) {
	p := gateSlack * s.opts.Budget / s.mu.avgCost / s.rateLocked(now)
	if !(p < 1) { // also NaN, +Inf at rate 0
		s.gate.Store(math.MaxUint64)
		return
	}
	s.gate.Store(uint64(p * (1 << 64)))
}

// gateShare is the share of queries that a gate lets through.
func gateShare(g uint64) float64 {
	if g == math.MaxUint64 {
		return 1
	}
	return float64(g) / (1 << 64)
}

// mix64 is SplitMix64's finalizer: a well-spread hash of a query's number.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Sample is called for each live query; true means: re-run it with exact
// search (in the background) and call Done with the measured cost.
//
// It takes no lock unless the query passes the gate (see Sampler).
func (s *Sampler) Sample() bool {
	n := s.offered.Add(1)
	gate := s.gate.Load()
	if gate != math.MaxUint64 && mix64(s.seed^n) >= gate {
		return false
	}
	now := s.opts.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked(now)
	if !s.affordLocked() {
		return false
	}
	affordable := s.opts.Budget / s.mu.avgCost // re-runs per second
	if rate := s.rateLocked(now); rate > affordable {
		// The query passed the gate with probability gateShare(gate):
		// keep it with affordable/(rate·share), affordable/rate in all.
		if s.opts.Rand.Float64()*rate*gateShare(gate) >= affordable {
			return false
		}
	}
	s.reserveLocked()
	s.mu.lastPick = now
	s.mu.stats.Live++
	return true
}

// Tick is called periodically (say every MinInterval/4) by the collection's
// background worker with the number of stored vectors. When no sample was
// taken for MinInterval and the budget allows, it returns a random index in
// [0, stored) and true: re-run that stored vector as a query (excluding
// itself from both result lists) and call Done with the cost.
func (s *Sampler) Tick(stored int) (int, bool) {
	now := s.opts.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked(now)
	if stored <= 0 || now.Sub(s.mu.lastPick) < s.opts.MinInterval || !s.affordLocked() {
		return 0, false
	}
	s.reserveLocked()
	s.mu.lastPick = now
	s.mu.stats.Stored++
	return s.opts.Rand.IntN(stored), true
}

// Reserve grants one other background check (the metric check: a pass over
// the collection, as costly as an exact re-run) when the budget allows, and
// reserves its cost; the caller then calls Done with the measured cost. It
// shares the bucket with Sample and Tick, so that all the monitor's exact
// work stays within Budget.
func (s *Sampler) Reserve() bool {
	now := s.opts.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked(now)
	if !s.affordLocked() {
		return false
	}
	s.reserveLocked()
	s.mu.stats.Other++
	return true
}

// affordLocked reports whether the bucket holds one average re-run (or is
// full, when one re-run costs more than Burst: it then runs into debt).
// REQUIRES: mu held.
func (s *Sampler) affordLocked() bool {
	return s.mu.tokens >= min(s.mu.avgCost, s.opts.Burst.Seconds())
}

// reserveLocked takes one average re-run from the bucket until Done settles
// the real cost, so that concurrent picks cannot overspend.
// REQUIRES: mu held.
func (s *Sampler) reserveLocked() {
	s.mu.tokens -= s.mu.avgCost
	s.mu.reserved += s.mu.avgCost
	s.mu.pending++
}

// Done charges the measured cost of one exact re-run chosen by Sample or
// Tick. A cost above the reservation puts the bucket in debt, which stops
// sampling until the budget has paid it back.
func (s *Sampler) Done(cost time.Duration) {
	c := max(cost.Seconds(), 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.pending > 0 {
		refund := s.mu.reserved / float64(s.mu.pending)
		s.mu.tokens += refund
		s.mu.reserved -= refund
		s.mu.pending--
	}
	s.mu.tokens -= c
	if s.mu.costs == 0 {
		s.mu.avgCost = c
	} else {
		s.mu.avgCost = 0.9*s.mu.avgCost + 0.1*c
	}
	s.mu.avgCost = max(s.mu.avgCost, 1e-7)
	s.mu.costs++
	s.mu.stats.Spent += cost
	s.setGateLocked(s.mu.last)
}

// Stats returns the sampler's counters.
func (s *Sampler) Stats() SamplerStats {
	now := s.opts.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refillLocked(now)
	st := s.mu.stats
	st.Offered = s.offered.Load()
	st.Tokens = time.Duration(s.mu.tokens * float64(time.Second))
	st.AvgCost = time.Duration(s.mu.avgCost * float64(time.Second))
	st.Rate = s.mu.rate
	st.Interval = now.Sub(s.start)
	return st
}

package monitor

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of AutopilotOptions.
const (
	DefaultTarget      = 0.95
	DefaultEfMin       = 10
	DefaultEfMax       = 1024
	DefaultMargin      = 0.02
	DefaultRaise       = 1.5
	DefaultLower       = 0.9
	DefaultMinSamples  = 200
	DefaultHistory     = 64
	DefaultBoundMemory = time.Hour
)

// AutopilotOptions configure an Autopilot. Zero fields take the defaults.
type AutopilotOptions struct {
	Target float64 // recall@k to hold (DefaultTarget)
	EfMin  int     // bounds of the effective ef_search (DefaultEfMin, DefaultEfMax)
	EfMax  int
	Ef     int // starting ef, clamped to the bounds (EfMin)
	// Margin: ef is lowered only while the interval's low end is above
	// Target+Margin (DefaultMargin).
	Margin float64
	// Raise multiplies ef when the interval's high end is below Target
	// (DefaultRaise, > 1); Lower multiplies it when lowering (DefaultLower,
	// < 1; a step is at least 1).
	Raise, Lower float64
	// MinSamples: no change before this many samples taken at the current
	// ef (DefaultMinSamples).
	MinSamples int
	History    int // changes kept (DefaultHistory)
	// BoundMemory: how long a failing ef (never lowered to again) and a
	// passing ef (raised to directly) are remembered (DefaultBoundMemory).
	BoundMemory time.Duration
	// Manual starts with auto_ef off: Update then never changes ef.
	Manual bool
	Clock  func() time.Time // time.Now
}

// EnsureDefaults fills the zero fields of o and returns it.
func (o AutopilotOptions) EnsureDefaults() AutopilotOptions {
	if o.Target <= 0 {
		o.Target = DefaultTarget
	}
	if o.EfMin <= 0 {
		o.EfMin = DefaultEfMin
	}
	if o.EfMax <= 0 {
		o.EfMax = DefaultEfMax
	}
	if o.Ef <= 0 {
		o.Ef = o.EfMin
	}
	if o.Margin <= 0 {
		o.Margin = DefaultMargin
	}
	if o.Raise <= 1 {
		o.Raise = DefaultRaise
	}
	if o.Lower <= 0 || o.Lower >= 1 {
		o.Lower = DefaultLower
	}
	if o.MinSamples <= 0 {
		o.MinSamples = DefaultMinSamples
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.BoundMemory <= 0 {
		o.BoundMemory = DefaultBoundMemory
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// Validate reports whether o (after EnsureDefaults) is usable.
func (o AutopilotOptions) Validate() error {
	o = o.EnsureDefaults()
	if o.Target > 1 {
		return fmt.Errorf("monitor: recall target %g above 1", o.Target)
	}
	if o.EfMin > o.EfMax {
		return fmt.Errorf("monitor: ef bounds [%d, %d] are empty", o.EfMin, o.EfMax)
	}
	return nil
}

// Change is one ef change made by the autopilot (or by SetEf).
type Change struct {
	At       time.Time
	From, To int
	Reason   string
	Estimate Estimate
}

// Autopilot adjusts a collection's effective ef_search to hold a recall
// target at the least cost. It is a pure controller: the caller feeds it
// estimates and applies the ef it returns.
//
// The rule, on an estimate of at least MinSamples queries run at the current
// ef: if the 95% interval's high end is below Target, ef is raised by Raise
// (or straight to the smallest ef remembered to pass); if its low end is above
// Target+Margin, ef is lowered by Lower, never to an ef remembered to fail;
// otherwise it holds. Because the interval must clear the target either way,
// and a failing ef is not revisited, ef settles instead of oscillating.
//
// Autopilot is safe for concurrent use; Ef, read by every query, takes no
// lock.
type Autopilot struct {
	opts AutopilotOptions
	// ef is the effective ef: read without the lock, written with mu held
	// (so that it changes together with the rest of the state).
	ef atomic.Int64
	mu struct {
		sync.Mutex
		auto     bool
		since    uint64 // estimator seq at the last change
		fail     int    // largest ef seen failing (0: none)
		failAt   time.Time
		pass     int // smallest ef seen passing well (0: none)
		passAt   time.Time
		degraded bool
		why      string
		last     Estimate
		history  []Change
		version  uint64 // bumped on every change of ef, auto_ef or degraded
	}
}

// NewAutopilot returns an autopilot at opts.Ef. It panics on options that
// Validate refuses (callers validate user input first).
func NewAutopilot(opts AutopilotOptions) *Autopilot {
	if err := opts.Validate(); err != nil {
		panic("BUG: " + err.Error())
	}
	opts = opts.EnsureDefaults()
	a := &Autopilot{opts: opts}
	a.ef.Store(int64(min(max(opts.Ef, opts.EfMin), opts.EfMax)))
	a.mu.auto = !opts.Manual
	return a
}

// Ef returns the current effective ef (an atomic load: no lock).
func (a *Autopilot) Ef() int { return int(a.ef.Load()) }

// Target returns the recall target.
func (a *Autopilot) Target() float64 { return a.opts.Target }

// Since returns the estimator sequence number at the last ef change: pass
// RecallEstimator.EstimateSince(Since()) to Update.
func (a *Autopilot) Since() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.since
}

// Auto reports whether auto_ef is on.
func (a *Autopilot) Auto() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.auto
}

// SetAuto turns auto_ef on or off. Off, Update only reports health.
func (a *Autopilot) SetAuto(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.auto != on {
		a.mu.version++
	}
	a.mu.auto = on
}

// Version counts the changes of ef, auto_ef and the degraded state: a
// caller that persists the state compares it with the version it last wrote.
func (a *Autopilot) Version() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.version
}

// SetEf forces ef (clamped to the bounds), recording the change; seq is the
// estimator's current Estimate().Seq, so that older samples stop counting.
func (a *Autopilot) SetEf(ef int, seq uint64, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ef = min(max(ef, a.opts.EfMin), a.opts.EfMax)
	if ef != a.Ef() {
		a.changeLocked(ef, reason, Estimate{Seq: seq, From: seq})
	}
}

// Degraded reports whether the collection cannot hold its target, and why:
// the estimate's high end is below target and ef cannot rise (it is at EfMax,
// or auto_ef is off). It clears when an estimate's point value reaches the
// target.
func (a *Autopilot) Degraded() (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.degraded, a.mu.why
}

// Last returns the last estimate given to Update.
func (a *Autopilot) Last() Estimate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.last
}

// History returns the recorded changes, oldest first.
func (a *Autopilot) History() []Change {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Change(nil), a.mu.history...)
}

// Update feeds an estimate (from EstimateSince(Since())) and returns the ef
// to use, whether it changed, and the reason for the decision.
func (a *Autopilot) Update(est Estimate) (newEf int, changed bool, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Clock()
	a.mu.last = est
	o := &a.opts
	ef := a.Ef()
	if a.mu.fail != 0 && now.Sub(a.mu.failAt) > o.BoundMemory {
		a.mu.fail = 0
	}
	if a.mu.pass != 0 && now.Sub(a.mu.passAt) > o.BoundMemory {
		a.mu.pass = 0
	}
	if est.From < a.mu.since {
		return ef, false, fmt.Sprintf("estimate includes samples from before the last change (from seq %d < %d)", est.From, a.mu.since)
	}
	if est.Samples < o.MinSamples {
		return ef, false, fmt.Sprintf("waiting: %d of %d samples at ef %d", est.Samples, o.MinSamples, ef)
	}
	desc := fmt.Sprintf("recall %.3f [%.3f, %.3f] over %d samples, target %.3f", est.Recall, est.Low, est.High, est.Samples, o.Target)
	// Degraded needs the whole interval below the target; the autopilot
	// raises ef as soon as the point estimate is below it, so that it holds
	// the target rather than resting up to an interval's width under it.
	below := est.High < o.Target
	short := est.Recall < o.Target
	wasDegraded := a.mu.degraded
	defer func() {
		if a.mu.degraded != wasDegraded {
			a.mu.version++
		}
	}()
	switch {
	case est.Recall >= o.Target:
		a.mu.degraded, a.mu.why = false, ""
	case below && (!a.mu.auto || ef >= o.EfMax):
		a.mu.degraded = true
		if a.mu.auto {
			a.mu.why = fmt.Sprintf("%s: below target at ef_max %d", desc, o.EfMax)
		} else {
			a.mu.why = fmt.Sprintf("%s: below target at ef %d with auto_ef off", desc, ef)
		}
	}
	if !a.mu.auto {
		return ef, false, desc + ": auto_ef off"
	}
	switch {
	case short:
		a.mu.fail, a.mu.failAt = max(ef, a.mu.fail), now
		if a.mu.pass <= ef {
			a.mu.pass = 0
		}
		if ef >= o.EfMax {
			return ef, false, a.mu.why
		}
		next := min(o.EfMax, int(math.Ceil(float64(ef)*o.Raise)))
		if a.mu.pass > ef {
			next = min(next, a.mu.pass)
		}
		reason = fmt.Sprintf("%s: raise ef %d -> %d", desc, ef, next)
		a.changeLocked(next, reason, est)
		return next, true, reason
	case est.Low > o.Target+o.Margin:
		a.mu.pass, a.mu.passAt = ef, now
		if a.mu.fail >= ef {
			a.mu.fail = 0
		}
		next := max(o.EfMin, min(ef-1, int(math.Floor(float64(ef)*o.Lower))))
		if a.mu.fail != 0 {
			next = max(next, a.mu.fail+1)
		}
		if next >= ef {
			return ef, false, fmt.Sprintf("%s: hold ef %d (least cost: ef %d misses the target, or at ef_min)", desc, ef, ef-1)
		}
		reason = fmt.Sprintf("%s: lower ef %d -> %d", desc, ef, next)
		a.changeLocked(next, reason, est)
		return next, true, reason
	}
	return ef, false, fmt.Sprintf("%s: hold ef %d", desc, ef)
}

// changeLocked sets ef and records the change.
// REQUIRES: mu held.
func (a *Autopilot) changeLocked(ef int, reason string, est Estimate) {
	c := Change{At: a.opts.Clock(), From: a.Ef(), To: ef, Reason: reason, Estimate: est}
	a.ef.Store(int64(ef))
	a.mu.since = est.Seq
	a.mu.version++
	if len(a.mu.history) >= a.opts.History {
		n := copy(a.mu.history, a.mu.history[1:])
		a.mu.history = a.mu.history[:n]
	}
	a.mu.history = append(a.mu.history, c)
}

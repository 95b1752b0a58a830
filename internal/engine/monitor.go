package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/monitor"
	"github.com/sextantdb/sextant/internal/vec"
)

// The recall guardrails of one collection (internal/monitor wired in): a
// sample of live queries — and stored vectors used as queries when traffic
// is low — is re-run exactly in the collection's monitor rounds (run by the
// process's Scheduler) within a CPU budget; the rolling recall estimate
// drives the ef autopilot; written batches, queries and returned distances
// feed the drift detector. A round takes mu shared for each exact re-run,
// like a query, and writeMu only to append a guardrail record.

// MonitorOptions configure the recall guardrails.
type MonitorOptions struct {
	Budget       float64       // share of one core for exact re-runs; default 0.05
	MinInterval  time.Duration // idle probe interval; default 2 s
	RecallTarget float64       // default 0.95
	ManualEf     bool          // auto_ef off: the autopilot only reports
	EfMin, EfMax int           // autopilot bounds; default 10..1024
	MinSamples   int           // samples at one ef before the autopilot moves; default 200
	Metric       monitor.MetricOptions
	Clock        func() time.Time
}

// sampleJob is a query handed to the monitor worker.
type sampleJob struct {
	q      []float32
	k      int
	filter *filter.Filter
	approx []uint32
}

type monitorSet struct {
	opts   MonitorOptions
	est    *monitor.RecallEstimator
	samp   *monitor.Sampler
	ap     *monitor.Autopilot
	drift  *monitor.Drift
	ledger *monitor.Ledger
	metric *monitor.MetricCheck
	jobs   chan sampleJob
	sched  *Scheduler  // runs the monitor's rounds
	entry  *schedEntry // this collection's place in sched; nil until Open registers it
	rng    *rand.Rand  // the metric check's picks; monitor goroutine only

	// saved is what the last guardrail record covered (guardrails.go).
	// REQUIRES: Collection.writeMu.
	saved savedState

	plans [len(planKinds)]queryHist // query seconds by plan (lock-free)

	// activity counts what changed the collection or its guardrail state
	// other than an idle probe re-measuring a settled graph: commands
	// written, graph repairs, sampled live queries re-run, on-demand
	// measurements, probes while records wait for the indexer. Guardrail
	// changes made without it are persisted only when material
	// (appendGuardrailsLocked).
	activity atomic.Uint64

	mu struct {
		sync.Mutex
		degraded bool
		reason   string
		build    time.Duration // last index build
	}
}

func newMonitorSet(opts MonitorOptions, ef int, seed uint64) *monitorSet {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	m := &monitorSet{
		opts: opts,
		est:  monitor.NewRecallEstimator(monitor.RecallOptions{Clock: opts.Clock}),
		samp: monitor.NewSampler(monitor.SamplerOptions{Budget: opts.Budget, MinInterval: opts.MinInterval,
			Clock: opts.Clock, Rand: rand.New(rand.NewPCG(seed, 1))}),
		ap: monitor.NewAutopilot(monitor.AutopilotOptions{Target: opts.RecallTarget, EfMin: opts.EfMin, EfMax: opts.EfMax,
			Ef: ef, MinSamples: opts.MinSamples, Manual: opts.ManualEf, Clock: opts.Clock}),
		drift:  monitor.NewDrift(monitor.DriftOptions{}),
		ledger: monitor.NewLedger(monitor.LedgerOptions{}),
		metric: monitor.NewMetricCheck(opts.Metric),
		jobs:   make(chan sampleJob, 64),
		rng:    rand.New(rand.NewPCG(seed, 3)),
	}
	return m
}

// queryBounds are the bounds of the per-plan query duration histogram, in seconds.
var queryBounds = [...]float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

// planKinds are the plans whose query times are counted, in the order of
// monitorSet.plans.
var planKinds = [...]string{PlanExact, PlanHNSW, PlanHNSWFiltered, PlanTwoHop}

// queryHist is a histogram of query seconds over queryBounds that every
// query adds to with atomic adds: no lock on the query path.
type queryHist struct {
	counts [len(queryBounds) + 1]atomic.Uint64 // the last is +Inf
	nanos  atomic.Int64                        // sum of the durations
}

func (h *queryHist) observe(d time.Duration) {
	x := d.Seconds()
	i := 0
	for i < len(queryBounds) && x > queryBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.nanos.Add(int64(d))
}

// snapshot copies h into a monitor.Histogram; ok is false when it is empty.
// Concurrent queries may land in the copy or not, bucket by bucket.
func (h *queryHist) snapshot() (monitor.Histogram, bool) {
	out := monitor.NewHistogram(queryBounds[:])
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(h.nanos.Load()).Seconds()
	return out, out.Count > 0
}

func (m *monitorSet) observeQueryTime(plan string, d time.Duration) {
	for i, k := range planKinds {
		if k == plan {
			m.plans[i].observe(d)
			return
		}
	}
}

// observeWrite feeds a written batch (vectors as given) to drift detection
// and the finding ledger. It runs in log order (under writeMu, and during
// replay with the record's index and time), so that replay reproduces the
// verdicts of the live writes.
// REQUIRES: writeMu held, or exclusive access during Open.
func (c *Collection) observeWrite(ops []op, index uint64, at time.Time) {
	var raw [][]float32
	ref := &monitor.BatchRef{Index: index, At: at}
	for i := range ops {
		if ops[i].kind == opPut {
			raw = append(raw, ops[i].vec)
			if ref.FirstID == "" {
				ref.FirstID = ops[i].id
			}
			ref.LastID = ops[i].id
		}
	}
	if len(raw) == 0 {
		return
	}
	ref.Vectors = len(raw)
	c.judge(c.mon.drift.ObserveBatch(raw, c.cfg.Metric), at, ref)
}

// judge records a verdict in the ledger: its findings are raised (logged
// once, when newly open), its clean codes count as evidence that resolves
// open findings. An urgent change wakes the monitor loop to persist it.
func (c *Collection) judge(v monitor.Verdict, at time.Time, batch *monitor.BatchRef) {
	if v.Empty() {
		return
	}
	l := c.mon.ledger
	before := l.OpenVersion()
	for _, f := range v.Findings {
		if l.Raise(f, at, batch) && !c.replaying {
			c.log.Warn("guardrail finding", "code", f.Code, "severity", f.Severity.String(), "message", f.Message)
		}
	}
	for _, e := range v.Clean {
		if r, ok := l.Clean(e.Code, e.Units, at); ok && !c.replaying {
			c.log.Info("guardrail finding resolved", "code", e.Code, "resolution", r.Resolution,
				"first_seen", r.FirstSeen, "count", r.Count)
		}
	}
	if l.OpenVersion() != before {
		c.mon.kickPersist()
	}
}

// kickPersist wakes the monitor to persist an urgent change (or to run a
// sampled query).
func (m *monitorSet) kickPersist() {
	if m.entry != nil {
		m.sched.poke(m.entry)
	}
}

// effectiveEf is the ef of a query that gives none.
func (c *Collection) effectiveEf() int { return c.mon.ap.Ef() }

// offerSample hands a graph query to the monitor worker when the sampler
// picks it (never blocking the query).
func (c *Collection) offerSample(q []float32, k int, f *filter.Filter, res []vec.Neighbor) {
	if !c.mon.samp.Sample() {
		return
	}
	job := sampleJob{q: slices.Clone(q), k: k, filter: f, approx: make([]uint32, len(res))}
	for i, n := range res {
		job.approx[i] = n.Slot
	}
	select {
	case c.mon.jobs <- job:
		c.mon.kickPersist()
	default: // the worker is behind: drop it
		c.mon.samp.Done(0)
	}
}

// monitorRound is one round of the collection's monitor, run by the
// scheduler: it re-runs the sampled queries handed over, probes with a
// stored vector when a probe is due, runs the metric check and the
// autopilot, and persists the guardrail state (at once for urgent changes,
// else every persistInterval, and the idle probes' samples only when they
// changed something material: see appendGuardrailsLocked). It returns how long until the next round:
// the probe interval (a quarter of the sampler's idle interval, at most a
// second) while the collection is active; once it has been idle (no write,
// no sampled query) for idleAfter, half the time it has been idle, up to
// maxIdleWait; sooner when the metric check is learning.
func (c *Collection) monitorRound(e *schedEntry) time.Duration {
	active := false
	for range cap(c.mon.jobs) {
		var job sampleJob
		select {
		case job = <-c.mon.jobs:
		default:
		}
		if job.q == nil {
			break
		}
		c.measure(job)
		active = true
	}
	now := time.Now()
	if !now.Before(e.nextProbe) {
		c.probe()
	}
	c.metricProbe()
	c.steer()
	if err := c.persistGuardrails(false); err != nil {
		c.log.Error("persist guardrail state", "err", err)
	}
	// Activity: commands written or sampled queries (not the guardrail
	// records the rounds write themselves).
	if w := c.writes.Load(); w != e.lastWrites || active || e.wait == 0 {
		e.lastWrites, e.idleSince = w, now
	}
	base := min(max(c.mon.opts.MinInterval, 4*time.Millisecond)/4, time.Second)
	e.wait = base
	if idle := now.Sub(e.idleSince); idle >= idleAfter {
		e.wait = min(max(base, idle/2), maxIdleWait)
	}
	if !now.Before(e.nextProbe) {
		e.nextProbe = now.Add(e.wait)
	}
	c.mu.RLock()
	live := int(c.mu.live.GetCardinality())
	c.mu.RUnlock()
	wait := min(e.wait, time.Until(e.nextProbe))
	switch until := c.mon.metric.Until(c.mon.opts.Clock(), live); {
	case until == 0:
		wait = min(wait, 250*time.Millisecond) // due but deferred: the sampler's budget is spent
	default:
		wait = min(wait, until)
	}
	return max(wait, time.Millisecond)
}

// idleAfter is how long a collection has had no activity before its monitor
// rounds back off (see monitorRound).
const idleAfter = 10 * time.Second

// measure re-runs one sampled query exactly and records its recall.
func (c *Collection) measure(job sampleJob) {
	start := time.Now()
	c.mu.RLock()
	matches := c.mu.live
	if job.filter != nil {
		matches = c.mu.pidx.Eval(job.filter, c.mu.live, c.lookupLocked)
	}
	exact, _ := c.exactLocked(context.Background(), job.q, job.k, matches, nil)
	c.mu.RUnlock()
	c.mon.samp.Done(time.Since(start))
	ids := make([]uint32, len(exact))
	for i, n := range exact {
		ids[i] = n.Slot
	}
	c.mon.est.Observe(job.approx, ids, job.k, job.filter != nil, c.mon.opts.Clock())
	c.mon.activity.Add(1)
}

// probe uses a stored vector as a query when the sampler asks for one.
func (c *Collection) probe() {
	c.mu.RLock()
	g := c.mu.graph
	live := int(c.mu.live.GetCardinality())
	c.mu.RUnlock()
	if g == nil || live < 2 {
		return
	}
	idx, ok := c.mon.samp.Tick(live)
	if !ok {
		return
	}
	c.measureStored(idx, 10)
}

// measureStored searches with the idx-th live record's vector at the
// effective ef and compares with exact search, both without the record. A
// sample taken while records wait for the indexer (the graph is still
// changing) counts as activity.
func (c *Collection) measureStored(idx, k int) {
	start := time.Now()
	c.mu.RLock()
	g := c.mu.graph
	if g == nil || idx >= int(c.mu.live.GetCardinality()) {
		c.mu.RUnlock()
		return
	}
	slot, err := c.mu.live.Select(uint32(idx))
	if err != nil {
		c.mu.RUnlock()
		return
	}
	q := slices.Clone(c.mu.vectors.At(slot))
	settling := !c.mu.pending.IsEmpty() || !c.mu.inflight.IsEmpty()
	approx, _ := g.Search(q, k+1, max(c.effectiveEf(), k+1), nil, nil)
	approx, _, _ = c.withPendingLocked(context.Background(), q, k+1, nil, false, approx)
	exact, _ := c.exactLocked(context.Background(), q, k+1, c.mu.live, nil)
	c.mu.RUnlock()
	c.mon.samp.Done(time.Since(start))
	drop := func(ns []vec.Neighbor) []uint32 {
		out := make([]uint32, 0, k)
		for _, n := range ns {
			if n.Slot != slot && len(out) < k {
				out = append(out, n.Slot)
			}
		}
		return out
	}
	c.mon.est.Observe(drop(approx), drop(exact), k, false, c.mon.opts.Clock())
	if settling {
		c.mon.activity.Add(1)
	}
}

// MeasureRecall runs n stored vectors as queries now (an on-demand
// measurement, outside the CPU budget) and returns the estimate.
func (c *Collection) MeasureRecall(n int) monitor.Estimate {
	c.mu.RLock()
	live := int(c.mu.live.GetCardinality())
	c.mu.RUnlock()
	for i := 0; i < n && live > 1; i++ {
		c.measureStored(rand.IntN(live), 10)
	}
	c.mon.activity.Add(1) // asked for: persisted like a live sample
	c.steer()
	return c.mon.est.Estimate()
}

// steer runs the autopilot on the estimate and logs degraded transitions.
func (c *Collection) steer() {
	ap := c.mon.ap
	from := ap.Ef()
	if ef, changed, reason := ap.Update(c.mon.est.EstimateSince(ap.Since())); changed {
		c.log.Info("effective ef_search changed", "from", from, "to", ef, "reason", reason)
	}
	deg, reason := ap.Degraded()
	c.mon.mu.Lock()
	was := c.mon.mu.degraded
	c.mon.mu.degraded, c.mon.mu.reason = deg, reason
	c.mon.mu.Unlock()
	if c.replaying {
		return
	}
	switch {
	case deg && !was:
		c.log.Warn("collection degraded: recall below target", "reason", reason, "target", ap.Target())
	case !deg && was:
		c.log.Info("collection recall back at target", "target", ap.Target())
	}
}

// SetAutoEf switches the autopilot on or off, durably (the switch is part
// of the guardrail state). Off, the effective ef stays where it is (or where
// SetEfSearch puts it) and the monitor only reports.
func (c *Collection) SetAutoEf(on bool) error {
	if err := c.checkWritable(); err != nil {
		return err
	}
	c.mon.ap.SetAuto(on)
	return c.persistGuardrails(true)
}

// PersistGuardrails makes every guardrail change durable now (the caller
// has just changed something the monitor persists, e.g. SetEfSearch).
func (c *Collection) PersistGuardrails() error {
	if err := c.checkWritable(); err != nil {
		return err
	}
	return c.persistGuardrails(true)
}

// Health is the collection's recall and drift state.
type Health struct {
	Status       string // "ok" or "degraded"
	Reason       string
	Recall       monitor.Estimate
	Target       float64
	EffectiveEf  int
	AutoEf       bool
	EfHistory    []monitor.Change
	Findings     []monitor.OpenFinding     // open, most severe first
	Resolved     []monitor.ResolvedFinding // resolved recently, oldest first
	Muted        []string                  // acknowledged codes not raised again until their rule passes
	Metric       monitor.MetricReport      // the metric check
	Sampler      monitor.SamplerStats
	Drift        monitor.DriftStats
	NormHist     monitor.Histogram
	DistanceHist monitor.Histogram
	QueryHist    map[string]monitor.Histogram // seconds, by plan
	BuildSeconds float64                      // last HNSW build
}

// Health returns the collection's recall and drift state.
func (c *Collection) Health() Health {
	m := c.mon
	h := Health{
		Status: "ok", Recall: m.est.Estimate(), Target: m.ap.Target(), EffectiveEf: m.ap.Ef(), AutoEf: m.ap.Auto(),
		EfHistory: m.ap.History(), Sampler: m.samp.Stats(), Drift: m.drift.Stats(),
		Findings: m.ledger.Open(), Resolved: m.ledger.Resolved(), Muted: m.ledger.Muted(),
		Metric:   m.metric.Report(c.cfg.Metric),
		NormHist: m.drift.NormHistogram(), DistanceHist: m.drift.DistanceHistogram(),
		QueryHist: map[string]monitor.Histogram{},
	}
	if deg, reason := m.ap.Degraded(); deg {
		h.Status, h.Reason = "degraded", reason
	}
	for i, p := range planKinds {
		if hist, ok := m.plans[i].snapshot(); ok {
			h.QueryHist[p] = hist
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h.BuildSeconds = m.mu.build.Seconds()
	return h
}

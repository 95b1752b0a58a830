package engine

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/monitor"
	"github.com/sextantdb/sextant/internal/vec"
)

// The recall guardrails of one collection (internal/monitor wired in): a
// sample of live queries — and stored vectors used as queries when traffic
// is low — is re-run exactly by a background worker within a CPU budget;
// the rolling recall estimate drives the ef autopilot; written batches,
// queries and returned distances feed the drift detector. The worker never
// holds writeMu; it takes mu shared for each exact re-run, like a query.

// MonitorOptions configure the recall guardrails.
type MonitorOptions struct {
	Budget       float64       // share of one core for exact re-runs; default 0.05
	MinInterval  time.Duration // idle probe interval; default 2 s
	RecallTarget float64       // default 0.95
	ManualEf     bool          // auto_ef off: the autopilot only reports
	EfMin, EfMax int           // autopilot bounds; default 10..1024
	MinSamples   int           // samples at one ef before the autopilot moves; default 200
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
	opts  MonitorOptions
	est   *monitor.RecallEstimator
	samp  *monitor.Sampler
	ap    *monitor.Autopilot
	drift *monitor.Drift
	jobs  chan sampleJob

	mu struct {
		sync.Mutex
		findings map[string]Finding // latest per code
		degraded bool
		reason   string
		plans    map[string]*monitor.Histogram // query seconds by plan
		build    time.Duration                 // last index build
	}
}

// Finding is a drift or health finding with the time it was last seen.
type Finding struct {
	monitor.Finding
	At time.Time `json:"at"`
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
		drift: monitor.NewDrift(monitor.DriftOptions{}),
		jobs:  make(chan sampleJob, 64),
	}
	m.mu.findings = map[string]Finding{}
	m.mu.plans = map[string]*monitor.Histogram{}
	return m
}

// queryBounds are the bounds of the per-plan query duration histogram, in seconds.
var queryBounds = []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

func (m *monitorSet) record(fs []monitor.Finding, log func(monitor.Finding)) {
	if len(fs) == 0 {
		return
	}
	now := m.opts.Clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range fs {
		if _, seen := m.mu.findings[f.Code]; !seen {
			log(f)
		}
		m.mu.findings[f.Code] = Finding{Finding: f, At: now}
	}
}

func (m *monitorSet) observeQueryTime(plan string, d time.Duration) {
	m.mu.Lock()
	h := m.mu.plans[plan]
	if h == nil {
		nh := monitor.NewHistogram(queryBounds)
		h = &nh
		m.mu.plans[plan] = h
	}
	h.Observe(d.Seconds())
	m.mu.Unlock()
}

// observeWrite feeds a written batch (vectors as given) to drift detection.
func (c *Collection) observeWrite(ops []op) {
	var raw [][]float32
	for i := range ops {
		if ops[i].kind == opPut {
			raw = append(raw, ops[i].vec)
		}
	}
	if len(raw) == 0 {
		return
	}
	c.mon.record(c.mon.drift.ObserveBatch(raw, c.cfg.Metric), c.logFinding)
}

func (c *Collection) logFinding(f monitor.Finding) {
	c.log.Warn("drift finding", "code", f.Code, "severity", f.Severity.String(), "message", f.Message)
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
	default: // the worker is behind: drop it
		c.mon.samp.Done(0)
	}
}

// monitorLoop re-runs sampled queries exactly, probes with stored vectors
// when idle, and runs the autopilot.
func (c *Collection) monitorLoop() {
	defer c.bg.Done()
	tick := time.NewTicker(max(c.mon.opts.MinInterval, 4*time.Millisecond) / 4)
	defer tick.Stop()
	for {
		select {
		case <-c.closing:
			return
		case job := <-c.mon.jobs:
			c.measure(job)
		case <-tick.C:
			c.probe()
		}
		c.steer()
	}
}

// measure re-runs one sampled query exactly and records its recall.
func (c *Collection) measure(job sampleJob) {
	start := time.Now()
	c.mu.RLock()
	matches := c.mu.live
	if job.filter != nil {
		matches = c.mu.pidx.Eval(job.filter, c.mu.live, c.lookupLocked)
	}
	exact := c.exactLocked(job.q, job.k, matches, nil)
	c.mu.RUnlock()
	c.mon.samp.Done(time.Since(start))
	ids := make([]uint32, len(exact))
	for i, n := range exact {
		ids[i] = n.Slot
	}
	c.mon.est.Observe(job.approx, ids, job.k, job.filter != nil, c.mon.opts.Clock())
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
// effective ef and compares with exact search, both without the record.
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
	approx, _ := g.Search(q, k+1, max(c.effectiveEf(), k+1), nil, nil)
	exact := c.exactLocked(q, k+1, c.mu.live, nil)
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
	switch {
	case deg && !was:
		c.log.Warn("collection degraded: recall below target", "reason", reason, "target", ap.Target())
	case !deg && was:
		c.log.Info("collection recall back at target", "target", ap.Target())
	}
}

// SetAutoEf switches the autopilot on or off. Off, the effective ef stays
// where it is (or where SetEfSearch puts it) and the monitor only reports.
func (c *Collection) SetAutoEf(on bool) { c.mon.ap.SetAuto(on) }

// Health is the collection's recall and drift state.
type Health struct {
	Status       string // "ok" or "degraded"
	Reason       string
	Recall       monitor.Estimate
	Target       float64
	EffectiveEf  int
	AutoEf       bool
	EfHistory    []monitor.Change
	Findings     []Finding
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
		NormHist: m.drift.NormHistogram(), DistanceHist: m.drift.DistanceHistogram(),
		QueryHist: map[string]monitor.Histogram{},
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.degraded {
		h.Status, h.Reason = "degraded", m.mu.reason
	}
	for _, f := range m.mu.findings {
		h.Findings = append(h.Findings, f)
	}
	slices.SortFunc(h.Findings, func(a, b Finding) int { return int(b.Severity) - int(a.Severity) })
	for p, hist := range m.mu.plans {
		h.QueryHist[p] = hist.Clone()
	}
	h.BuildSeconds = m.mu.build.Seconds()
	return h
}

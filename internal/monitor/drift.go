package monitor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/vec"
)

// Severity ranks a Finding. The order is the doctor's exit status order.
type Severity uint8

// Severities, least first.
const (
	Info Severity = iota
	Warning
	Critical
)

// String returns info, warning or critical.
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText encodes the severity by name (for JSON).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding codes.
const (
	CodeNotNormalized         = "not_normalized"
	CodeNormShift             = "norm_shift"
	CodeDirectionShift        = "direction_shift"
	CodeQueryNormOutlier      = "query_norm_outlier"
	CodeQueryDirectionOutlier = "query_direction_outlier"
	CodeResultDistanceHigh    = "result_distance_high"
	CodeNearestDistanceShift  = "nearest_distance_shift"
)

// Codes lists every finding code, in the doctor's order.
func Codes() []string {
	return []string{CodeNotNormalized, CodeNormShift, CodeDirectionShift, CodeMetricMismatch,
		CodeQueryNormOutlier, CodeQueryDirectionOutlier, CodeResultDistanceHigh, CodeNearestDistanceShift}
}

// Finding is one thing the monitor noticed, with the figures behind it.
type Finding struct {
	Severity Severity           `json:"severity"`
	Code     string             `json:"code"`
	Message  string             `json:"message"`
	Figures  map[string]float64 `json:"figures"`
}

// Defaults of DriftOptions.
const (
	DefaultMinBaseline         = 500
	DefaultMinBatch            = 20
	DefaultUnitTolerance       = 1e-3
	DefaultUnitHistoryShare    = 0.99
	DefaultNonUnitShare        = 0.01
	DefaultDirectionCos        = 0.5
	DefaultMinDirectionSignal  = 0.8
	DefaultNormShiftSigma      = 1.0
	DefaultKSCoefficient       = 1.95 // α = 0.001
	DefaultMinKS               = 0.2
	DefaultQuerySigma          = 6.0
	DefaultQueryWindow         = 200
	DefaultQueryOutlierShare   = 0.2
	DefaultResultDistanceMax   = 1.5
	DefaultResultDistanceShare = 0.01
	DefaultResultWindow        = 1000
	DefaultNearestSigma        = 3.0
)

// DriftOptions configure a Drift. Zero fields take the defaults.
type DriftOptions struct {
	// MinBaseline: vectors in the history before any batch or query is
	// judged (DefaultMinBaseline). MinBatch: batches smaller than this are
	// judged for normalization only (DefaultMinBatch).
	MinBaseline int
	MinBatch    int
	// UnitTolerance: a norm within 1 ± UnitTolerance is unit
	// (DefaultUnitTolerance). A cosine history is "unit" when
	// UnitHistoryShare of its norms are (DefaultUnitHistoryShare); a batch
	// is then not_normalized when more than NonUnitShare of its norms are
	// not (DefaultNonUnitShare).
	UnitTolerance    float64
	UnitHistoryShare float64
	NonUnitShare     float64
	// DirectionCos: a batch (or a window of queries) whose mean direction
	// has a cosine below this with the history's is a direction shift
	// (DefaultDirectionCos). The rule only runs when, by the history's
	// concentration and the batch size, an unchanged batch would be expected
	// to reach MinDirectionSignal (DefaultMinDirectionSignal).
	DirectionCos       float64
	MinDirectionSignal float64
	// NormShiftSigma: a batch whose mean norm is this many history standard
	// deviations away (DefaultNormShiftSigma) AND whose bucketed KS statistic
	// is above max(MinKS, KSCoefficient·√((n+m)/(n·m))) is a norm shift.
	NormShiftSigma float64
	KSCoefficient  float64
	MinKS          float64
	// Queries are judged per window of QueryWindow queries: a query is an
	// outlier when its norm or its projection on the data's mean direction
	// is QuerySigma deviations off the data's; the window is flagged when
	// more than QueryOutlierShare are (DefaultQuerySigma,
	// DefaultQueryWindow, DefaultQueryOutlierShare).
	QuerySigma        float64
	QueryWindow       int
	QueryOutlierShare float64
	// Result distances (cosine and ip) above ResultDistanceMax are high; a
	// window of ResultWindow distances is flagged when more than
	// ResultDistanceShare are (1.5, 0.01, 1000).
	ResultDistanceMax   float64
	ResultDistanceShare float64
	ResultWindow        int
	// The distance of a query's nearest result (unfiltered queries, any
	// metric) is judged per window of QueryWindow queries against a
	// baseline of earlier windows (MinBaseline distances): the window is
	// flagged (nearest_distance_shift) when its mean is more than
	// NearestSigma standard deviations of single distances above the
	// baseline's mean (DefaultNearestSigma). Rotated ("another model")
	// queries move wordnet-use512's mean nearest cosine distance from
	// ~0.3 to ~0.9; the absolute rule above never fires on such data (the
	// farthest any direction gets is 1.16 there).
	NearestSigma float64
}

// EnsureDefaults fills the zero fields of o and returns it.
func (o DriftOptions) EnsureDefaults() DriftOptions {
	def := func(p *float64, v float64) {
		if *p <= 0 {
			*p = v
		}
	}
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defi(&o.MinBaseline, DefaultMinBaseline)
	defi(&o.MinBatch, DefaultMinBatch)
	def(&o.UnitTolerance, DefaultUnitTolerance)
	def(&o.UnitHistoryShare, DefaultUnitHistoryShare)
	def(&o.NonUnitShare, DefaultNonUnitShare)
	def(&o.DirectionCos, DefaultDirectionCos)
	def(&o.MinDirectionSignal, DefaultMinDirectionSignal)
	def(&o.NormShiftSigma, DefaultNormShiftSigma)
	def(&o.KSCoefficient, DefaultKSCoefficient)
	def(&o.MinKS, DefaultMinKS)
	def(&o.QuerySigma, DefaultQuerySigma)
	defi(&o.QueryWindow, DefaultQueryWindow)
	def(&o.QueryOutlierShare, DefaultQueryOutlierShare)
	def(&o.ResultDistanceMax, DefaultResultDistanceMax)
	def(&o.ResultDistanceShare, DefaultResultDistanceShare)
	defi(&o.ResultWindow, DefaultResultWindow)
	def(&o.NearestSigma, DefaultNearestSigma)
	return o
}

// welford is a running mean and variance.
type welford struct {
	n       float64
	mean, m float64
}

func (w *welford) add(x float64) {
	w.n++
	d := x - w.mean
	w.mean += d / w.n
	w.m += d * (x - w.mean)
}

func (w *welford) merge(o welford) {
	if o.n == 0 {
		return
	}
	n := w.n + o.n
	d := o.mean - w.mean
	w.mean += d * o.n / n
	w.m += o.m + d*d*w.n*o.n/n
	w.n = n
}

func (w welford) std() float64 {
	if w.n < 2 {
		return 0
	}
	return math.Sqrt(w.m / (w.n - 1))
}

// DriftStats summarize a Drift's history.
type DriftStats struct {
	Vectors       int     // vectors in the history (baseline)
	NormMean      float64 // of the history's norms
	NormStd       float64
	UnitShare     float64 // share of history norms within 1 ± UnitTolerance
	Concentration float64 // length of the mean of the normalized history vectors (0: isotropic, 1: one direction)
	Observed      uint64  // vectors seen by ObserveBatch, judged or not
	Rejected      uint64  // vectors of batches with findings, kept out of the history
	// The nearest-distance baseline: unfiltered queries judged normal, and
	// the mean and std of their nearest result's distance.
	NearestQueries int
	NearestMean    float64
	NearestStd     float64
}

// Drift watches one collection's incoming vectors, queries and result
// distances for changes against the collection's history.
//
// Batches with a warning or critical finding are kept out of the history,
// so a changed producer keeps being flagged until ResetBaseline. The
// exported norm histogram counts every vector.
//
// Drift is safe for concurrent use. The query side (ObserveQuery,
// ObserveResultDistances) takes no shared lock per query: a query reads an
// immutable snapshot of the baseline (an atomic pointer), adds to one of
// several stripes of window state picked at random (each with its own
// mutex, so that concurrent queries rarely meet), and counts itself with an
// atomic add; only the query that closes a window takes mu, to merge the
// stripes and judge the window.
type Drift struct {
	opts DriftOptions
	// base is the baseline the query side judges against, replaced (under
	// mu) whenever the history changes; nil while there is none.
	base atomic.Pointer[queryBase]
	// stripes hold the open query windows and the distance histogram.
	stripes []driftStripe
	mask    uint32 // len(stripes)-1
	// Window counters: queries judged (query window), unfiltered nearest
	// distances (nearest window), cosine/ip distances and those high
	// (result window).
	qcount, ncount atomic.Uint64
	rn, rHigh      atomic.Int64
	mu             struct {
		sync.Mutex
		dim      int
		norms    welford   // history norms
		unit     int       // history norms that are unit
		hist     Histogram // history norms, bucketed
		dirSum   []float64 // sum of the history's normalized vectors
		proj     welford   // history projections on the mean direction
		all      Histogram // every observed norm (exported)
		observed uint64
		rejected uint64
		qDirSum  []float64 // the closing query window's directions (scratch)
		// nearest-distance baseline
		nearest welford
	}
}

// queryBase is an immutable snapshot of what a query is judged against.
type queryBase struct {
	dim           int
	hn            float64   // vectors in the history
	normMean, sd  float64   // history norms; sd: max(std, UnitTolerance·mean)
	dirSum        []float64 // the history's sum of directions (a copy)
	mlen          float64   // its length
	projMean, psd float64   // history projections on the mean direction
	projN         float64
}

// driftStripe is one stripe of the query side's state: the open query and
// nearest windows and the result-distance histogram of the queries that
// picked it.
type driftStripe struct {
	mu                    sync.Mutex
	qn, qNormOut, qDirOut int
	qDirSum               []float64
	nw                    welford   // nearest distances of the open window
	dist                  Histogram // returned distances
	ver                   uint64    // changes made here to the saved state (QueryVersion)
	_                     [64]byte  // keeps neighbouring stripes off one cache line
}

// NewDrift returns a Drift with an empty history.
func NewDrift(opts DriftOptions) *Drift {
	n := 4
	for n < 2*runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	d := &Drift{opts: opts.EnsureDefaults(), stripes: make([]driftStripe, n), mask: uint32(n - 1)}
	d.mu.hist = NewHistogram(NormBounds())
	d.mu.all = NewHistogram(NormBounds())
	return d
}

// stripe picks a stripe at random (math/rand/v2's global source is per
// thread: no shared state).
func (d *Drift) stripe() *driftStripe { return &d.stripes[rand.Uint32()&d.mask] }

// publishLocked replaces the query side's snapshot of the baseline.
// REQUIRES: mu held.
func (d *Drift) publishLocked() {
	if d.mu.norms.n == 0 {
		d.base.Store(nil)
		return
	}
	b := &queryBase{dim: d.mu.dim, hn: d.mu.norms.n, normMean: d.mu.norms.mean,
		sd:     max(d.mu.norms.std(), d.opts.UnitTolerance*d.mu.norms.mean),
		dirSum: append([]float64(nil), d.mu.dirSum...), mlen: norm64(d.mu.dirSum),
		projMean: d.mu.proj.mean, psd: d.mu.proj.std(), projN: d.mu.proj.n}
	d.base.Store(b)
}

// resetQueriesLocked clears the open query windows, and with dist the
// distance histogram and the open result and nearest windows.
// REQUIRES: mu held.
func (d *Drift) resetQueriesLocked(dist bool) {
	d.qcount.Store(0)
	if dist {
		d.ncount.Store(0)
		d.rn.Store(0)
		d.rHigh.Store(0)
	}
	for i := range d.stripes {
		sh := &d.stripes[i]
		sh.mu.Lock()
		sh.qn, sh.qNormOut, sh.qDirOut, sh.qDirSum = 0, 0, 0, nil
		if dist {
			sh.nw, sh.dist = welford{}, Histogram{}
		}
		sh.mu.Unlock()
	}
}

// distHistogram merges the stripes' distance histograms (empty before any
// ObserveResultDistances).
func (d *Drift) distHistogram() Histogram {
	var h Histogram
	for i := range d.stripes {
		sh := &d.stripes[i]
		sh.mu.Lock()
		if sh.dist.Counts != nil {
			if h.Counts == nil {
				h = NewHistogram(sh.dist.Bounds)
			}
			if len(sh.dist.Counts) == len(h.Counts) {
				for j, c := range sh.dist.Counts {
					h.Counts[j] += c
				}
				h.Sum += sh.dist.Sum
				h.Count += sh.dist.Count
			}
		}
		sh.mu.Unlock()
	}
	return h
}

// setDistLocked replaces the distance histogram (a restore).
// REQUIRES: mu held.
func (d *Drift) setDistLocked(h Histogram) {
	for i := range d.stripes {
		sh := &d.stripes[i]
		sh.mu.Lock()
		sh.dist = Histogram{}
		if i == 0 {
			sh.dist = h
		}
		sh.mu.Unlock()
	}
}

// ResetBaseline forgets the history (after a deliberate model change); the
// next MinBaseline vectors build a new one.
func (d *Drift) ResetBaseline() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.norms, d.mu.unit, d.mu.proj = welford{}, 0, welford{}
	d.mu.hist = NewHistogram(NormBounds())
	d.mu.dirSum, d.mu.dim = nil, 0
	d.mu.nearest = welford{}
	d.resetQueriesLocked(false)
	for i := range d.stripes { // the open nearest window, not the histogram
		sh := &d.stripes[i]
		sh.mu.Lock()
		sh.nw = welford{}
		sh.mu.Unlock()
	}
	d.ncount.Store(0)
	d.publishLocked()
}

// Stats returns a summary of the history.
func (d *Drift) Stats() DriftStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DriftStats{
		Vectors:        int(d.mu.norms.n),
		NormMean:       d.mu.norms.mean,
		NormStd:        d.mu.norms.std(),
		Observed:       d.mu.observed,
		Rejected:       d.mu.rejected,
		NearestQueries: int(d.mu.nearest.n), NearestMean: d.mu.nearest.mean, NearestStd: d.mu.nearest.std(),
	}
	if d.mu.norms.n > 0 {
		st.UnitShare = float64(d.mu.unit) / d.mu.norms.n
		st.Concentration = norm64(d.mu.dirSum) / d.mu.norms.n
	}
	return st
}

// NormHistogram returns the histogram of every observed norm (before
// normalization), for sextant_vector_norm.
func (d *Drift) NormHistogram() Histogram {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.all.Clone()
}

// DistanceHistogram returns the histogram of returned distances, for
// sextant_result_distance (empty before ObserveResultDistances).
func (d *Drift) DistanceHistogram() Histogram { return d.distHistogram() }

func norm64(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func cos64(a, b []float64) float64 {
	var ab float64
	for i := range a {
		ab += a[i] * b[i]
	}
	na, nb := norm64(a), norm64(b)
	if na == 0 || nb == 0 {
		return math.NaN()
	}
	return ab / (na * nb)
}

// expectedCos is the cosine an unchanged batch of n vectors is expected to
// have with the history's mean direction, given the history's concentration
// r: the batch mean is the true mean (length r) plus noise of squared length
// about (1-r²)/n.
func expectedCos(r float64, n int) float64 {
	if r <= 0 || n <= 0 {
		return 0
	}
	return r / math.Sqrt(r*r+(1-r*r)/float64(n))
}

// ObserveBatch judges one write batch (vectors as the client sent them,
// before normalization) against the history, then adds it to the history
// unless a finding says it departs. Before the history holds MinBaseline
// vectors it only builds the baseline.
func (d *Drift) ObserveBatch(vectors [][]float32, metric vec.Metric) Verdict {
	if len(vectors) == 0 {
		return Verdict{}
	}
	o := &d.opts
	dim := len(vectors[0])
	// Batch statistics, outside the lock.
	var bw welford
	bh := NewHistogram(NormBounds())
	bdir := make([]float64, dim)
	nonUnit := 0
	minN, maxN := math.Inf(1), math.Inf(-1)
	norms := make([]float64, len(vectors))
	for i, v := range vectors {
		if len(v) != dim {
			continue
		}
		n := vec.Norm(v)
		norms[i] = n
		bw.add(n)
		bh.Observe(n)
		minN, maxN = min(minN, n), max(maxN, n)
		if math.Abs(n-1) > o.UnitTolerance {
			nonUnit++
		}
		if n > 0 {
			for j, x := range v {
				bdir[j] += float64(x) / n
			}
		}
	}
	b := int(bw.n)
	if b == 0 {
		return Verdict{}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.observed += uint64(b)
	for _, n := range norms {
		d.mu.all.Observe(n)
	}
	if d.mu.dim == 0 {
		d.mu.dim = dim
		d.mu.dirSum = make([]float64, dim)
	}
	if dim != d.mu.dim {
		return Verdict{} // the engine refuses such a batch; nothing to learn
	}
	var out []Finding
	var judged []string
	hn := d.mu.norms.n
	if int(hn) >= o.MinBaseline {
		unitShare := float64(d.mu.unit) / hn
		nonUnitShare := float64(nonUnit) / float64(b)
		unitRule := metric == vec.Cosine && unitShare >= o.UnitHistoryShare
		if unitRule {
			judged = append(judged, CodeNotNormalized)
		}
		if unitRule && nonUnitShare > o.NonUnitShare {
			out = append(out, Finding{
				Severity: Critical,
				Code:     CodeNotNormalized,
				Message: fmt.Sprintf("cosine collection of unit vectors received a batch of %d vectors with norms %.3g–%.3g (%.0f%% not unit): the producer stopped normalizing, or its model changed; normalize at the source and check the embedding model",
					b, minN, maxN, 100*nonUnitShare),
				Figures: map[string]float64{
					"batch_vectors": float64(b), "batch_norm_min": minN, "batch_norm_max": maxN, "batch_norm_mean": bw.mean,
					"batch_non_unit_share": nonUnitShare, "history_unit_share": unitShare, "unit_tolerance": o.UnitTolerance,
				},
			})
		} else if b >= o.MinBatch {
			judged = append(judged, CodeNormShift)
			sd := max(d.mu.norms.std(), o.UnitTolerance*d.mu.norms.mean)
			shift := math.Abs(bw.mean-d.mu.norms.mean) / sd
			ks := bh.KS(d.mu.hist)
			crit := max(o.MinKS, o.KSCoefficient*math.Sqrt((hn+float64(b))/(hn*float64(b))))
			// Both the mean and the shape must move: batches of ordered data
			// (word vectors by frequency, documents by topic) shift one of
			// them alone without any change of model.
			if shift > o.NormShiftSigma && ks > crit {
				out = append(out, Finding{
					Severity: Warning,
					Code:     CodeNormShift,
					Message: fmt.Sprintf("batch of %d vectors has mean norm %.4g against %.4g ± %.3g in the history (%.1fσ; KS %.2f, limit %.2f): the embedding model or its preprocessing may have changed",
						b, bw.mean, d.mu.norms.mean, d.mu.norms.std(), shift, ks, crit),
					Figures: map[string]float64{
						"batch_vectors": float64(b), "batch_norm_mean": bw.mean, "batch_norm_std": bw.std(),
						"history_norm_mean": d.mu.norms.mean, "history_norm_std": d.mu.norms.std(),
						"shift_sigma": shift, "ks": ks, "ks_limit": crit,
					},
				})
			}
		}
		if b >= o.MinBatch {
			r := norm64(d.mu.dirSum) / hn
			exp := expectedCos(r, b)
			if r >= 3/math.Sqrt(hn) && exp >= o.MinDirectionSignal {
				judged = append(judged, CodeDirectionShift)
				c := cos64(bdir, d.mu.dirSum)
				if c < o.DirectionCos {
					out = append(out, Finding{
						Severity: Warning,
						Code:     CodeDirectionShift,
						Message: fmt.Sprintf("batch of %d vectors points elsewhere than the collection: cosine %.3f between mean directions (expected about %.3f, limit %.2f): a different embedding model? Pin the model and re-embed, or re-index into a new collection",
							b, c, exp, o.DirectionCos),
						Figures: map[string]float64{
							"batch_vectors": float64(b), "cosine": c, "expected_cosine": exp, "limit": o.DirectionCos,
							"history_concentration": r, "batch_concentration": norm64(bdir) / float64(b),
						},
					})
				}
			}
		}
	}
	v := verdict(out, judged, b)
	if len(out) > 0 {
		d.mu.rejected += uint64(b)
		return v
	}
	d.absorbLocked(vectors, norms, bdir)
	return v
}

// Absorb adds vectors (as given, before normalization) to the history
// without judging them: it seeds a baseline from data already stored, when
// no saved baseline exists. The exported norm histogram counts them too.
func (d *Drift) Absorb(vectors [][]float32) {
	if len(vectors) == 0 {
		return
	}
	dim := len(vectors[0])
	norms := make([]float64, len(vectors))
	bdir := make([]float64, dim)
	for i, v := range vectors {
		if len(v) != dim {
			continue
		}
		n := vec.Norm(v)
		norms[i] = n
		if n > 0 {
			for j, x := range v {
				bdir[j] += float64(x) / n
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.dim == 0 {
		d.mu.dim = dim
		d.mu.dirSum = make([]float64, dim)
	}
	if dim != d.mu.dim {
		return
	}
	for i, v := range vectors {
		if len(v) == dim {
			d.mu.all.Observe(norms[i])
			d.mu.observed++
		}
	}
	d.absorbLocked(vectors, norms, bdir)
}

// Verdict is what one observation judged: the findings it raised, and the
// rules that ran and found nothing (evidence that resolves an open finding
// of that code; see Ledger).
type Verdict struct {
	Findings []Finding
	Clean    []Evidence
}

// Evidence is one rule that judged Units (the vectors of a batch, the
// queries or distances of a closed window, the samples of a metric check)
// and found them within bounds.
type Evidence struct {
	Code  string
	Units int
}

// Empty reports a verdict that judged nothing.
func (v Verdict) Empty() bool { return len(v.Findings) == 0 && len(v.Clean) == 0 }

// CleanCodes lists the codes of v.Clean.
func (v Verdict) CleanCodes() []string {
	var out []string
	for _, e := range v.Clean {
		out = append(out, e.Code)
	}
	return out
}

// verdict builds a Verdict: the judged codes that raised nothing are clean.
func verdict(found []Finding, judged []string, units int) Verdict {
	v := Verdict{Findings: found}
	for _, code := range judged {
		raised := false
		for _, f := range found {
			raised = raised || f.Code == code
		}
		if !raised {
			v.Clean = append(v.Clean, Evidence{Code: code, Units: units})
		}
	}
	return v
}

// absorbLocked adds a batch to the history.
// REQUIRES: mu held.
func (d *Drift) absorbLocked(vectors [][]float32, norms []float64, bdir []float64) {
	mean := d.mu.dirSum
	mlen := norm64(mean)
	var pw welford
	for i, v := range vectors {
		n := norms[i]
		if len(v) != d.mu.dim {
			continue
		}
		d.mu.norms.add(n)
		d.mu.hist.Observe(n)
		if math.Abs(n-1) <= d.opts.UnitTolerance {
			d.mu.unit++
		}
		if n > 0 && mlen > 0 {
			var p float64
			for j, x := range v {
				p += float64(x) * mean[j]
			}
			pw.add(p / (n * mlen))
		}
	}
	d.mu.proj.merge(pw)
	for j, x := range bdir {
		d.mu.dirSum[j] += x
	}
	d.publishLocked()
}

// ObserveQuery judges one query vector (before normalization). It returns
// findings only at the end of each window of QueryWindow queries, when the
// window's queries do not look like the stored data. It takes no shared
// lock, except in the query that closes a window (see Drift).
func (d *Drift) ObserveQuery(q []float32) Verdict {
	o := &d.opts
	b := d.base.Load()
	if b == nil || int(b.hn) < o.MinBaseline || len(q) != b.dim {
		return Verdict{}
	}
	n := vec.Norm(q)
	if n == 0 {
		return Verdict{}
	}
	normOut := math.Abs(n-b.normMean)/b.sd > o.QuerySigma
	var p float64
	inv := 1 / n
	sh := d.stripe()
	sh.mu.Lock()
	if len(sh.qDirSum) != b.dim {
		sh.qDirSum = make([]float64, b.dim)
	}
	dirSum, qDirSum := b.dirSum[:len(q)], sh.qDirSum[:len(q)]
	for j, x := range q {
		p += float64(x) * dirSum[j]
		qDirSum[j] += float64(x) * inv
	}
	if normOut {
		sh.qNormOut++
	}
	if b.mlen > 0 && b.projN >= 2 {
		p /= n * b.mlen
		if b.psd > 0 && (b.projMean-p)/b.psd > o.QuerySigma {
			sh.qDirOut++
		}
	}
	sh.qn++
	sh.mu.Unlock()
	if d.qcount.Add(1)%uint64(o.QueryWindow) != 0 {
		return Verdict{}
	}
	return d.closeQueryWindow()
}

// closeQueryWindow merges the stripes' query windows and judges them.
func (d *Drift) closeQueryWindow() Verdict {
	o := &d.opts
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.mu.qDirSum) != d.mu.dim {
		d.mu.qDirSum = make([]float64, d.mu.dim)
	}
	sum := d.mu.qDirSum
	clear(sum)
	var qn, qNormOut, qDirOut int
	for i := range d.stripes {
		sh := &d.stripes[i]
		sh.mu.Lock()
		if len(sh.qDirSum) == len(sum) {
			for j, x := range sh.qDirSum {
				sum[j] += x
			}
		}
		qn, qNormOut, qDirOut = qn+sh.qn, qNormOut+sh.qNormOut, qDirOut+sh.qDirOut
		sh.qn, sh.qNormOut, sh.qDirOut = 0, 0, 0
		clear(sh.qDirSum)
		sh.mu.Unlock()
	}
	hn := d.mu.norms.n
	if qn == 0 || int(hn) < o.MinBaseline {
		return Verdict{}
	}
	var out []Finding
	w := float64(qn)
	if share := float64(qNormOut) / w; share > o.QueryOutlierShare {
		out = append(out, Finding{
			Severity: Warning,
			Code:     CodeQueryNormOutlier,
			Message: fmt.Sprintf("%.0f%% of the last %d queries have norms unlike the stored vectors (%.4g ± %.3g): the query encoder may differ from the one that embedded the data",
				100*share, qn, d.mu.norms.mean, d.mu.norms.std()),
			Figures: map[string]float64{"queries": w, "outlier_share": share, "history_norm_mean": d.mu.norms.mean, "history_norm_std": d.mu.norms.std(), "sigma": o.QuerySigma},
		})
	}
	r := norm64(d.mu.dirSum) / hn
	exp := expectedCos(r, qn)
	c := cos64(sum, d.mu.dirSum)
	share := float64(qDirOut) / w
	if share > o.QueryOutlierShare || (r >= 3/math.Sqrt(hn) && exp >= o.MinDirectionSignal && c < o.DirectionCos) {
		out = append(out, Finding{
			Severity: Info,
			Code:     CodeQueryDirectionOutlier,
			Message: fmt.Sprintf("the last %d queries point elsewhere than the stored vectors (cosine %.3f between mean directions, %.0f%% outliers): check that queries and data use the same embedding model",
				qn, c, 100*share),
			Figures: map[string]float64{"queries": w, "cosine": c, "expected_cosine": exp, "outlier_share": share, "history_concentration": r},
		})
	}
	return verdict(out, []string{CodeQueryNormOutlier, CodeQueryDirectionOutlier}, qn)
}

// ObserveResultDistances records the distances a query returned (nearest
// first), for the histogram and two rules:
//
//   - result_distance_high, for cosine and ip: at the end of each window of
//     ResultWindow distances, a finding when more than ResultDistanceShare
//     exceed ResultDistanceMax;
//   - nearest_distance_shift, any metric, unfiltered queries only (a filter
//     moves the nearest match away legitimately): the nearest distance is
//     judged per window of QueryWindow queries against the baseline of
//     earlier clean windows (see DriftOptions.NearestSigma).
//
// The Verdict covers the windows that closed with this query. It takes no
// shared lock, except in a query that closes a window (see Drift).
func (d *Drift) ObserveResultDistances(dists []float32, metric vec.Metric, unfiltered bool) Verdict {
	o := &d.opts
	cosLike := metric != vec.L2
	high := 0
	near := unfiltered && len(dists) > 0 && !math.IsNaN(float64(dists[0])) && !math.IsInf(float64(dists[0]), 0)
	sh := d.stripe()
	sh.mu.Lock()
	sh.ver++
	if sh.dist.Counts == nil {
		sh.dist = NewHistogram(DistanceBounds(cosLike))
	}
	for _, x := range dists {
		sh.dist.Observe(float64(x))
		if cosLike && float64(x) > o.ResultDistanceMax {
			high++
		}
	}
	if near {
		sh.nw.add(float64(dists[0]))
	}
	sh.mu.Unlock()
	var v Verdict
	if near && d.ncount.Add(1)%uint64(o.QueryWindow) == 0 {
		v = d.closeNearestWindow(metric)
	}
	if !cosLike || len(dists) == 0 {
		return v
	}
	if high > 0 {
		d.rHigh.Add(int64(high))
	}
	if d.rn.Add(int64(len(dists))) < int64(o.ResultWindow) {
		return v
	}
	r := d.closeResultWindow(metric)
	v.Findings = append(v.Findings, r.Findings...)
	v.Clean = append(v.Clean, r.Clean...)
	return v
}

// closeResultWindow judges the distances of the result window, unless
// another query closed it meanwhile.
func (d *Drift) closeResultWindow(metric vec.Metric) Verdict {
	o := &d.opts
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rn.Load() < int64(o.ResultWindow) {
		return Verdict{}
	}
	n := d.rn.Swap(0)
	share := float64(d.rHigh.Swap(0)) / float64(n)
	var found []Finding
	if share > o.ResultDistanceShare {
		found = []Finding{{
			Severity: Warning,
			Code:     CodeResultDistanceHigh,
			Message: fmt.Sprintf("%.1f%% of the last %d returned %v distances exceed %.2f: results are far from the queries (query/data model mismatch, or unnormalized vectors)",
				100*share, n, metric, o.ResultDistanceMax),
			Figures: map[string]float64{"distances": float64(n), "high_share": share, "limit": o.ResultDistanceMax, "rate_limit": o.ResultDistanceShare},
		}}
	}
	return verdict(found, []string{CodeResultDistanceHigh}, int(n))
}

// closeNearestWindow merges the stripes' nearest-distance windows and
// judges the window against the baseline; clean windows join the baseline.
func (d *Drift) closeNearestWindow(metric vec.Metric) Verdict {
	o := &d.opts
	d.mu.Lock()
	defer d.mu.Unlock()
	var w welford
	for i := range d.stripes {
		sh := &d.stripes[i]
		sh.mu.Lock()
		w.merge(sh.nw)
		sh.nw = welford{}
		sh.mu.Unlock()
	}
	if w.n == 0 {
		return Verdict{}
	}
	base := d.mu.nearest
	if int(base.n) < o.MinBaseline {
		d.mu.nearest.merge(w)
		return Verdict{}
	}
	sd := max(base.std(), 1e-6*math.Abs(base.mean), 1e-9)
	shift := (w.mean - base.mean) / sd
	judged := []string{CodeNearestDistanceShift}
	if shift <= o.NearestSigma {
		d.mu.nearest.merge(w)
		return verdict(nil, judged, int(w.n))
	}
	return verdict([]Finding{{
		Severity: Warning,
		Code:     CodeNearestDistanceShift,
		Message: fmt.Sprintf("the last %d queries' nearest results are at %v distance %.4g on average, against %.4g ± %.3g for the queries before (%.1fσ, limit %.1fσ): "+
			"the queries do not come from the data's embedding model (or lost their normalization); check the query path's model against the pinned one",
			int(w.n), metric, w.mean, base.mean, base.std(), shift, o.NearestSigma),
		Figures: map[string]float64{"queries": w.n, "window_mean": w.mean, "window_std": w.std(),
			"baseline_mean": base.mean, "baseline_std": base.std(), "baseline_queries": base.n, "shift_sigma": shift, "limit_sigma": o.NearestSigma},
	}}, judged, int(w.n))
}

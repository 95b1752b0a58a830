package monitor

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sextantdb/sextant/internal/vec"
)

// CodeMetricMismatch is the metric check's finding.
const CodeMetricMismatch = "metric_mismatch"

// Defaults of MetricOptions.
const (
	DefaultMetricK            = 10
	DefaultMetricMinSamples   = 32
	DefaultMetricWindow       = 64
	DefaultMetricFastInterval = 100 * time.Millisecond
	DefaultMetricSlowInterval = 10 * time.Second
	DefaultMetricMinLive      = 100
	// Norms "vary widely" above this coefficient of variation (std/mean of
	// the stored vectors' norms). Unit vectors have ~1e-7; GloVe-25 0.15;
	// Fashion-MNIST pixels 0.31.
	DefaultMetricVaryCV = 0.05
	// Top-k lists of two metrics "overlap little" below this share.
	DefaultMetricLowOverlap = 0.9
	// The data are "signed" (a learned embedding) when at least this share
	// of the sampled vectors' components is negative; raw features (pixels,
	// counts, histograms) have none.
	DefaultMetricSignedShare = 0.05
	// A raised finding resolves only when the data are clear of the rule by
	// this margin (a share of each bound), so that it does not flap.
	metricHysteresis = 0.2
)

// MetricOptions configure a MetricCheck. Zero fields take the defaults.
type MetricOptions struct {
	K            int           // the top-k compared (DefaultMetricK)
	MinSamples   int           // stored vectors checked before a verdict (DefaultMetricMinSamples)
	Window       int           // samples kept, newest (DefaultMetricWindow)
	FastInterval time.Duration // between samples until MinSamples (DefaultMetricFastInterval)
	SlowInterval time.Duration // between samples after (DefaultMetricSlowInterval)
	MinLive      int           // no check below this many records (DefaultMetricMinLive)
	VaryCV       float64
	LowOverlap   float64
	SignedShare  float64
}

// EnsureDefaults fills the zero fields of o and returns it.
func (o MetricOptions) EnsureDefaults() MetricOptions {
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def := func(p *float64, v float64) {
		if *p <= 0 {
			*p = v
		}
	}
	defi(&o.K, DefaultMetricK)
	defi(&o.MinSamples, DefaultMetricMinSamples)
	defi(&o.Window, DefaultMetricWindow)
	defi(&o.MinLive, DefaultMetricMinLive)
	o.Window = max(o.Window, o.MinSamples)
	if o.FastInterval <= 0 {
		o.FastInterval = DefaultMetricFastInterval
	}
	if o.SlowInterval <= 0 {
		o.SlowInterval = DefaultMetricSlowInterval
	}
	def(&o.VaryCV, DefaultMetricVaryCV)
	def(&o.LowOverlap, DefaultMetricLowOverlap)
	def(&o.SignedShare, DefaultMetricSignedShare)
	return o
}

// MetricSample is one stored vector run as a query under every metric: the
// share of the collection metric's exact top-k (the vector itself left out)
// that each metric's exact top-k also holds (NaN for the collection's own),
// and the sign make-up of the vector.
type MetricSample struct {
	Cosine, L2, IP float64
	Negative       int // components < 0
	Components     int
}

// NormSummary describes the norms of a collection's stored vectors (as
// given, before normalization).
type NormSummary struct {
	Count          int
	Mean, Std      float64
	Min, Max       float64
	UnitShare      float64 // within 1 ± 1e-3
	FromCollection bool    // computed over every live record (not a sample)
}

// CV is the coefficient of variation, std/mean (0 without norms).
func (n NormSummary) CV() float64 {
	if n.Count == 0 || n.Mean == 0 {
		return 0
	}
	return n.Std / n.Mean
}

// MetricReport is the metric check's state, for health documents.
type MetricReport struct {
	Metric  string  `json:"metric"`
	Samples int     `json:"samples"`
	K       int     `json:"k"`
	Cosine  float64 `json:"overlap_cosine"` // NaN when not computed (the collection's own metric)
	L2      float64 `json:"overlap_l2"`
	IP      float64 `json:"overlap_ip"`
	// NegativeShare: the share of negative components of the sampled
	// vectors (0 for raw non-negative features, ~0.5 for embeddings).
	NegativeShare float64     `json:"negative_share"`
	Norms         NormSummary `json:"norms"`
	// Verdict: "pending" (too few samples), "ok", "mismatch: made for X",
	// or "inconclusive: near a bound" (inside a rule's hysteresis margin).
	Verdict string `json:"verdict"`
	// Suggested is the metric the data look made for ("" when pending).
	Suggested string    `json:"suggested"`
	At        time.Time `json:"at"` // the newest sample
}

// MetricCheck watches for the seed's "wrong metric" mistake, which recall
// against exact search in the collection's own metric cannot see: it
// compares, on stored vectors used as queries, the exact top-k under the
// collection's metric with the exact top-k under the others (cosine, l2,
// ip), and judges the overlap together with how widely the norms vary and
// whether the data are signed (a learned embedding) or not (raw features):
//
//   - ip over norms with CV > VaryCV and top-k overlap with cosine below
//     LowOverlap: critical. Inner product then ranks by norm as much as by
//     direction (recall against cosine truth 0.02 on GloVe). Made for
//     cosine when signed, l2 otherwise.
//   - l2 over signed vectors with CV > VaryCV and overlap with cosine below
//     LowOverlap: warning, made for cosine (embedding models are trained
//     for cosine; GloVe in l2 keeps 0.72 of its cosine neighbours).
//     Non-negative raw features in l2 are what l2 is for (Fashion-MNIST: no
//     finding, though its norms vary and the overlap is 0.50).
//   - cosine over non-negative vectors with CV > VaryCV and overlap with l2
//     below LowOverlap: info, made for l2 (cosine drops the norms, which
//     carry signal in raw features). Signed vectors in cosine (GloVe) are
//     what cosine is for.
//
// The engine runs the exact searches (one pass over the collection per
// sample, charged to the monitor's CPU budget) and feeds the results here.
//
// MetricCheck is safe for concurrent use.
type MetricCheck struct {
	opts MetricOptions
	mu   struct {
		sync.Mutex
		ring      []MetricSample
		head, n   int
		norms     NormSummary
		last      time.Time
		state     metricState // of the last evaluation
		suggested string
		version   uint64
	}
}

type metricState uint8

const (
	metricPending metricState = iota
	metricOK
	metricMismatch
	metricInconclusive // enough samples, inside a rule's margin: neither raised nor clear
)

// NewMetricCheck returns an empty check.
func NewMetricCheck(opts MetricOptions) *MetricCheck {
	opts = opts.EnsureDefaults()
	m := &MetricCheck{opts: opts}
	m.mu.ring = make([]MetricSample, opts.Window)
	return m
}

// K returns the top-k the check compares.
func (m *MetricCheck) K() int { return m.opts.K }

// Due reports whether a sample should be taken at now, for a collection of
// live records.
func (m *MetricCheck) Due(now time.Time, live int) bool {
	if live < m.opts.MinLive {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	iv := m.opts.SlowInterval
	if m.mu.n < m.opts.MinSamples {
		iv = m.opts.FastInterval
	}
	return now.Sub(m.mu.last) >= iv
}

// Until returns how long from now until a sample is due (0 if it is), for
// a collection of live records (a long time when live is below MinLive).
func (m *MetricCheck) Until(now time.Time, live int) time.Duration {
	if live < m.opts.MinLive {
		return time.Hour
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	iv := m.opts.SlowInterval
	if m.mu.n < m.opts.MinSamples {
		iv = m.opts.FastInterval
	}
	return max(m.mu.last.Add(iv).Sub(now), 0)
}

// Observe adds one sample (with the norms of the collection now) and, once
// MinSamples are held, judges the window: the verdict raises
// metric_mismatch, or reports it clean when the data are clear of every rule
// by a margin (so that a finding does not flap at a bound).
func (m *MetricCheck) Observe(s MetricSample, norms NormSummary, metric vec.Metric, now time.Time) Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := len(m.mu.ring)
	if m.mu.n < w {
		m.mu.ring[(m.mu.head+m.mu.n)%w] = s
		m.mu.n++
	} else {
		m.mu.ring[m.mu.head] = s
		m.mu.head = (m.mu.head + 1) % w
	}
	m.mu.norms, m.mu.last = norms, now
	m.mu.version++
	if m.mu.n < m.opts.MinSamples {
		return Verdict{}
	}
	rep := m.reportLocked(metric)
	f, suggested, clean := m.judge(metric, rep)
	switch {
	case f != nil:
		m.mu.state, m.mu.suggested = metricMismatch, suggested
		return Verdict{Findings: []Finding{*f}}
	case clean:
		m.mu.state, m.mu.suggested = metricOK, metric.String()
		return Verdict{Clean: []Evidence{{Code: CodeMetricMismatch, Units: rep.Samples}}}
	case m.mu.state == metricPending:
		m.mu.state = metricInconclusive
	}
	return Verdict{}
}

// judge applies the rules (see MetricCheck) to a report: a finding and the
// metric the data look made for; or clean, when the data are clear of the
// rule by the hysteresis margin; or neither (inside the margin).
func (m *MetricCheck) judge(metric vec.Metric, rep MetricReport) (*Finding, string, bool) {
	o := &m.opts
	cv := rep.Norms.CV()
	signed := rep.NegativeShare >= o.SignedShare
	// The rule fires when all three hold; it is clear when one of them is
	// false by the margin.
	varies := cv > o.VaryCV
	variesLoose := cv > o.VaryCV*(1-metricHysteresis)
	var alt float64 // overlap with the metric the rule compares against
	var altName string
	var fires, loose bool
	var sev Severity
	var suggested vec.Metric
	switch metric {
	case vec.IP:
		alt, altName, sev = rep.Cosine, "cosine", Critical
		suggested = vec.Cosine
		if !signed {
			suggested = vec.L2
		}
		fires = varies && alt < o.LowOverlap
		loose = variesLoose && alt < o.LowOverlap+(1-o.LowOverlap)*metricHysteresis*2
	case vec.L2:
		alt, altName, sev, suggested = rep.Cosine, "cosine", Warning, vec.Cosine
		fires = signed && varies && alt < o.LowOverlap
		loose = rep.NegativeShare >= o.SignedShare*(1-metricHysteresis) && variesLoose &&
			alt < o.LowOverlap+(1-o.LowOverlap)*metricHysteresis*2
	default:
		alt, altName, sev, suggested = rep.L2, "l2", Info, vec.L2
		fires = !signed && varies && alt < o.LowOverlap
		loose = rep.NegativeShare < o.SignedShare*(1+metricHysteresis) && variesLoose &&
			alt < o.LowOverlap+(1-o.LowOverlap)*metricHysteresis*2
	}
	if math.IsNaN(alt) {
		return nil, "", false
	}
	if !fires {
		return nil, "", !loose
	}
	kind := "signed components, like a learned embedding"
	if !signed {
		kind = "non-negative components, like raw features (pixels, counts, histograms)"
	}
	figs := map[string]float64{
		"samples": float64(rep.Samples), "k": float64(rep.K), "overlap_" + altName: alt,
		"norm_cv": cv, "norm_mean": rep.Norms.Mean, "norm_min": rep.Norms.Min, "norm_max": rep.Norms.Max,
		"negative_share": rep.NegativeShare, "cv_limit": o.VaryCV, "overlap_limit": o.LowOverlap,
	}
	var msg string
	switch metric {
	case vec.IP:
		msg = fmt.Sprintf("ip collection over vectors whose norms vary (CV %.3g, %.3g-%.3g): inner product ranks them by norm as much as by direction; "+
			"its exact top-%d shares only %.2f with cosine's over %d stored vectors. The data have %s and look made for %s. "+
			"Fix: re-create the collection with hnsw:space %s and re-insert (Sextant normalizes cosine vectors on write), or normalize the vectors at the source. "+
			"If the norms are meant to rank (maximum inner product search), acknowledge this finding",
			cv, rep.Norms.Min, rep.Norms.Max, rep.K, alt, rep.Samples, kind, suggested, suggested)
	case vec.L2:
		msg = fmt.Sprintf("l2 collection of vectors whose norms vary (CV %.3g, %.3g-%.3g) and that have %s: l2 ranks them by norm as well as direction; "+
			"its exact top-%d shares only %.2f with cosine's over %d stored vectors. The data look made for cosine (embedding models are trained for it). "+
			"Fix: re-create the collection with hnsw:space cosine and re-insert. If the model was trained for Euclidean distance, acknowledge this finding",
			cv, rep.Norms.Min, rep.Norms.Max, kind, rep.K, alt, rep.Samples)
	default:
		msg = fmt.Sprintf("cosine collection of vectors whose norms vary (CV %.3g, %.3g-%.3g) and that have %s: cosine ignores the norms; "+
			"its exact top-%d shares only %.2f with l2's over %d stored vectors. The data look made for l2. "+
			"If the norms carry meaning, re-create the collection with hnsw:space l2; otherwise nothing to do",
			cv, rep.Norms.Min, rep.Norms.Max, kind, rep.K, alt, rep.Samples)
	}
	return &Finding{Severity: sev, Code: CodeMetricMismatch, Message: msg, Figures: figs}, suggested.String(), false
}

// Report returns the check's state for metric (the collection's).
func (m *MetricCheck) Report(metric vec.Metric) MetricReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	rep := m.reportLocked(metric)
	rep.Verdict, rep.Suggested = m.verdictLocked()
	return rep
}

// Verdict returns the check's verdict as Report does, without summarizing
// the window.
func (m *MetricCheck) Verdict() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, _ := m.verdictLocked()
	return v
}

// verdictLocked returns the verdict and the suggested metric (none while
// pending or inconclusive). REQUIRES: mu held.
func (m *MetricCheck) verdictLocked() (verdict, suggested string) {
	switch m.mu.state {
	case metricOK:
		return "ok", m.mu.suggested
	case metricMismatch:
		return "mismatch: made for " + m.mu.suggested, m.mu.suggested
	case metricInconclusive:
		return "inconclusive: near a bound", ""
	}
	return "pending", ""
}

// Version counts the samples taken (and restores): a caller that persists
// the state compares it with the version it last wrote.
func (m *MetricCheck) Version() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.version
}

// reportLocked summarizes the window. REQUIRES: mu held.
func (m *MetricCheck) reportLocked(metric vec.Metric) MetricReport {
	rep := MetricReport{Metric: metric.String(), Samples: m.mu.n, K: m.opts.K, Norms: m.mu.norms, At: m.mu.last,
		Cosine: math.NaN(), L2: math.NaN(), IP: math.NaN()}
	var cos, l2, ip accum
	var neg, comp int
	w := len(m.mu.ring)
	for i := 0; i < m.mu.n; i++ {
		s := &m.mu.ring[(m.mu.head+i)%w]
		if !math.IsNaN(s.Cosine) {
			cos.add(s.Cosine)
		}
		if !math.IsNaN(s.L2) {
			l2.add(s.L2)
		}
		if !math.IsNaN(s.IP) {
			ip.add(s.IP)
		}
		neg += s.Negative
		comp += s.Components
	}
	mean := func(a accum) float64 {
		if a.n == 0 {
			return math.NaN()
		}
		return a.sum / float64(a.n)
	}
	rep.Cosine, rep.L2, rep.IP = mean(cos), mean(l2), mean(ip)
	if comp > 0 {
		rep.NegativeShare = float64(neg) / float64(comp)
	}
	return rep
}

func appendNorms(dst []byte, n NormSummary) []byte {
	dst = binary.AppendUvarint(dst, uint64(n.Count))
	for _, f := range []float64{n.Mean, n.Std, n.Min, n.Max, n.UnitShare} {
		dst = appendF64(dst, f)
	}
	return appendBool(dst, n.FromCollection)
}

func (r *reader) norms() NormSummary {
	return NormSummary{Count: r.int(), Mean: r.f64(), Std: r.f64(), Min: r.f64(), Max: r.f64(), UnitShare: r.f64(), FromCollection: r.bool()}
}

// AppendState appends the window of samples, the latest norms, the verdict
// and when the newest sample was taken.
func (m *MetricCheck) AppendState(dst []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	dst = append(dst, stateVersion)
	dst = binary.AppendUvarint(dst, uint64(m.mu.n))
	w := len(m.mu.ring)
	for i := 0; i < m.mu.n; i++ {
		s := &m.mu.ring[(m.mu.head+i)%w]
		dst = appendF64(appendF64(appendF64(dst, s.Cosine), s.L2), s.IP)
		dst = binary.AppendUvarint(dst, uint64(s.Negative))
		dst = binary.AppendUvarint(dst, uint64(s.Components))
	}
	dst = appendNorms(dst, m.mu.norms)
	dst = append(dst, byte(m.mu.state))
	dst = appendStr(dst, m.mu.suggested)
	return appendTime(dst, m.mu.last)
}

// RestoreState replaces the check's state with one AppendState wrote (the
// newest Window samples of it). On error the check is unchanged.
func (m *MetricCheck) RestoreState(b []byte) error {
	r := newReader(b)
	if err := r.version("metric check"); err != nil {
		return err
	}
	n := r.count(26)
	samples := make([]MetricSample, n)
	for i := range samples {
		samples[i] = MetricSample{Cosine: r.f64(), L2: r.f64(), IP: r.f64(), Negative: r.int(), Components: r.int()}
	}
	norms := r.norms()
	st := metricState(r.Byte())
	suggested := r.String()
	last := r.time()
	if st > metricInconclusive {
		r.fail()
	}
	if err := r.done("metric check"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := len(m.mu.ring)
	if len(samples) > w {
		samples = samples[len(samples)-w:]
	}
	clear(m.mu.ring)
	copy(m.mu.ring, samples)
	m.mu.head, m.mu.n = 0, len(samples)
	m.mu.norms, m.mu.state, m.mu.suggested, m.mu.last = norms, st, suggested, last
	m.mu.version++
	return nil
}

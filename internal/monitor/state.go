package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sextantdb/sextant/internal/payload"
)

// The guardrail state codec: each stateful piece (Drift, RecallEstimator,
// Autopilot, Ledger, MetricCheck) appends its state with AppendState and
// restores it with RestoreState, so that what the operator was told survives
// a restart. The byte layout of each is in docs/format/guardrails.md; the
// engine frames them into sections of its checkpoint file and of its WAL
// records. Conventions: uvarint/varint as encoding/binary, f64 is the
// IEEE-754 bits little-endian, a time is varint Unix nanoseconds (0: the zero
// time), a str is uvarint length + bytes.

// ErrCorruptState is returned by the RestoreState methods for bytes that do
// not decode.
var ErrCorruptState = errors.New("monitor: corrupt guardrail state")

// stateVersion is the first byte of every piece's state.
const stateVersion = 1

func appendF64(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(dst, 0)
	}
	return binary.AppendVarint(dst, t.UnixNano())
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// reader wraps payload.Reader with the decoders of this file.
type reader struct{ payload.Reader }

func newReader(b []byte) *reader { return &reader{payload.Reader{B: b}} }

func (r *reader) f64() float64 { return math.Float64frombits(r.Uint64()) }

func (r *reader) time() time.Time {
	n := r.Varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (r *reader) bool() bool { return r.Byte() != 0 }

func (r *reader) int() int { return int(r.Uvarint()) }

// count reads a list length, refusing one that cannot fit in the bytes left
// at minSize bytes an element (a corrupt length must not allocate gigabytes).
func (r *reader) count(minSize int) int {
	n := r.Uvarint()
	if r.Err != nil || n > uint64(len(r.B)/max(minSize, 1)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) fail() {
	if r.Err == nil {
		r.Err = ErrCorruptState
	}
	r.B = nil
}

// version checks the leading version byte.
func (r *reader) version(what string) error {
	if v := r.Byte(); r.Err == nil && v != stateVersion {
		return fmt.Errorf("%w: %s state version %d, want %d", ErrCorruptState, what, v, stateVersion)
	}
	return nil
}

// done reports the first error, or trailing bytes.
func (r *reader) done(what string) error {
	if r.Err != nil {
		return fmt.Errorf("%w: %s", ErrCorruptState, what)
	}
	if len(r.B) != 0 {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrCorruptState, what, len(r.B))
	}
	return nil
}

func appendWelford(dst []byte, w welford) []byte {
	return appendF64(appendF64(appendF64(dst, w.n), w.mean), w.m)
}

func (r *reader) welford() welford { return welford{n: r.f64(), mean: r.f64(), m: r.f64()} }

// Histogram kinds: which bounds a stored histogram uses.
const (
	histNone       = 0 // not created yet
	histNorm       = 1 // NormBounds
	histCosineDist = 2 // DistanceBounds(true)
)

func appendHist(dst []byte, kind byte, h Histogram) []byte {
	dst = append(dst, kind)
	if kind == histNone {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(len(h.Counts)))
	for _, c := range h.Counts {
		dst = binary.AppendUvarint(dst, c)
	}
	dst = appendF64(dst, h.Sum)
	return binary.AppendUvarint(dst, h.Count)
}

func (r *reader) hist() (byte, Histogram) {
	kind := r.Byte()
	var h Histogram
	switch kind {
	case histNone:
		return kind, h
	case histNorm:
		h = NewHistogram(NormBounds())
	case histCosineDist:
		h = NewHistogram(DistanceBounds(true))
	default:
		r.fail()
		return kind, h
	}
	if n := r.count(1); n != len(h.Counts) {
		r.fail()
		return kind, Histogram{}
	}
	for i := range h.Counts {
		h.Counts[i] = r.Uvarint()
	}
	h.Sum = r.f64()
	h.Count = r.Uvarint()
	return kind, h
}

func distKind(h Histogram) byte {
	switch {
	case h.Counts == nil:
		return histNone
	case len(h.Bounds) == len(NormBounds()):
		return histNorm
	}
	return histCosineDist
}

func appendFigures(dst []byte, figs map[string]float64) []byte {
	keys := make([]string, 0, len(figs))
	for k := range figs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendF64(appendStr(dst, k), figs[k])
	}
	return dst
}

func (r *reader) figures() map[string]float64 {
	n := r.count(9)
	if n == 0 {
		return map[string]float64{}
	}
	m := make(map[string]float64, n)
	for range n {
		k := r.String()
		m[k] = r.f64()
	}
	return m
}

// AppendState appends the drift detector's history (the baseline), its
// exported norm and distance histograms and its counters. The open windows
// of query and result statistics are not kept: a restart starts them anew,
// and what they found is kept by the Ledger.
func (d *Drift) AppendState(dst []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst = append(dst, stateVersion)
	dst = binary.AppendUvarint(dst, uint64(d.mu.dim))
	dst = appendWelford(dst, d.mu.norms)
	dst = binary.AppendUvarint(dst, uint64(d.mu.unit))
	dst = appendHist(dst, histNorm, d.mu.hist)
	dst = binary.AppendUvarint(dst, uint64(len(d.mu.dirSum)))
	for _, x := range d.mu.dirSum {
		dst = appendF64(dst, x)
	}
	dst = appendWelford(dst, d.mu.proj)
	dst = appendHist(dst, histNorm, d.mu.all)
	dist := d.distHistogram()
	dst = appendHist(dst, distKind(dist), dist)
	dst = binary.AppendUvarint(dst, d.mu.observed)
	dst = binary.AppendUvarint(dst, d.mu.rejected)
	return appendWelford(dst, d.mu.nearest)
}

// RestoreState replaces the drift detector's state with one AppendState
// wrote. On error the detector is unchanged.
func (d *Drift) RestoreState(b []byte) error {
	r := newReader(b)
	if err := r.version("drift"); err != nil {
		return err
	}
	dim := r.int()
	norms := r.welford()
	unit := r.int()
	_, hist := r.hist()
	n := r.count(8)
	var dirSum []float64
	if n > 0 {
		dirSum = make([]float64, n)
		for i := range dirSum {
			dirSum[i] = r.f64()
		}
	}
	proj := r.welford()
	_, all := r.hist()
	_, dist := r.hist()
	observed, rejected := r.Uvarint(), r.Uvarint()
	nearest := r.welford()
	if err := r.done("drift"); err != nil {
		return err
	}
	if n != 0 && n != dim || hist.Counts == nil || all.Counts == nil {
		return fmt.Errorf("%w: drift: dimension %d with a direction of %d", ErrCorruptState, dim, n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.dim, d.mu.norms, d.mu.unit, d.mu.hist, d.mu.dirSum, d.mu.proj = dim, norms, unit, hist, dirSum, proj
	d.mu.all, d.mu.observed, d.mu.rejected = all, observed, rejected
	d.mu.nearest = nearest
	d.resetQueriesLocked(true)
	d.setDistLocked(dist)
	d.publishLocked()
	return nil
}

// QueryVersion counts the changes that queries make to the drift state
// that is saved (the result-distance histogram and the nearest-distance
// baseline): a caller that persists them compares it with the version it
// last wrote. Batches change the rest, which a log replays.
func (d *Drift) QueryVersion() uint64 {
	var v uint64
	for i := range d.stripes {
		sh := &d.stripes[i]
		sh.mu.Lock()
		v += sh.ver
		sh.mu.Unlock()
	}
	return v
}

// AppendQueryState appends the query side of the drift state: the
// result-distance histogram and the nearest-distance baseline.
func (d *Drift) AppendQueryState(dst []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst = append(dst, stateVersion)
	dist := d.distHistogram()
	dst = appendHist(dst, distKind(dist), dist)
	return appendWelford(dst, d.mu.nearest)
}

// RestoreQueryState replaces the query side of the drift state with one
// AppendQueryState wrote. On error the detector is unchanged.
func (d *Drift) RestoreQueryState(b []byte) error {
	r := newReader(b)
	if err := r.version("drift queries"); err != nil {
		return err
	}
	_, dist := r.hist()
	nearest := r.welford()
	if err := r.done("drift queries"); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.nearest = nearest
	d.setDistLocked(dist)
	for i := range d.stripes { // the open nearest window
		sh := &d.stripes[i]
		sh.mu.Lock()
		sh.nw = welford{}
		sh.mu.Unlock()
	}
	d.ncount.Store(0)
	return nil
}

func appendSample(dst []byte, s recallSample) []byte {
	dst = binary.AppendUvarint(dst, s.seq)
	dst = appendTime(dst, s.at)
	dst = appendF64(dst, s.recall)
	return appendBool(dst, s.filtered)
}

// AppendState appends the estimator's sequence number and its window of
// samples, oldest first.
func (e *RecallEstimator) AppendState(dst []byte) []byte {
	return e.AppendSamplesSince(dst, 0)
}

// AppendSamplesSince appends the estimator's state with only the samples
// whose sequence number is > seq: RestoreState of such a delta adds them to
// the window (AppendState is the delta since 0, the whole window).
func (e *RecallEstimator) AppendSamplesSince(dst []byte, seq uint64) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	dst = append(dst, stateVersion)
	dst = binary.AppendUvarint(dst, e.mu.seq)
	w := len(e.mu.ring)
	n := 0
	for i := 0; i < e.mu.n; i++ {
		if e.mu.ring[(e.mu.head+i)%w].seq > seq {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for i := 0; i < e.mu.n; i++ {
		if s := e.mu.ring[(e.mu.head+i)%w]; s.seq > seq {
			dst = appendSample(dst, s)
		}
	}
	return dst
}

// Seq returns the sequence number of the newest sample.
func (e *RecallEstimator) Seq() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.seq
}

// RestoreState adds the samples of a state written by AppendState or
// AppendSamplesSince that are newer than the newest one held (so applying
// the same delta twice changes nothing), and takes its sequence number when
// it is ahead. Restoring a whole window (AppendState) into a fresh estimator
// reproduces it. On error the estimator is unchanged.
func (e *RecallEstimator) RestoreState(b []byte) error {
	r := newReader(b)
	if err := r.version("recall"); err != nil {
		return err
	}
	seq := r.Uvarint()
	n := r.count(11)
	samples := make([]recallSample, n)
	for i := range samples {
		s := &samples[i]
		s.seq = r.Uvarint()
		s.at = r.time()
		s.recall = r.f64()
		s.filtered = r.bool()
		if r.Err == nil && (s.seq > seq || i > 0 && s.seq <= samples[i-1].seq || math.IsNaN(s.recall)) {
			r.fail()
		}
	}
	if err := r.done("recall"); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w := len(e.mu.ring)
	for _, s := range samples {
		if s.seq <= e.mu.seq {
			continue
		}
		if e.mu.n < w {
			e.mu.ring[(e.mu.head+e.mu.n)%w] = s
			e.mu.n++
		} else {
			e.mu.ring[e.mu.head] = s
			e.mu.head = (e.mu.head + 1) % w
		}
		e.mu.seq = s.seq
	}
	e.mu.seq = max(e.mu.seq, seq)
	return nil
}

func appendInterval(dst []byte, iv Interval) []byte {
	dst = appendF64(dst, iv.Recall)
	dst = binary.AppendUvarint(dst, uint64(iv.Samples))
	return appendF64(appendF64(dst, iv.Low), iv.High)
}

func (r *reader) interval() Interval {
	return Interval{Recall: r.f64(), Samples: r.int(), Low: r.f64(), High: r.f64()}
}

// AppendState appends the autopilot's effective ef, auto_ef switch, the
// bounds it remembers, its degraded state and its history of changes.
func (a *Autopilot) AppendState(dst []byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	dst = append(dst, stateVersion)
	dst = binary.AppendUvarint(dst, uint64(a.Ef()))
	dst = appendBool(dst, a.mu.auto)
	dst = binary.AppendUvarint(dst, a.mu.since)
	dst = binary.AppendUvarint(dst, uint64(a.mu.fail))
	dst = appendTime(dst, a.mu.failAt)
	dst = binary.AppendUvarint(dst, uint64(a.mu.pass))
	dst = appendTime(dst, a.mu.passAt)
	dst = appendBool(dst, a.mu.degraded)
	dst = appendStr(dst, a.mu.why)
	dst = binary.AppendUvarint(dst, uint64(len(a.mu.history)))
	for _, c := range a.mu.history {
		dst = appendTime(dst, c.At)
		dst = binary.AppendUvarint(dst, uint64(c.From))
		dst = binary.AppendUvarint(dst, uint64(c.To))
		dst = appendStr(dst, c.Reason)
		dst = appendInterval(dst, c.Estimate.Interval)
		dst = binary.AppendUvarint(dst, c.Estimate.Seq)
		dst = binary.AppendUvarint(dst, c.Estimate.From)
	}
	return dst
}

// RestoreState replaces the autopilot's state with one AppendState wrote;
// the ef is clamped to this autopilot's bounds. On error it is unchanged.
func (a *Autopilot) RestoreState(b []byte) error {
	r := newReader(b)
	if err := r.version("autopilot"); err != nil {
		return err
	}
	ef, auto, since := r.int(), r.bool(), r.Uvarint()
	fail, failAt := r.int(), r.time()
	pass, passAt := r.int(), r.time()
	degraded, why := r.bool(), r.String()
	n := r.count(40)
	hist := make([]Change, 0, n)
	for range n {
		c := Change{At: r.time(), From: r.int(), To: r.int(), Reason: r.String()}
		c.Estimate.Interval = r.interval()
		c.Estimate.Seq, c.Estimate.From = r.Uvarint(), r.Uvarint()
		hist = append(hist, c)
	}
	if err := r.done("autopilot"); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ef.Store(int64(min(max(ef, a.opts.EfMin), a.opts.EfMax)))
	a.mu.auto, a.mu.since = auto, since
	a.mu.fail, a.mu.failAt, a.mu.pass, a.mu.passAt = fail, failAt, pass, passAt
	a.mu.degraded, a.mu.why = degraded, why
	if len(hist) > a.opts.History {
		hist = hist[len(hist)-a.opts.History:]
	}
	a.mu.history = hist
	a.mu.version++
	return nil
}

package monitor

import (
	"math"
	"sort"
)

// Histogram counts values into buckets with fixed upper bounds, as a
// Prometheus histogram does. It is a value type; the monitors return copies.
type Histogram struct {
	Bounds []float64 // ascending upper bounds (inclusive); +Inf is implicit
	Counts []uint64  // len(Bounds)+1: the last is the +Inf bucket
	Sum    float64
	Count  uint64
}

// Bucket is one cumulative bucket in Prometheus form: the number of values
// <= UpperBound.
type Bucket struct {
	UpperBound float64
	Cumulative uint64
}

// NormBounds are the bounds of the norm histogram: 40 log-spaced buckets,
// √2 apart, from 2^-9.75 to 2^9.75. A bound sits a quarter octave from 1, so
// unit vectors (1 ± 1e-3) all fall into one bucket.
func NormBounds() []float64 {
	b := make([]float64, 40)
	for i := range b {
		b[i] = math.Exp2(float64(i-20)/2 + 0.25)
	}
	return b
}

// DistanceBounds are the bounds of the result-distance histogram: for cosine
// and ip 0.05 steps up to 2 (cosine distance lies in [0, 2]), then a bucket to
// 4; for l2 the norm bounds.
func DistanceBounds(cosineLike bool) []float64 {
	if !cosineLike {
		return NormBounds()
	}
	b := make([]float64, 0, 41)
	for i := 1; i <= 40; i++ {
		b = append(b, float64(i)*0.05)
	}
	return append(b, 4)
}

// NewHistogram returns an empty histogram over bounds.
func NewHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

// Observe adds x.
func (h *Histogram) Observe(x float64) {
	h.Counts[h.bucket(x)]++
	h.Sum += x
	h.Count++
}

func (h *Histogram) bucket(x float64) int { return sort.SearchFloat64s(h.Bounds, x) }

// Clone returns a deep copy.
func (h Histogram) Clone() Histogram {
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

// Buckets returns the cumulative buckets, +Inf last.
func (h Histogram) Buckets() []Bucket {
	out := make([]Bucket, len(h.Counts))
	var c uint64
	for i, n := range h.Counts {
		c += n
		ub := math.Inf(1)
		if i < len(h.Bounds) {
			ub = h.Bounds[i]
		}
		out[i] = Bucket{UpperBound: ub, Cumulative: c}
	}
	return out
}

// KS returns the Kolmogorov–Smirnov statistic between the bucketed
// distributions of h and o (same bounds): the largest gap between their
// cumulative shares. Values within one bucket are not told apart.
func (h Histogram) KS(o Histogram) float64 {
	if h.Count == 0 || o.Count == 0 {
		return 0
	}
	var a, b uint64
	d := 0.0
	for i := range h.Counts {
		a += h.Counts[i]
		b += o.Counts[i]
		d = max(d, math.Abs(float64(a)/float64(h.Count)-float64(b)/float64(o.Count)))
	}
	return d
}

package vec

import (
	"fmt"
	"math"
)

// Metric is a distance function over vectors.
type Metric uint8

const (
	// Cosine is 1 − cos(a, b). Vectors are normalized on write and on query,
	// so the kernel is 1 − dot.
	Cosine Metric = iota + 1
	// L2 is the squared Euclidean distance.
	L2
	// IP is 1 − dot(a, b).
	IP
)

// String returns the metric's name as it appears in configs: cosine, l2, ip.
func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case L2:
		return "l2"
	case IP:
		return "ip"
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// ParseMetric parses cosine, l2 or ip.
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "cosine":
		return Cosine, nil
	case "l2":
		return L2, nil
	case "ip":
		return IP, nil
	}
	return 0, fmt.Errorf("unknown metric %q (want cosine, l2 or ip)", s)
}

// Valid reports whether m is one of the defined metrics.
func (m Metric) Valid() bool { return m == Cosine || m == L2 || m == IP }

// DistanceFunc returns the kernel for m. For Cosine both arguments must
// already be unit length.
func (m Metric) DistanceFunc() func(a, b []float32) float32 {
	switch m {
	case L2:
		return L2Sq
	case Cosine, IP:
		return oneMinusDot
	}
	panic(fmt.Sprintf("BUG: distance for invalid metric %d", uint8(m)))
}

// Distance computes the distance between a and b under m.
func (m Metric) Distance(a, b []float32) float32 {
	if m == L2 {
		return L2Sq(a, b)
	}
	return 1 - Dot(a, b)
}

func oneMinusDot(a, b []float32) float32 { return 1 - Dot(a, b) }

// Norm returns the Euclidean norm of v, accumulated in float64.
func Norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// Normalize writes v / |v| into dst (which may alias v) and returns |v|.
// A zero vector is copied unchanged and 0 is returned.
func Normalize(dst, v []float32) float64 {
	n := Norm(v)
	if n == 0 {
		copy(dst, v)
		return 0
	}
	inv := 1 / n
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
	return n
}

// CheckFinite returns the index of the first NaN or ±Inf component of v, or -1.
func CheckFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

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
	// Four float64 accumulators: the sum is not one dependent chain of adds
	// (4x faster on 784-d queries), and float64 cannot overflow on squares of
	// float32 values.
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x0, x1, x2, x3 := float64(v[i]), float64(v[i+1]), float64(v[i+2]), float64(v[i+3])
		s0 += x0 * x0
		s1 += x1 * x1
		s2 += x2 * x2
		s3 += x3 * x3
	}
	for ; i < len(v); i++ {
		x := float64(v[i])
		s0 += x * x
	}
	return math.Sqrt((s0 + s1) + (s2 + s3))
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
	// Branch-free first pass: a component is NaN or ±Inf when its exponent
	// bits are all ones, and adding one to that exponent field carries into
	// the sign bit. Only a vector that fails is searched for the index.
	var bad, b1, b2, b3 uint32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		w := v[i : i+4 : i+4]
		bad |= math.Float32bits(w[0])&0x7f800000 + 0x00800000
		b1 |= math.Float32bits(w[1])&0x7f800000 + 0x00800000
		b2 |= math.Float32bits(w[2])&0x7f800000 + 0x00800000
		b3 |= math.Float32bits(w[3])&0x7f800000 + 0x00800000
	}
	for ; i < len(v); i++ {
		bad |= math.Float32bits(v[i])&0x7f800000 + 0x00800000
	}
	if (bad|b1|b2|b3)&0x80000000 == 0 {
		return -1
	}
	for i, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

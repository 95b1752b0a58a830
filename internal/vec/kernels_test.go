package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

type kernel struct {
	name string
	fn   func(a, b []float32) float32
}

// kernelPair is one operation's portable kernel, the kernel in use, and the
// scale of its rounding error: Σ|terms| in float64.
type kernelPair struct {
	op         string
	ref, inUse kernel
	bound      func(a, b []float32) float64
}

// kernelPairs returns, for dot and l2, the portable kernel and the one in use.
// Under purego or without AVX2+FMA both are the portable one.
func kernelPairs() []kernelPair {
	return []kernelPair{
		{"dot", kernel{"generic", dotGeneric}, kernel{kernelName, dotImpl}, func(a, b []float32) float64 {
			var s float64
			for i := range a {
				s += math.Abs(float64(a[i]) * float64(b[i]))
			}
			return s
		}},
		{"l2", kernel{"generic", l2Generic}, kernel{kernelName, l2Impl}, func(a, b []float32) float64 {
			var s float64
			for i := range a {
				d := float64(a[i]) - float64(b[i])
				s += d * d
			}
			return s
		}},
	}
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// TestKernelsMatchGeneric checks the kernel in use against the portable one at
// every length 0..1024 and at unaligned offsets. The two sum in different
// orders (and the assembly fuses multiply-add), so they agree within a bound
// relative to Σ|terms|, which is what float32 rounding is proportional to.
func TestKernelsMatchGeneric(t *testing.T) {
	t.Logf("kernels in use: %s", kernelName)
	r := rand.New(rand.NewPCG(1, 2))
	const maxLen = 1024
	for _, scale := range []float64{1, 1e3} {
		a := randVec(r, maxLen+8, scale)
		b := randVec(r, maxLen+8, scale)
		for _, kp := range kernelPairs() {
			for _, off := range [][2]int{{0, 0}, {1, 3}, {3, 1}, {5, 7}} {
				for n := 0; n <= maxLen; n++ {
					x, y := a[off[0]:off[0]+n], b[off[1]:off[1]+n]
					want := kp.ref.fn(x, y)
					got := kp.inUse.fn(x, y)
					tol := 1e-5*kp.bound(x, y) + 1e-6
					if diff := math.Abs(float64(got) - float64(want)); diff > tol {
						t.Fatalf("%s %s vs generic: scale %g offsets %v len %d: got %v want %v (diff %g > tol %g)",
							kp.op, kp.inUse.name, scale, off, n, got, want, diff, tol)
					}
				}
			}
		}
	}
}

// TestKernelsExact checks small integer inputs, where every kernel is exact,
// including lengths that exercise each of the 32-, 8- and 1-wide loops.
func TestKernelsExact(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 39, 40, 41, 63, 64, 65, 100, 1000} {
		a := make([]float32, n)
		b := make([]float32, n)
		var dot, l2 float32
		for i := range a {
			a[i] = float32(i%7 - 3)
			b[i] = float32(i%5 - 2)
			dot += a[i] * b[i]
			l2 += (a[i] - b[i]) * (a[i] - b[i])
		}
		require.Equal(t, dot, Dot(a, b), "dot len %d", n)
		require.Equal(t, l2, L2Sq(a, b), "l2 len %d", n)
		// A longer b is allowed; only its first len(a) elements count.
		bb := append(append([]float32(nil), b...), 100, 100, 100)
		require.Equal(t, dot, Dot(a, bb), "dot long b len %d", n)
		require.Equal(t, l2, L2Sq(a, bb), "l2 long b len %d", n)
	}
}

func TestKernelsShortBPanics(t *testing.T) {
	a := make([]float32, 9)
	require.Panics(t, func() { Dot(a, a[:8]) })
	require.Panics(t, func() { L2Sq(a, a[:8]) })
}

var sink float32

func benchKernels(b *testing.B, pick func(kp kernelPair) bool) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, kp := range kernelPairs() {
		if !pick(kp) {
			continue
		}
		impls := []kernel{kp.ref}
		if kp.inUse.name != kp.ref.name {
			impls = append(impls, kp.inUse)
		}
		for _, dim := range []int{25, 128, 512, 784} {
			x, y := randVec(r, dim, 1), randVec(r, dim, 1)
			for _, k := range impls {
				b.Run(fmt.Sprintf("%s/dim=%d", k.name, dim), func(b *testing.B) {
					b.ReportAllocs()
					var s float32
					for b.Loop() {
						s += k.fn(x, y)
					}
					sink = s
				})
			}
		}
	}
}

func BenchmarkDot(b *testing.B) {
	benchKernels(b, func(kp kernelPair) bool {
		return kp.op == "dot"
	})
}

func BenchmarkL2Sq(b *testing.B) {
	benchKernels(b, func(kp kernelPair) bool {
		return kp.op == "l2"
	})
}

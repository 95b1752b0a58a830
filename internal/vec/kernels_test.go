package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// op is one operation: how to pick its kernel from a set, and the scale of
// its rounding error, Σ|terms| in float64.
type op struct {
	name  string
	fn    func(k kernelSet) func(a, b []float32) float32
	bound func(a, b []float32) float64
}

var ops = []op{
	{"dot", func(k kernelSet) func(a, b []float32) float32 { return k.dot }, func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += math.Abs(float64(a[i]) * float64(b[i]))
		}
		return s
	}},
	{"l2", func(k kernelSet) func(a, b []float32) float32 { return k.l2 }, func(a, b []float32) float64 {
		var s float64
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			s += d * d
		}
		return s
	}},
}

// forEachKernelSet runs f in a subtest per compiled kernel set, skipping a set
// only when this CPU lacks the feature it needs (and saying which).
func forEachKernelSet(t *testing.T, f func(t *testing.T, k kernelSet)) {
	t.Logf("kernels in use: %s", kernelName)
	for _, k := range kernelSets {
		t.Run(k.name, func(t *testing.T) {
			if k.missing != "" {
				t.Skipf("CPU lacks %s", k.missing)
			}
			f(t, k)
		})
	}
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// TestKernelsMatchGeneric checks every usable kernel set (not only the one in
// use) against the portable one at every length 0..1024 and at unaligned
// offsets. They sum in different orders (and the assembly fuses
// multiply-add), so they agree within a bound relative to Σ|terms|, which is
// what float32 rounding is proportional to.
func TestKernelsMatchGeneric(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T, k kernelSet) {
		r := rand.New(rand.NewPCG(1, 2))
		const maxLen = 1024
		for _, scale := range []float64{1, 1e3} {
			a := randVec(r, maxLen+8, scale)
			b := randVec(r, maxLen+8, scale)
			for _, o := range ops {
				ref, got := o.fn(kernelSets[0]), o.fn(k)
				for _, off := range [][2]int{{0, 0}, {1, 3}, {3, 1}, {5, 7}} {
					for n := 0; n <= maxLen; n++ {
						x, y := a[off[0]:off[0]+n], b[off[1]:off[1]+n]
						want, have := ref(x, y), got(x, y)
						tol := 1e-5*o.bound(x, y) + 1e-6
						if diff := math.Abs(float64(have) - float64(want)); diff > tol {
							t.Fatalf("%s %s vs generic: scale %g offsets %v len %d: got %v want %v (diff %g > tol %g)",
								o.name, k.name, scale, off, n, have, want, diff, tol)
						}
					}
				}
			}
		}
	})
}

// TestKernelsExact checks small integer inputs, where every kernel is exact,
// including lengths that exercise each of the wide, narrow and tail loops of
// every kernel set, through the set's functions and through Dot and L2Sq.
func TestKernelsExact(t *testing.T) {
	lens := []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 39, 40, 41, 63, 64, 65, 79, 80, 95, 100, 127, 128, 129, 1000}
	forEachKernelSet(t, func(t *testing.T, k kernelSet) {
		for _, n := range lens {
			a := make([]float32, n)
			b := make([]float32, n)
			var dot, l2 float32
			for i := range a {
				a[i] = float32(i%7 - 3)
				b[i] = float32(i%5 - 2)
				dot += a[i] * b[i]
				l2 += (a[i] - b[i]) * (a[i] - b[i])
			}
			require.Equal(t, dot, k.dot(a, b), "dot len %d", n)
			require.Equal(t, l2, k.l2(a, b), "l2 len %d", n)
			// A longer b is allowed; only its first len(a) elements count.
			bb := append(append([]float32(nil), b...), 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100)
			require.Equal(t, dot, k.dot(a, bb), "dot long b len %d", n)
			require.Equal(t, l2, k.l2(a, bb), "l2 long b len %d", n)
			if k.name == kernelName {
				require.Equal(t, dot, Dot(a, bb), "Dot len %d", n)
				require.Equal(t, l2, L2Sq(a, bb), "L2Sq len %d", n)
			}
		}
	})
}

// TestSelectKernels checks that SEXTANT_KERNELS picks any usable set by name
// and that an unknown or unusable name falls back to the default.
func TestSelectKernels(t *testing.T) {
	defer selectKernels("") // restore the default
	selectKernels("")
	def := kernelName
	require.Equal(t, kernelSets[0].name, "generic")
	for _, k := range kernelSets {
		selectKernels(k.name)
		if k.missing != "" {
			require.Equal(t, def, kernelName, "unusable %s (lacks %s)", k.name, k.missing)
			continue
		}
		require.Equal(t, k.name, kernelName)
		a := []float32{1, 2, 3}
		require.Equal(t, float32(14), Dot(a, a))
		require.Equal(t, float32(0), L2Sq(a, a))
	}
	selectKernels("no-such-kernels")
	require.Equal(t, def, kernelName)
}

// TestGraphKernels checks the graph kernels' choice: AVX-512 from
// graphWideMinDim dimensions where usable, the default set below that, and
// the set SEXTANT_KERNELS names everywhere when it names a usable one.
func TestGraphKernels(t *testing.T) {
	defer selectKernels("")
	a := make([]float32, 512)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	b := make([]float32, 512)
	for i := range b {
		b[i] = float32(i%5) - 2
	}
	check := func(dim int, want string) {
		t.Helper()
		require.Equal(t, want, graphKernels(dim).name, "dim %d", dim)
		// Whatever the set, the value matches the portable kernel.
		require.InDelta(t, dotGeneric(a[:dim], b[:dim]), GraphDot(dim)(a[:dim], b[:dim]), 1e-3)
		require.InDelta(t, l2Generic(a[:dim], b[:dim]), GraphL2Sq(dim)(a[:dim], b[:dim]), 1e-3)
	}
	selectKernels("")
	def := kernelName
	wide := def
	if _, ok := usableKernels("avx512"); ok {
		wide = "avx512"
	}
	check(25, def)
	check(graphWideMinDim-1, def)
	check(graphWideMinDim, wide)
	check(512, wide)
	for _, k := range kernelSets {
		if k.missing != "" {
			continue
		}
		selectKernels(k.name)
		check(25, k.name)
		check(512, k.name)
		// The four-way kernels: small dimensions under the AVX2 set only.
		require.Equal(t, k.name == "avx2fma", GraphDot4(25) != nil, k.name)
		require.Equal(t, k.name == "avx2fma", GraphL2Sq4(25) != nil, k.name)
		require.Nil(t, GraphDot4(512))
		require.Nil(t, GraphL2Sq4(graphWideMinDim))
	}
}

func TestKernelsShortBPanics(t *testing.T) {
	a := make([]float32, 9)
	require.Panics(t, func() { Dot(a, a[:8]) })
	require.Panics(t, func() { L2Sq(a, a[:8]) })
}

var sink float32

// benchKernels benchmarks every usable kernel set for op o, per dimension:
// sub-benchmark names are <set>/dim=<n>.
func benchKernels(b *testing.B, o op) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dim := range []int{25, 128, 512, 784, 1536} {
		x, y := randVec(r, dim, 1), randVec(r, dim, 1)
		for _, k := range kernelSets {
			if k.missing != "" {
				continue
			}
			fn := o.fn(k)
			b.Run(fmt.Sprintf("%s/dim=%d", k.name, dim), func(b *testing.B) {
				b.ReportAllocs()
				var s float32
				for b.Loop() {
					s += fn(x, y)
				}
				sink = s
			})
		}
	}
}

func BenchmarkDot(b *testing.B) { benchKernels(b, ops[0]) }

func BenchmarkL2Sq(b *testing.B) { benchKernels(b, ops[1]) }

// Prefetch is a hint: it must accept any vector and line count, including
// lines past the end of v (a prefetch never faults), and change nothing.
func TestPrefetch(t *testing.T) {
	for _, n := range []int{0, 1, 25, 512} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)
		}
		for _, lines := range []int{-1, 0, 1, 4, 64} {
			Prefetch(v, lines)
		}
		for i := range v {
			if v[i] != float32(i) {
				t.Fatalf("Prefetch changed v[%d]", i)
			}
		}
	}
	PrefetchUint32(nil, 1)
	PrefetchUint32(make([]uint32, 33), 1)
}

func TestCheckFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		v    []float32
		want int
	}{
		{"empty", nil, -1},
		{"finite extremes", []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)), 0, 1}, -1},
		{"nan first", []float32{nan, 1, 2}, 0},
		{"+inf middle", []float32{1, inf, 2}, 1},
		{"-inf last", []float32{1, 2, -inf}, 2},
		{"first of several", []float32{1, 2, 3, -inf, nan}, 3},
		{"negative nan", []float32{1, math.Float32frombits(0xffc00001)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckFinite(tc.v); got != tc.want {
				t.Fatalf("CheckFinite(%v) = %d, want %d", tc.v, got, tc.want)
			}
		})
	}
}

func TestNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 70; n++ {
		v := make([]float32, n)
		var want float64
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			want += float64(v[i]) * float64(v[i])
		}
		want = math.Sqrt(want)
		if got := Norm(v); math.Abs(got-want) > 1e-12*max(want, 1) {
			t.Fatalf("n=%d: Norm = %v, want %v", n, got, want)
		}
	}
	// Squares of large float32 values do not overflow.
	if got := Norm([]float32{3e38, 3e38, 3e38, 3e38, 3e38}); math.IsInf(got, 0) || math.Abs(got-3e38*math.Sqrt(5)) > 1e-6*got {
		t.Fatalf("Norm of large values = %v", got)
	}
}

// BenchmarkQueryChecks: the per-query passes over a 784-d query (validation
// and the float64 norm used to normalize it).
func BenchmarkQueryChecks(b *testing.B) {
	v := make([]float32, 784)
	for i := range v {
		v[i] = float32(i%17) - 8
	}
	b.Run("CheckFinite", func(b *testing.B) {
		for b.Loop() {
			if CheckFinite(v) >= 0 {
				b.Fatal("finite vector reported")
			}
		}
	})
	b.Run("Norm", func(b *testing.B) {
		var s float64
		for b.Loop() {
			s += Norm(v)
		}
		sink = float32(s)
	})
}

// TestKernels4MatchSingle: Dot4 and L2Sq4 equal four calls of the portable
// kernels within the kernels' tolerance at every length 0..300 (odd tails,
// unaligned starts), under each usable kernel set.
func TestKernels4MatchSingle(t *testing.T) {
	defer selectKernels("")
	r := rand.New(rand.NewPCG(7, 8))
	const maxLen = 1024
	q := randVec(r, maxLen+4, 1)
	vs := [4][]float32{randVec(r, maxLen+4, 1), randVec(r, maxLen+4, 1), randVec(r, maxLen+4, 1), randVec(r, maxLen+4, 1)}
	for _, k := range kernelSets {
		if k.missing != "" {
			continue
		}
		selectKernels(k.name)
		for n := 0; n <= maxLen; n++ {
			for _, off := range []int{0, 1, 3} {
				x := q[off : off+n]
				a, b, c, d := vs[0][3-off:3-off+n], vs[1][off:off+n], vs[2][1:1+n], vs[3][2:2+n]
				var got [4]float32
				Dot4(x, a, b, c, d, &got)
				for i, v := range [][]float32{a, b, c, d} {
					want := dotGeneric(x, v)
					if diff := math.Abs(float64(got[i] - want)); diff > 1e-5*ops[0].bound(x, v)+1e-6 {
						t.Fatalf("%s Dot4 len %d off %d lane %d: got %v want %v", k.name, n, off, i, got[i], want)
					}
				}
				L2Sq4(x, a, b, c, d, &got)
				for i, v := range [][]float32{a, b, c, d} {
					want := l2Generic(x, v)
					if diff := math.Abs(float64(got[i] - want)); diff > 1e-5*ops[1].bound(x, v)+1e-6 {
						t.Fatalf("%s L2Sq4 len %d off %d lane %d: got %v want %v", k.name, n, off, i, got[i], want)
					}
				}
			}
		}
	}
	require.Panics(t, func() { Dot4(q[:5], q[:5], q[:4], q[:5], q[:5], new([4]float32)) })
}

func BenchmarkDot4(b *testing.B) { benchKernels4(b, Dot4, Dot) }

func BenchmarkL2Sq4(b *testing.B) { benchKernels4(b, L2Sq4, L2Sq) }

// benchKernels4 times one four-way call against four single calls of the
// kernels in use, per dimension.
func benchKernels4(b *testing.B, four func(q, a, b, c, d []float32, out *[4]float32), one func(a, b []float32) float32) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dim := range []int{25, 128, 512, 784, 1536} {
		q := randVec(r, dim, 1)
		v := [4][]float32{randVec(r, dim, 1), randVec(r, dim, 1), randVec(r, dim, 1), randVec(r, dim, 1)}
		var out [4]float32
		b.Run(fmt.Sprintf("four/dim=%d", dim), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				four(q, v[0], v[1], v[2], v[3], &out)
			}
		})
		b.Run(fmt.Sprintf("single/dim=%d", dim), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out[0], out[1], out[2], out[3] = one(q, v[0]), one(q, v[1]), one(q, v[2]), one(q, v[3])
			}
		})
	}
}

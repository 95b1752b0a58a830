package vec

import "os"

// Dot returns the inner product of a and b. len(b) must be >= len(a); it
// panics otherwise, whichever kernel is in use.
func Dot(a, b []float32) float32 {
	_ = b[len(b)-len(a):] // a negative start panics: len(b) < len(a)
	return dotImpl(a, b)
}

// L2Sq returns the squared Euclidean distance of a and b. len(b) must be >=
// len(a); it panics otherwise, whichever kernel is in use.
func L2Sq(a, b []float32) float32 {
	_ = b[len(b)-len(a):] // a negative start panics: len(b) < len(a)
	return l2Impl(a, b)
}

// GraphDot and GraphL2Sq return the kernels for a graph search over vectors
// of dimension dim, without the length check of Dot and L2Sq: they compute
// over the first min(len(a), len(b)) elements. Hot loops whose vectors all
// have one dimension (the HNSW search and build) call them through a func
// value kept for the loop.
//
// A graph search reads each vector once, from a random place in memory;
// there the AVX-512 kernels (one load per cache line) measured faster than
// the AVX2 ones at 512 and 784 dimensions (BenchmarkSearch, ef 100,
// alternated: fashion-mnist-784 117-124 vs 137-147 µs/op, wordnet-use512
// 241-255 vs 275-289), and no faster at 25, while the exact scan (Dot, L2Sq:
// a stream) is slower with them (19 vs 25-27 GB/s). So a graph over at least
// graphWideMinDim dimensions uses AVX-512 where the CPU has it, unless
// SEXTANT_KERNELS chose a set.
func GraphDot(dim int) func(a, b []float32) float32 { return graphKernels(dim).dot }

// GraphL2Sq is GraphDot for the squared Euclidean distance.
func GraphL2Sq(dim int) func(a, b []float32) float32 { return graphKernels(dim).l2 }

// ScanDot and ScanL2Sq return the kernels of Dot and L2Sq without their
// length check (over the first min(len(a), len(b)) elements), for a scan
// whose vectors all have one dimension and that calls them through a func
// value: one call per distance instead of two. The arithmetic is Dot's and
// L2Sq's.
func ScanDot() func(a, b []float32) float32 { return dotImpl }

// ScanL2Sq is ScanDot for the squared Euclidean distance.
func ScanL2Sq() func(a, b []float32) float32 { return l2Impl }

// GraphDot4 returns the four-way kernel (Dot4) for a graph search over
// vectors of dimension dim, or nil where it does not pay: from
// graphWideMinDim dimensions on (the search reads memory there, and the
// AVX-512 single kernels serve it), and when the AVX2 kernels are not in use
// (Dot4 would be four portable calls). Measured on glove-twitter-25
// (BenchmarkSearch ef 100, 5 alternated rounds): 29-34 vs 34-39 µs/op, same
// distance computations; BenchmarkDot4 at 25 dimensions: 12 ns for four vs
// 21 ns for four Dot calls.
func GraphDot4(dim int) func(q, a, b, c, d []float32, out *[4]float32) {
	if !wide4 || dim >= graphWideMinDim {
		return nil
	}
	return Dot4
}

// GraphL2Sq4 is GraphDot4 for the squared Euclidean distance.
func GraphL2Sq4(dim int) func(q, a, b, c, d []float32, out *[4]float32) {
	if !wide4 || dim >= graphWideMinDim {
		return nil
	}
	return L2Sq4
}

// graphWideMinDim is the smallest dimension whose graph searches use the
// AVX-512 kernels (between the measured 25, where they are not faster, and
// 512, where they are).
const graphWideMinDim = 256

func graphKernels(dim int) kernelSet {
	if !kernelsForced && dim >= graphWideMinDim {
		if k, ok := usableKernels("avx512"); ok {
			return k
		}
	}
	return kernelSet{name: kernelName, dot: dotImpl, l2: l2Impl}
}

// kernelSet is one implementation of the kernels. missing names the CPU
// feature it needs and this machine lacks; "" means it is usable here.
type kernelSet struct {
	name    string
	dot, l2 func(a, b []float32) float32
	missing string
}

// kernelSets lists every kernel set compiled into this binary, the portable
// one first; archKernels (kernels_amd64.go, kernels_other.go) adds the
// assembly ones, usable or not, so tests can name what they skip.
var kernelSets = append([]kernelSet{{name: "generic", dot: dotGeneric, l2: l2Generic}}, archKernels()...)

// dotImpl and l2Impl are the kernels in use, picked once in init by
// selectKernels; kernelName names them. Dot and L2Sq have checked
// len(b) >= len(a) before calling them.
var (
	dotImpl    = dotGeneric
	l2Impl     = l2Generic
	kernelName = "generic"
	// kernelsForced: SEXTANT_KERNELS named a usable set, used everywhere.
	kernelsForced bool
)

// kernelsEnv overrides the choice, for benchmarking: SEXTANT_KERNELS=generic,
// avx2fma or avx512. A name that is unknown or not usable on this CPU is
// ignored and the default is used.
const kernelsEnv = "SEXTANT_KERNELS"

func init() { selectKernels(os.Getenv(kernelsEnv)) }

// selectKernels installs the kernel set called want if it is usable here, and
// otherwise the default: the first usable set in defaultKernelOrder.
func selectKernels(want string) {
	kernelsForced = false
	if k, ok := usableKernels(want); ok {
		useKernels(k)
		kernelsForced = true
		return
	}
	for _, name := range defaultKernelOrder {
		if k, ok := usableKernels(name); ok {
			useKernels(k)
			return
		}
	}
	useKernels(kernelSets[0])
}

func usableKernels(name string) (kernelSet, bool) {
	for _, k := range kernelSets {
		if k.name == name && k.missing == "" {
			return k, true
		}
	}
	return kernelSet{}, false
}

func useKernels(k kernelSet) {
	dotImpl, l2Impl, kernelName = k.dot, k.l2, k.name
	wide4 = k.name == "avx2fma"
}

// wide4: Dot4 and L2Sq4 use the four-way AVX2 kernels (the AVX2 set is in
// use; set with it).
var wide4 bool

// dotGeneric is the portable inner product, unrolled by 4 with independent
// accumulators so the compiler can keep them in registers.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2Generic is the portable squared Euclidean distance.
func l2Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// archKernels lists the assembly kernel sets, each with the CPU feature it
// lacks here ("" when usable). x/sys/cpu folds the OS checks in: HasAVX2 needs
// the OS to save YMM state, HasAVX512F the opmask and ZMM state as well.
func archKernels() []kernelSet {
	avx2 := kernelSet{name: "avx2fma", dot: dotAVX2, l2: l2AVX2}
	switch {
	case !cpu.X86.HasAVX2:
		avx2.missing = "AVX2"
	case !cpu.X86.HasFMA:
		avx2.missing = "FMA"
	}
	avx512 := kernelSet{name: "avx512", dot: dotAVX512, l2: l2AVX512}
	switch {
	case !cpu.X86.HasAVX512F:
		avx512.missing = "AVX512F"
	case !cpu.X86.HasAVX512VL:
		avx512.missing = "AVX512VL"
	}
	return []kernelSet{avx2, avx512}
}

// defaultKernelOrder is the preference when SEXTANT_KERNELS does not pick a
// usable set: the first usable one wins. avx512 is left out: on the AMD EPYC
// (Zen 4) these machines run, which splits 512-bit work over 256-bit units,
// it measured no faster than avx2fma at dims 128, 512, 784 and 1536 in L1
// (and slower at 25), and slower in the exact scan, so Dot and L2Sq use it
// only when SEXTANT_KERNELS=avx512 asks for it; graph searches over 256 or
// more dimensions do use it (GraphDot). Re-measure (go test -bench 'Dot|L2' -count 5 ./internal/vec) before adding
// it on a CPU with full-width AVX-512.
var defaultKernelOrder = []string{"avx2fma", "generic"}

// dotAVX2 returns the inner product over the first min(len(a), len(b))
// elements. It uses 4 independent 8-wide FMA accumulators (32 floats per
// iteration), then 8-wide steps, then a scalar tail for the last 0..7.
//
//go:noescape
func dotAVX2(a, b []float32) float32

// l2AVX2 returns the squared Euclidean distance over the first
// min(len(a), len(b)) elements, with the same loop structure as dotAVX2.
//
//go:noescape
func l2AVX2(a, b []float32) float32

// dotAVX512 returns the inner product over the first min(len(a), len(b))
// elements: 4 independent 16-wide FMA accumulators (64 floats per
// iteration), then 16-wide steps, then one masked 16-wide step for the last
// 0..15 (masked-off lanes are neither read nor faulted on).
//
//go:noescape
func dotAVX512(a, b []float32) float32

// l2AVX512 returns the squared Euclidean distance over the first
// min(len(a), len(b)) elements, with the same loop structure as dotAVX512.
//
//go:noescape
func l2AVX512(a, b []float32) float32

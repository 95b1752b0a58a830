//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// The AVX2+FMA kernels need both extensions and an OS that saves the YMM
// registers; x/sys/cpu folds the OS check into HasAVX2.
func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		dotImpl = dotAVX2
		l2Impl = l2AVX2
		kernelName = "avx2fma"
	}
}

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

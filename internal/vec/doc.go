// Package vec holds Sextant's vector primitives: the distance kernels for the
// three metrics (cosine, l2, ip), normalization and validation helpers, and
// Slab, the flat chunked store that keeps every vector of a collection
// addressed by its dense uint32 slot.
//
// # Distances
//
// Distances follow Chroma's definitions so that values are comparable with
// Chroma's: cosine is 1 − cos(a, b) (computed as 1 − dot on vectors that were
// normalized on write and on query), l2 is the squared Euclidean distance and
// ip is 1 − dot(a, b). Smaller is always nearer.
//
// # Kernels
//
// Dot and L2Sq have a portable Go implementation that always compiles; on
// amd64 there are AVX2+FMA and AVX-512 assembly versions. One set is picked at
// init time (see kernels_*.go): AVX2+FMA where the CPU has it, else the
// portable one. Graph searches over 256 or more dimensions take AVX-512 where
// the CPU has it (GraphDot, GraphL2Sq: measured faster for random reads, slower
// for the exact scan's stream). The environment variable
// SEXTANT_KERNELS=generic|avx2fma|avx512 overrides both choices for
// benchmarking (an unusable name is ignored). The build tag purego forces the
// portable kernels.
//
// The kernels are assembly rather than Go 1.26's experimental simd/archsimd:
// a dot product written with archsimd (four 8-wide FMA accumulators, the
// same shape as the AVX2 assembly; GOEXPERIMENT=simd, Go 1.26.8) ran 3.5-4x
// slower than the assembly at 128-1536 dimensions and 1.2-1.6x at 25 (each
// slice-to-array load keeps its bounds check and the accumulators are copied
// between registers every iteration).
package vec

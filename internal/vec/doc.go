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
// amd64 an assembly version may be selected at init time (see kernels_*.go),
// and the build tag purego forces the portable one.
package vec

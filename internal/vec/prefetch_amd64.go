//go:build amd64 && !purego

package vec

import "unsafe"

// prefetchLines issues PREFETCHT0 for lines >= 1 consecutive cache lines
// starting at p.
//
//go:noescape
func prefetchLines(p unsafe.Pointer, lines int)

// Prefetch asks the CPU to start loading the first lines cache lines (64
// bytes each) of v into L1, without waiting for them: the search loop calls it
// for the vectors it will read next, so that their memory latency overlaps
// the distance computations in between. It has no effect on the result; the
// purego build and other architectures make it a no-op.
func Prefetch(v []float32, lines int) {
	if len(v) == 0 || lines <= 0 {
		return
	}
	prefetchLines(unsafe.Pointer(&v[0]), lines)
}

// PrefetchUint32 is Prefetch for a []uint32 (neighbour lists).
func PrefetchUint32(v []uint32, lines int) {
	if len(v) == 0 || lines <= 0 {
		return
	}
	prefetchLines(unsafe.Pointer(&v[0]), lines)
}

package vec

import (
	"sync"
	"sync/atomic"
)

// chunkShift sets how many vectors one chunk holds (1<<chunkShift).
const chunkShift = 10

const chunkSize = 1 << chunkShift

// Slab stores fixed-dimension float32 vectors addressed by a dense uint32
// slot. Storage is a table of fixed-size chunks, so growing never moves a
// vector: a slice returned by At stays valid.
//
// Concurrency: Slab is safe for concurrent use by readers and writers of
// distinct slots; At may run concurrently with Set of another slot and with
// growth. Writing a slot while another goroutine reads the same slot is a data
// race; the caller orders those (the index only reaches a slot after it is
// published).
type Slab struct {
	dim    int
	chunks atomic.Pointer[[]*[]float32]
	growMu sync.Mutex
}

// NewSlab returns an empty slab for vectors of dimension dim.
func NewSlab(dim int) *Slab {
	s := &Slab{dim: dim}
	empty := make([]*[]float32, 0)
	s.chunks.Store(&empty)
	return s
}

// Dim returns the dimension of the stored vectors.
func (s *Slab) Dim() int { return s.dim }

// Cap returns the number of slots that are allocated.
func (s *Slab) Cap() int { return len(*s.chunks.Load()) * chunkSize }

// At returns the vector in slot. The slot must be below Cap.
func (s *Slab) At(slot uint32) []float32 {
	c := *(*s.chunks.Load())[slot>>chunkShift]
	off := int(slot&(chunkSize-1)) * s.dim
	return c[off : off+s.dim : off+s.dim]
}

// Set copies v into slot, growing the slab if needed.
func (s *Slab) Set(slot uint32, v []float32) {
	s.Grow(int(slot) + 1)
	copy(s.At(slot), v)
}

// Grow makes sure slots [0, n) exist.
func (s *Slab) Grow(n int) {
	if n <= s.Cap() {
		return
	}
	s.growMu.Lock()
	defer s.growMu.Unlock()
	old := *s.chunks.Load()
	need := (n + chunkSize - 1) >> chunkShift
	if need <= len(old) {
		return
	}
	next := make([]*[]float32, need)
	copy(next, old)
	for i := len(old); i < need; i++ {
		c := make([]float32, chunkSize*s.dim)
		next[i] = &c
	}
	s.chunks.Store(&next)
}

// Bytes returns the memory held by vector storage.
func (s *Slab) Bytes() int64 { return int64(s.Cap()) * int64(s.dim) * 4 }

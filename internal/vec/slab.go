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
	dim int
	// chunks is the table of chunks, replaced (never changed) on growth; the
	// chunks themselves never move, so an old table stays valid for the
	// slots it covers.
	chunks atomic.Pointer[[][]float32]
	growMu sync.Mutex
}

// NewSlab returns an empty slab for vectors of dimension dim.
func NewSlab(dim int) *Slab {
	s := &Slab{dim: dim}
	empty := make([][]float32, 0)
	s.chunks.Store(&empty)
	return s
}

// Dim returns the dimension of the stored vectors.
func (s *Slab) Dim() int { return s.dim }

// Cap returns the number of slots that are allocated.
func (s *Slab) Cap() int { return len(*s.chunks.Load()) * chunkSize }

// At returns the vector in slot. The slot must be below Cap.
func (s *Slab) At(slot uint32) []float32 {
	c := (*s.chunks.Load())[slot>>chunkShift]
	off := int(slot&(chunkSize-1)) * s.dim
	return c[off : off+s.dim : off+s.dim]
}

// View returns a reader of the slab for one search: it keeps the chunk table
// it was made with, so that each At is one table lookup instead of first
// loading the slab's current table (BenchmarkSearch in internal/index/hnsw).
// It sees growth that happens after it was made: a slot beyond its table
// reloads the table.
func (s *Slab) View() SlabView {
	return SlabView{s: s, table: *s.chunks.Load(), dim: s.dim}
}

// SlabView reads a Slab; see Slab.View. Not for concurrent use: each
// goroutine makes its own.
type SlabView struct {
	s     *Slab
	table [][]float32
	dim   int
}

// At returns the vector in slot, as Slab.At.
func (v *SlabView) At(slot uint32) []float32 {
	i := int(slot >> chunkShift)
	if i >= len(v.table) {
		v.table = *v.s.chunks.Load() // the slab grew since the view was made
	}
	off := int(slot&(chunkSize-1)) * v.dim
	return v.table[i][off : off+v.dim : off+v.dim]
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
	next := make([][]float32, need)
	copy(next, old)
	for i := len(old); i < need; i++ {
		next[i] = make([]float32, chunkSize*s.dim)
	}
	s.chunks.Store(&next)
}

// Bytes returns the memory held by vector storage.
func (s *Slab) Bytes() int64 { return int64(s.Cap()) * int64(s.dim) * 4 }

package flat

import (
	"iter"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/vec"
)

// Search scans slots (an iterator over live slots) and returns the k nearest
// to q under m, ascending distance, ties broken by smaller slot, appended to
// dst[:0]. Vectors come from vs.At(slot). For vec.Cosine, q and the stored
// vectors are already unit length.
//
// It computes one distance per yielded slot. It returns dst[:0] when k <= 0,
// when m is not a valid metric or when len(q) != vs.Dim(); slots at or beyond
// vs.Cap() are skipped. It does not allocate when cap(dst) >= k.
func Search(vs *vec.Slab, m vec.Metric, q []float32, k int, slots iter.Seq[uint32], dst []vec.Neighbor) []vec.Neighbor {
	dst = dst[:0]
	if k <= 0 || !m.Valid() || len(q) != vs.Dim() || slots == nil {
		return dst
	}
	s := scanners.get()
	s.vs, s.l2, s.q, s.k, s.h = vs, m == vec.L2, q, k, dst
	s.cap = uint32(min(vs.Cap(), 1<<32-1))
	slots(s.yield)
	h := s.h
	*s = scanner{yield: s.yield} // drop references before pooling
	scanners.put(s)
	sortHeap(h)
	return h
}

// scanner is the state of one Search. Its yield func is made once, when the
// scanner is made, and the scanner is pooled, so that passing it to the
// caller's iterator allocates nothing.
type scanner struct {
	vs    *vec.Slab
	q     []float32
	h     []vec.Neighbor // max-heap of the k best so far
	k     int
	cap   uint32
	l2    bool
	yield func(uint32) bool
}

func (s *scanner) visit(slot uint32) bool {
	if slot >= s.cap {
		// The slab may have grown since Search started.
		s.cap = uint32(min(s.vs.Cap(), 1<<32-1))
		if slot >= s.cap {
			return true
		}
	}
	s.h = offer(s.h, s.k, vec.Neighbor{Slot: slot, Dist: distance(s.l2, s.q, s.vs.At(slot))})
	return true
}

func distance(l2 bool, q, v []float32) float32 {
	if l2 {
		return vec.L2Sq(q, v)
	}
	return 1 - vec.Dot(q, v)
}

// scannerPool is a typed wrapper of sync.Pool.
type scannerPool struct{ p sync.Pool }

var scanners scannerPool

func (p *scannerPool) get() *scanner {
	if s, ok := p.p.Get().(*scanner); ok {
		return s
	}
	s := &scanner{}
	s.yield = s.visit
	return s
}

func (p *scannerPool) put(s *scanner) { p.p.Put(s) }

// batchSize is how many queries one pass over the slots serves: each stored
// vector is loaded once per batch and scored against every query in it while
// it is still in cache.
const batchSize = 16

// maxPrealloc bounds the room SearchBatch reserves per result up front, so a
// huge k over few slots does not reserve memory it never fills.
const maxPrealloc = 256

// SearchBatch runs several queries over the same slot set, using up to
// workers goroutines (queries split across workers); results[i] for
// queries[i]. workers <= 0 means runtime.GOMAXPROCS(0). slots is called once
// per pass, and may be called concurrently: each call must return a fresh
// iterator over the same slot set.
//
// Queries are taken in batches of up to 16, and each batch makes one pass over
// the slots, so a stored vector is read from memory once per batch rather than
// once per query. results[i] is exactly what Search(vs, m, queries[i], k,
// slots(), nil) returns: nil when there is no result (k <= 0, an invalid
// metric, len(queries[i]) != vs.Dim(), no slots).
func SearchBatch(vs *vec.Slab, m vec.Metric, queries [][]float32, k int, slots func() iter.Seq[uint32], workers int) [][]vec.Neighbor {
	results := make([][]vec.Neighbor, len(queries))
	if len(queries) == 0 || k <= 0 || !m.Valid() || slots == nil {
		return results
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nBatches := (len(queries) + batchSize - 1) / batchSize
	workers = min(workers, nBatches)
	var next atomic.Int64
	work := func() {
		for {
			b := int(next.Add(1) - 1)
			if b >= nBatches {
				return
			}
			lo := b * batchSize
			hi := min(lo+batchSize, len(queries))
			searchBatch(vs, m == vec.L2, queries[lo:hi], k, slots(), results[lo:hi])
		}
	}
	if workers == 1 {
		work()
		return results
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(work)
	}
	wg.Wait()
	return results
}

// searchBatch answers qs in one pass over slots, into out (len(out) == len(qs)).
func searchBatch(vs *vec.Slab, l2 bool, qs [][]float32, k int, slots iter.Seq[uint32], out [][]vec.Neighbor) {
	dim := vs.Dim()
	var live [batchSize]int // indexes of the queries with the right dimension
	n := 0
	for i, q := range qs {
		if len(q) == dim {
			live[n] = i
			n++
		}
	}
	if n == 0 || slots == nil {
		return
	}
	// One backing array for the batch's results, each with room for k (up to
	// a bound, past which a result grows by append).
	per := min(k, maxPrealloc)
	backing := make([]vec.Neighbor, n*per)
	for j, i := range live[:n] {
		out[i] = backing[j*per : j*per : (j+1)*per]
	}
	limit := uint32(min(vs.Cap(), 1<<32-1))
	for slot := range slots {
		if slot >= limit {
			limit = uint32(min(vs.Cap(), 1<<32-1))
			if slot >= limit {
				continue
			}
		}
		v := vs.At(slot)
		for _, i := range live[:n] {
			out[i] = offer(out[i], k, vec.Neighbor{Slot: slot, Dist: distance(l2, qs[i], v)})
		}
	}
	for _, i := range live[:n] {
		sortHeap(out[i])
	}
}

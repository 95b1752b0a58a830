package flat

import (
	"iter"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

// Search scans slots (an iterator over live slots) and returns the k nearest
// to q under m, ascending distance, ties broken by smaller slot, appended to
// dst[:0]. Vectors come from vs.At(slot). For vec.Cosine, q and the stored
// vectors are already unit length. It scores through a scan scorer of
// score.NewF32Scan, so a distance is exactly m.Distance.
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
	s.f32.InitScan(vs, m)
	s.f32.SetQuery(q)
	s.sc, s.vs = &s.f32, vs
	s.cap = uint32(min(vs.Cap(), 1<<32-1))
	return s.run(k, slots, dst)
}

// SearchScorer is Search over any space: it scores the yielded slots with sc,
// which the caller prepared for its query (score.Scorer.SetQuery), and
// returns the k nearest by sc's distances. Every yielded slot must have
// storage in sc's space. It does not allocate when cap(dst) >= k.
func SearchScorer(sc score.Scorer, k int, slots iter.Seq[uint32], dst []vec.Neighbor) []vec.Neighbor {
	dst = dst[:0]
	if k <= 0 || sc == nil || slots == nil {
		return dst
	}
	s := scanners.get()
	s.sc = sc
	return s.run(k, slots, dst)
}

// run scans slots into a heap of the k best in dst (empty), then pools s.
func (s *scanner) run(k int, slots iter.Seq[uint32], dst []vec.Neighbor) []vec.Neighbor {
	s.k, s.h = k, dst
	slots(s.yield)
	s.flush()
	h := s.h
	s.reset()
	scanners.put(s)
	sortHeap(h)
	return h
}

// scanBatch is how many yielded slots the scanner scores per Score call: the
// call's cost is shared by the batch (BenchmarkSearch).
const scanBatch = 64

// scanner is the state of one Search. Its yield func is made once, when the
// scanner is made, and the scanner is pooled, so that passing it to the
// caller's iterator allocates nothing.
type scanner struct {
	sc  score.Scorer
	f32 score.F32Scorer // sc for a slab
	vs  *vec.Slab       // nil: no capacity check (SearchScorer)
	h   []vec.Neighbor  // max-heap of the k best so far
	k   int
	cap uint32
	n   int // slots in buf
	buf [scanBatch]vec.Neighbor
	// yield is visit, made once.
	yield func(uint32) bool
}

func (s *scanner) visit(slot uint32) bool {
	if s.vs != nil && slot >= s.cap {
		// The slab may have grown since Search started.
		s.cap = uint32(min(s.vs.Cap(), 1<<32-1))
		if slot >= s.cap {
			return true
		}
	}
	s.buf[s.n] = vec.Neighbor{Slot: slot}
	s.n++
	if s.n == scanBatch {
		s.flush()
	}
	return true
}

// flush scores the buffered slots and offers them to the heap.
func (s *scanner) flush() {
	b := s.buf[:s.n]
	s.n = 0
	if len(b) == 0 {
		return
	}
	s.sc.Score(b)
	for _, x := range b {
		s.h = offer(s.h, s.k, x)
	}
}

// reset drops the references to the caller's data before pooling.
func (s *scanner) reset() {
	s.sc, s.vs, s.h = nil, nil, nil
	s.f32.Reset()
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
			searchBatch(vs, m, queries[lo:hi], k, slots(), results[lo:hi])
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
// The slots are taken in groups of batchChunk, and each group is scored by
// each query's scorer while its vectors are in cache.
func searchBatch(vs *vec.Slab, m vec.Metric, qs [][]float32, k int, slots iter.Seq[uint32], out [][]vec.Neighbor) {
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
	scorers := make([]score.F32Scorer, n)
	for j, i := range live[:n] {
		scorers[j].InitScan(vs, m)
		scorers[j].SetQuery(qs[i])
	}
	// One backing array for the batch's results, each with room for k (up to
	// a bound, past which a result grows by append).
	per := min(k, maxPrealloc)
	backing := make([]vec.Neighbor, n*per)
	for j, i := range live[:n] {
		out[i] = backing[j*per : j*per : (j+1)*per]
	}
	var chunk [batchChunk]vec.Neighbor
	c := 0
	flush := func() {
		for j, i := range live[:n] {
			b := chunk[:c]
			scorers[j].Score(b)
			for _, x := range b {
				out[i] = offer(out[i], k, x)
			}
		}
		c = 0
	}
	limit := uint32(min(vs.Cap(), 1<<32-1))
	for slot := range slots {
		if slot >= limit {
			limit = uint32(min(vs.Cap(), 1<<32-1))
			if slot >= limit {
				continue
			}
		}
		chunk[c] = vec.Neighbor{Slot: slot}
		c++
		if c == batchChunk {
			flush()
		}
	}
	flush()
	for _, i := range live[:n] {
		sortHeap(out[i])
	}
}

// batchChunk is how many slots searchBatch scores per query and Score call:
// 8 vectors of 512 dimensions are 16 KiB, which stay in L1 for the 16
// queries (BenchmarkSearchBatch16).
const batchChunk = 8

package score

import (
	"fmt"
	"slices"

	"github.com/sextantdb/sextant/internal/vec"
)

// F32 is the Space of float32 vectors in a vec.Slab: exact distances, cosine
// and ip as 1 − dot, l2 as the squared Euclidean distance. It is the first
// implementation of the seam and the one every graph has today.
//
// F32 is safe for concurrent use; its scorers are not (see Scorer).
type F32 struct {
	slab   *vec.Slab
	metric vec.Metric
	l2     bool
	kern   func(a, b []float32) float32
	// kern4 computes four distances in one pass (vec.Dot4, vec.L2Sq4), or
	// is nil where single kernels serve better: see vec.GraphDot4.
	kern4 func(q, a, b, c, d []float32, out *[4]float32)
	// ahead is how many slots ahead of the distance computation Score
	// prefetches their vectors (0: no prefetch), pfLines the 64-byte lines
	// per vector.
	ahead, pfLines int
}

// Prefetching in Score (vec.Prefetch: PREFETCHT0, a no-op under purego).
// Measured with BenchmarkSearch in internal/index/hnsw (M 16,
// efConstruction 100, ef 100, alternated runs on the 2-core EPYC), when it
// was written in the graph's search loop. First, with the heaps: no prefetch
// glove-twitter-25 47-49, fashion-mnist-784 143-144, wordnet-use512 320-338
// µs/op; 2 ahead, 4 lines: 43-44, 122-131, 262-311. Then, with the sorted
// pool and the AVX-512 graph kernels, three sweeps of (ahead, lines) on
// fashion / wordnet: none 111-147 / 270-294; (2, 4) 101-141 / 236-258;
// (2, 8) 104-108 / 223-230 in the quiet sweep (117-137 / 243-268 in a busier
// one); (2, 16) and (1, 16) close to (2, 8); (2, 32) worse (250-303 on
// wordnet). With the four-way kernel a whole group of four is prefetched
// while the previous one is computed.
const (
	// prefetchAhead is how many slots ahead of the distance computation
	// their vectors are prefetched.
	prefetchAhead = 2
	// prefetchLines caps the 64-byte lines prefetched per vector; the
	// hardware prefetcher streams the rest once the first lines miss.
	prefetchLines = 8
)

// NewF32 returns the space of the vectors in slab under m, for a graph: its
// scorers read vectors from random places in memory, so they prefetch ahead
// and use the graph kernels (vec.GraphDot, vec.GraphL2Sq, and the four-way
// ones below 256 dimensions). For cosine every stored vector and query must
// be unit length. It panics on an invalid metric.
func NewF32(slab *vec.Slab, m vec.Metric) *F32 {
	sp := newF32(slab, m)
	dim := slab.Dim()
	sp.kern, sp.kern4 = vec.GraphDot(dim), vec.GraphDot4(dim)
	if sp.l2 {
		sp.kern, sp.kern4 = vec.GraphL2Sq(dim), vec.GraphL2Sq4(dim)
	}
	sp.ahead = prefetchAhead
	if sp.kern4 != nil {
		sp.ahead = 4 // a group
	}
	sp.pfLines = min(prefetchLines, (dim*4+63)/64)
	return sp
}

// NewF32Scan returns the space of the vectors in slab under m, for an exact
// scan (internal/index/flat): its scorers use the kernels of vec.Dot and
// vec.L2Sq (vec.ScanDot, vec.ScanL2Sq), those of a stream, and do not
// prefetch; a distance is exactly m.Distance.
func NewF32Scan(slab *vec.Slab, m vec.Metric) *F32 {
	sp := newF32(slab, m)
	sp.kern = vec.ScanDot()
	if sp.l2 {
		sp.kern = vec.ScanL2Sq()
	}
	return sp
}

func newF32(slab *vec.Slab, m vec.Metric) *F32 {
	if !m.Valid() {
		panic(fmt.Sprintf("BUG: score: float32 space with invalid metric %d", uint8(m)))
	}
	return &F32{slab: slab, metric: m, l2: m == vec.L2}
}

var _ Space = (*F32)(nil)

// Slab returns the vectors of the space.
func (sp *F32) Slab() *vec.Slab { return sp.slab }

// Dim implements Space.
func (sp *F32) Dim() int { return sp.slab.Dim() }

// Cap implements Space.
func (sp *F32) Cap() int { return sp.slab.Cap() }

// Metric implements Space.
func (sp *F32) Metric() vec.Metric { return sp.metric }

// Exact implements Space: float32 distances are exact.
func (sp *F32) Exact() bool { return true }

// Dist implements Space.
func (sp *F32) Dist(a, b uint32) float32 {
	d := sp.kern(sp.slab.At(a), sp.slab.At(b))
	if !sp.l2 {
		d = 1 - d
	}
	return d
}

// NewScorer implements Space.
func (sp *F32) NewScorer() Scorer { return sp.NewF32Scorer() }

// NewF32Scorer is NewScorer with the concrete type.
func (sp *F32) NewF32Scorer() *F32Scorer {
	return &F32Scorer{kern: sp.kern, kern4: sp.kern4, l2: sp.l2, ahead: sp.ahead, pfLines: sp.pfLines, slab: sp.slab}
}

// F32Scorer is the Scorer of an F32 space. It copies the space's kernels so
// that a distance reads only the scorer.
type F32Scorer struct {
	q     []float32
	view  vec.SlabView // made at each Set: one table lookup per vector
	kern  func(a, b []float32) float32
	kern4 func(q, a, b, c, d []float32, out *[4]float32)
	ds    [4]float32 // kern4's output (here, not on the stack: it would escape)
	l2    bool
	ahead int
	// pfLines is the number of cache lines prefetched per vector.
	pfLines int
	slab    *vec.Slab
}

var _ Scorer = (*F32Scorer)(nil)

// SetQuery implements Scorer.
func (s *F32Scorer) SetQuery(q []float32) {
	s.q = q
	s.view = s.slab.View()
}

// SetNode implements Scorer.
func (s *F32Scorer) SetNode(slot uint32) {
	s.q = s.slab.At(slot)
	s.view = s.slab.View()
}

// Reset drops the scorer's references to its query and to the slab's table
// (before pooling it).
func (s *F32Scorer) Reset() {
	s.q = nil
	s.view = vec.SlabView{}
}

// Dist implements Scorer.
func (s *F32Scorer) Dist(slot uint32) float32 {
	d := s.kern(s.q, s.view.At(slot))
	if !s.l2 {
		d = 1 - d
	}
	return d
}

// Score implements Scorer: with the four-way kernel, four slots per pass, the
// next group prefetched while one is computed; otherwise one at a time,
// prefetching ahead (a scan scorer does not prefetch).
func (s *F32Scorer) Score(ns []vec.Neighbor) {
	vs := &s.view
	q := s.q
	j := 0
	if s.ahead > 0 {
		for i := range min(s.ahead, len(ns)) {
			vec.Prefetch(vs.At(ns[i].Slot), s.pfLines)
		}
	}
	if kern4 := s.kern4; kern4 != nil {
		ds := &s.ds
		for ; j+4 <= len(ns); j += 4 {
			for p := j + 4; p < min(j+8, len(ns)); p++ {
				vec.Prefetch(vs.At(ns[p].Slot), s.pfLines)
			}
			grp := ns[j : j+4 : j+4] // one bounds check for the four
			kern4(q, vs.At(grp[0].Slot), vs.At(grp[1].Slot), vs.At(grp[2].Slot), vs.At(grp[3].Slot), ds)
			if s.l2 {
				grp[0].Dist, grp[1].Dist, grp[2].Dist, grp[3].Dist = ds[0], ds[1], ds[2], ds[3]
			} else {
				grp[0].Dist, grp[1].Dist, grp[2].Dist, grp[3].Dist = 1-ds[0], 1-ds[1], 1-ds[2], 1-ds[3]
			}
		}
	}
	kern, ahead := s.kern, s.ahead
	for ; j < len(ns); j++ {
		if ahead > 0 && j+ahead < len(ns) {
			vec.Prefetch(vs.At(ns[j+ahead].Slot), s.pfLines)
		}
		d := kern(q, vs.At(ns[j].Slot))
		if !s.l2 {
			d = 1 - d
		}
		ns[j].Dist = d
	}
}

// Rerank scores cands with sc (prepared for the query: an exact scorer, to
// re-rank the candidates of an approximate space) and returns the k nearest,
// ascending by distance, ties by smaller slot, in cands' memory.
func Rerank(sc Scorer, cands []vec.Neighbor, k int) []vec.Neighbor {
	sc.Score(cands)
	slices.SortFunc(cands, func(a, b vec.Neighbor) int {
		if a.Less(b) {
			return -1
		}
		if b.Less(a) {
			return 1
		}
		return 0
	})
	return cands[:max(0, min(k, len(cands)))]
}

// InitScan makes s a scorer of NewF32Scan(slab, m) without allocating (a
// pooled scanner keeps one). It panics on an invalid metric.
func (s *F32Scorer) InitScan(slab *vec.Slab, m vec.Metric) {
	if !m.Valid() {
		panic(fmt.Sprintf("BUG: score: float32 scorer with invalid metric %d", uint8(m)))
	}
	*s = F32Scorer{kern: vec.ScanDot(), l2: m == vec.L2, slab: slab}
	if s.l2 {
		s.kern = vec.ScanL2Sq()
	}
}

package score

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/vec"
)

func slabOf(r *rand.Rand, n, dim int) *vec.Slab {
	s := vec.NewSlab(dim)
	v := make([]float32, dim)
	for i := range n {
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		vec.Normalize(v, v)
		s.Set(uint32(i), v)
	}
	return s
}

// Score, Dist and Space.Dist agree with vec.Metric.Distance, for every
// metric, at dimensions on both sides of the four-way kernel's limit and
// for lists of every length mod 4; the scan scorer agrees exactly.
func TestF32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, dim := range []int{1, 7, 25, 128, 300} {
		slab := slabOf(r, 40, dim)
		for _, m := range []vec.Metric{vec.Cosine, vec.L2, vec.IP} {
			for _, scan := range []bool{false, true} {
				sp := NewF32(slab, m)
				if scan {
					sp = NewF32Scan(slab, m)
				}
				require.Equal(t, dim, sp.Dim())
				require.Equal(t, slab.Cap(), sp.Cap())
				require.Equal(t, m, sp.Metric())
				require.True(t, sp.Exact())
				sc := sp.NewScorer()
				q := slab.At(3)
				for _, node := range []bool{false, true} {
					if node {
						sc.SetNode(3)
					} else {
						sc.SetQuery(q)
					}
					for n := range 11 {
						ns := make([]vec.Neighbor, n)
						for i := range ns {
							ns[i].Slot = uint32(r.IntN(40))
						}
						sc.Score(ns)
						for _, x := range ns {
							want := m.Distance(q, slab.At(x.Slot))
							if scan {
								require.Equal(t, want, x.Dist)
								require.Equal(t, want, sc.Dist(x.Slot))
							} else {
								require.InDelta(t, want, x.Dist, 1e-5)
								require.InDelta(t, want, sc.Dist(x.Slot), 1e-5)
								require.InDelta(t, want, sp.Dist(3, x.Slot), 1e-5)
							}
						}
					}
				}
			}
		}
	}
}

func TestInitScanMatchesNewF32Scan(t *testing.T) {
	slab := slabOf(rand.New(rand.NewPCG(3, 4)), 10, 33)
	var s F32Scorer
	s.InitScan(slab, vec.L2)
	s.SetQuery(slab.At(0))
	want := NewF32Scan(slab, vec.L2).NewScorer()
	want.SetQuery(slab.At(0))
	for slot := range uint32(10) {
		require.Equal(t, want.Dist(slot), s.Dist(slot))
	}
	require.Panics(t, func() { s.InitScan(slab, 0) })
	require.Panics(t, func() { NewF32(slab, 0) })
}

func TestRerank(t *testing.T) {
	slab := slabOf(rand.New(rand.NewPCG(5, 6)), 50, 16)
	sc := NewF32Scan(slab, vec.Cosine).NewScorer()
	q := slab.At(7)
	sc.SetQuery(q)
	cands := make([]vec.Neighbor, 50)
	for i := range cands {
		cands[i] = vec.Neighbor{Slot: uint32(49 - i), Dist: float32(i)} // wrong distances
	}
	got := Rerank(sc, cands, 5)
	require.Len(t, got, 5)
	require.Equal(t, uint32(7), got[0].Slot)
	for i, x := range got {
		require.Equal(t, vec.Cosine.Distance(q, slab.At(x.Slot)), x.Dist)
		if i > 0 {
			require.False(t, x.Less(got[i-1]))
		}
	}
	require.Len(t, Rerank(sc, cands[:3], 10), 3)
	require.Empty(t, Rerank(sc, nil, 10))
}

func TestScorerAllocs(t *testing.T) {
	slab := slabOf(rand.New(rand.NewPCG(7, 8)), 64, 25)
	sc := NewF32(slab, vec.Cosine).NewScorer()
	ns := make([]vec.Neighbor, 32)
	for i := range ns {
		ns[i].Slot = uint32(i)
	}
	q := slab.At(1)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		sc.SetQuery(q)
		sc.Score(ns)
		Rerank(sc, ns, 10)
	}))
}

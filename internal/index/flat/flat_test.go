package flat

import (
	"cmp"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vec"
)

var metrics = []vec.Metric{vec.Cosine, vec.L2, vec.IP}

// seq yields the given slots in order.
func seq(slots []uint32) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for _, s := range slots {
			if !yield(s) {
				return
			}
		}
	}
}

func rangeSlots(n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i)
	}
	return s
}

// slabOf stores vs in slots 0..len(vs)-1, normalizing them for cosine.
func slabOf(t testing.TB, m vec.Metric, dim int, vs [][]float32) *vec.Slab {
	t.Helper()
	s := vec.NewSlab(dim)
	buf := make([]float32, dim)
	for i, v := range vs {
		copy(buf, v)
		if m == vec.Cosine {
			vec.Normalize(buf, buf)
		}
		s.Set(uint32(i), buf)
	}
	return s
}

func randVecs(r *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// naive scores every slot and sorts them all: the reference Search must match
// exactly (same kernels, so the same float32 distances).
func naive(vs *vec.Slab, m vec.Metric, q []float32, k int, slots []uint32) []vec.Neighbor {
	all := make([]vec.Neighbor, 0, len(slots))
	for _, s := range slots {
		all = append(all, vec.Neighbor{Slot: s, Dist: m.Distance(q, vs.At(s))})
	}
	slices.SortFunc(all, func(a, b vec.Neighbor) int {
		if a.Less(b) {
			return -1
		}
		if b.Less(a) {
			return 1
		}
		return 0
	})
	return all[:max(0, min(k, len(all)))]
}

// requireSame compares results, treating nil and empty alike.
func requireSame(t *testing.T, want, got []vec.Neighbor, msgAndArgs ...any) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	require.Equal(t, want, got, msgAndArgs...)
}

func TestSearchMatchesNaive(t *testing.T) {
	const dim = 19 // odd, to go through the kernels' tails
	r := rand.New(rand.NewPCG(7, 7))
	base := randVecs(r, 500, dim)
	// Duplicates of vector 3 in later slots: equal distances, smaller slot first.
	for _, s := range []int{40, 41, 499} {
		base[s] = slices.Clone(base[3])
	}
	tests := []struct {
		name  string
		k     int
		slots []uint32
	}{
		{"k=10 all", 10, rangeSlots(500)},
		{"k=1", 1, rangeSlots(500)},
		{"k=0", 0, rangeSlots(500)},
		{"k<0", -3, rangeSlots(500)},
		{"k=len", 500, rangeSlots(500)},
		{"k>len", 1000, rangeSlots(500)},
		{"empty slots", 10, nil},
		{"one slot", 10, []uint32{17}},
		{"subset", 7, []uint32{499, 3, 41, 1, 40, 250, 100, 2, 9, 8, 7, 6}},
		{"beyond cap skipped", 5, []uint32{3, 2000, 1 << 31, 40}},
	}
	for _, m := range metrics {
		vs := slabOf(t, m, dim, base)
		queries := append(randVecs(r, 5, dim), slices.Clone(base[3]))
		for _, q := range queries {
			if m == vec.Cosine {
				vec.Normalize(q, q)
			}
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s", m, tt.name), func(t *testing.T) {
				for qi, q := range queries {
					valid := slices.DeleteFunc(slices.Clone(tt.slots), func(s uint32) bool { return int(s) >= vs.Cap() })
					want := naive(vs, m, q, tt.k, valid)
					got := Search(vs, m, q, tt.k, seq(tt.slots), nil)
					requireSame(t, want, got, "query %d", qi)

					// The order of the slot iterator does not matter.
					shuffled := slices.Clone(tt.slots)
					r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
					requireSame(t, want, Search(vs, m, q, tt.k, seq(shuffled), make([]vec.Neighbor, 3, 8)), "query %d shuffled", qi)

					// Through any scorer: the same, over the slots with storage.
					sc := score.NewF32Scan(vs, m).NewScorer()
					sc.SetQuery(q)
					requireSame(t, want, SearchScorer(sc, tt.k, seq(valid), nil), "query %d scorer", qi)
				}
			})
		}
	}
}

func TestSearchTies(t *testing.T) {
	// Slots 5, 2, 9 hold the same vector and 7 the query itself.
	vs := vec.NewSlab(4)
	for s := range uint32(12) {
		vs.Set(s, []float32{float32(s) * 10, 0, 0, 1})
	}
	dup := []float32{1, 1, 1, 1}
	for _, s := range []uint32{9, 5, 2} {
		vs.Set(s, dup)
	}
	got := Search(vs, vec.L2, dup, 4, seq([]uint32{11, 9, 7, 5, 3, 2, 1, 0}), nil)
	require.Equal(t, []vec.Neighbor{{Slot: 2, Dist: 0}, {Slot: 5, Dist: 0}, {Slot: 9, Dist: 0}, {Slot: 0, Dist: 3}}, got)
}

func TestSearchInvalidInput(t *testing.T) {
	vs := slabOf(t, vec.L2, 3, [][]float32{{1, 2, 3}, {4, 5, 6}})
	dst := make([]vec.Neighbor, 2, 4)
	tests := []struct {
		name  string
		m     vec.Metric
		q     []float32
		slots iter.Seq[uint32]
	}{
		{"short query", vec.L2, []float32{1, 2}, seq(rangeSlots(2))},
		{"long query", vec.L2, []float32{1, 2, 3, 4}, seq(rangeSlots(2))},
		{"nil query", vec.L2, nil, seq(rangeSlots(2))},
		{"bad metric", vec.Metric(0), []float32{1, 2, 3}, seq(rangeSlots(2))},
		{"bad metric 9", vec.Metric(9), []float32{1, 2, 3}, seq(rangeSlots(2))},
		{"nil slots", vec.L2, []float32{1, 2, 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotPanics(t, func() {
				require.Empty(t, Search(vs, tt.m, tt.q, 5, tt.slots, dst))
				for _, res := range SearchBatch(vs, tt.m, [][]float32{tt.q}, 5, func() iter.Seq[uint32] { return tt.slots }, 2) {
					require.Empty(t, res)
				}
			})
		})
	}
}

func TestSearchBatchMatchesSearch(t *testing.T) {
	const dim = 33
	r := rand.New(rand.NewPCG(9, 9))
	base := randVecs(r, 700, dim)
	slots := rangeSlots(700)
	slots = slices.DeleteFunc(slots, func(s uint32) bool { return s%5 == 0 }) // some slots are not live
	for _, m := range metrics {
		vs := slabOf(t, m, dim, base)
		queries := randVecs(r, 53, dim) // not a multiple of the batch size
		for _, q := range queries {
			if m == vec.Cosine {
				vec.Normalize(q, q)
			}
		}
		queries[10] = queries[10][:dim-1] // wrong dimension: empty result
		for _, workers := range []int{0, 1, 2, 3, 100} {
			for _, k := range []int{0, 1, 10, 1000} {
				t.Run(fmt.Sprintf("%s/workers=%d/k=%d", m, workers, k), func(t *testing.T) {
					got := SearchBatch(vs, m, queries, k, func() iter.Seq[uint32] { return seq(slots) }, workers)
					require.Len(t, got, len(queries))
					for i, q := range queries {
						require.Equal(t, Search(vs, m, q, k, seq(slots), nil), got[i], "query %d", i)
					}
				})
			}
		}
	}
	require.Empty(t, SearchBatch(vec.NewSlab(3), vec.L2, nil, 10, func() iter.Seq[uint32] { return seq(nil) }, 2))
}

func TestSearchZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	const dim, k = 64, 10
	r := rand.New(rand.NewPCG(1, 1))
	for _, m := range metrics {
		vs := slabOf(t, m, dim, randVecs(r, 2000, dim))
		q := randVecs(r, 1, dim)[0]
		slots := seq(rangeSlots(2000))
		dst := make([]vec.Neighbor, 0, k)
		allocs := testing.AllocsPerRun(50, func() {
			dst = Search(vs, m, q, k, slots, dst)
		})
		require.Zero(t, allocs, "%s", m)
		sc := score.NewF32Scan(vs, m).NewScorer()
		allocs = testing.AllocsPerRun(50, func() {
			sc.SetQuery(q)
			dst = SearchScorer(sc, k, slots, dst)
		})
		require.Zero(t, allocs, "%s scorer", m)
		require.Len(t, dst, k)
	}
}

// TestSearchRealData checks Search's top 10 against the data sets' shipped
// ground truth, computed in float64; float32 may flip near-ties, hence 0.999.
func TestSearchRealData(t *testing.T) {
	tests := []struct {
		name string
		m    vec.Metric
	}{
		{"glove-twitter-25", vec.Cosine},
		{"fashion-mnist-784", vec.L2},
	}
	const nq, k = 200, 10
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := testutil.LoadDataset(tt.name, 0)
			require.NoError(t, err)
			require.Equal(t, tt.m.String(), ds.Metric)
			vs := slabOf(t, tt.m, ds.Dim, ds.Base)
			queries := make([][]float32, nq)
			for i := range queries {
				queries[i] = slices.Clone(ds.Queries[i])
				if tt.m == vec.Cosine {
					vec.Normalize(queries[i], queries[i])
				}
			}
			all := func() iter.Seq[uint32] { return seq(rangeSlots(len(ds.Base))) }
			res := SearchBatch(vs, tt.m, queries, k, all, 2)
			var sum float64
			dst := make([]vec.Neighbor, 0, k)
			for i, q := range queries {
				got := make([]uint32, 0, k)
				for _, n := range res[i] {
					got = append(got, n.Slot)
				}
				sum += testutil.RecallAtK(got, ds.GT[i], k)
				if i < 20 { // Search and SearchBatch agree on real data too
					require.Equal(t, res[i], Search(vs, tt.m, q, k, all(), dst))
				}
				require.True(t, slices.IsSortedFunc(res[i], func(a, b vec.Neighbor) int { return cmp.Compare(a.Dist, b.Dist) }))
			}
			recall := sum / nq
			t.Logf("%s: recall@%d over %d queries = %.4f", tt.name, k, nq, recall)
			require.GreaterOrEqual(t, recall, 0.999)
		})
	}
}

func BenchmarkSearch(b *testing.B) {
	ds, err := testutil.LoadDataset("wordnet-use512", 0)
	require.NoError(b, err)
	vs := slabOf(b, vec.Cosine, ds.Dim, ds.Base)
	q := slices.Clone(ds.Queries[0])
	vec.Normalize(q, q)
	slots := seq(rangeSlots(len(ds.Base)))
	dst := make([]vec.Neighbor, 0, 10)
	// MB/s is the scan rate over the stored vectors (the target is 20 GB/s
	// on one core).
	b.SetBytes(int64(len(ds.Base)) * int64(ds.Dim) * 4)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = Search(vs, vec.Cosine, q, 10, slots, dst)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ds.Base)), "ns/vector")
}

func BenchmarkSearchBatch16(b *testing.B) {
	ds, err := testutil.LoadDataset("wordnet-use512", 0)
	require.NoError(b, err)
	vs := slabOf(b, vec.Cosine, ds.Dim, ds.Base)
	queries := make([][]float32, batchSize)
	for i := range queries {
		queries[i] = slices.Clone(ds.Queries[i])
		vec.Normalize(queries[i], queries[i])
	}
	all := func() iter.Seq[uint32] { return seq(rangeSlots(len(ds.Base))) }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		SearchBatch(vs, vec.Cosine, queries, 10, all, 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(queries)), "ns/query")
}

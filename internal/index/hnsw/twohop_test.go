package hnsw

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/invariants"
	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vec"
)

// bitFilter is a Filter over a dense bitmap of slots.
type bitFilter []bool

func (f bitFilter) Contains(slot uint32) bool { return int(slot) < len(f) && f[slot] }

// searchFunc is Search or SearchTwoHop.
type searchFunc func(q []float32, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats)

// filteredEval is the quality of one search method over a set of queries.
type filteredEval struct {
	recall float64 // mean recall@k against exact filtered search
	dists  float64 // mean distance computations per query
	full   float64 // fraction of queries with min(k, matches) results
}

// evalFiltered runs search over queries with filter f (matching the slots
// match) and compares with exact search over match.
func evalFiltered(t *testing.T, g *Graph, s *vec.Slab, m vec.Metric, search searchFunc, match []uint32, f Filter, queries [][]float32, k, ef int) filteredEval {
	t.Helper()
	var e filteredEval
	dst := make([]vec.Neighbor, 0, k)
	for _, q := range queries {
		res, st := search(q, k, ef, f, dst)
		got := make([]uint32, len(res))
		for i, r := range res {
			got[i] = r.Slot
			require.True(t, f.Contains(r.Slot), "result %d fails the filter", r.Slot)
			require.True(t, g.Contains(r.Slot), "result %d not live", r.Slot)
			if i > 0 {
				require.False(t, res[i].Less(res[i-1]), "results out of order")
			}
		}
		truth := exact(s, m, match, q, k)
		if len(got) >= len(truth) {
			e.full++
		}
		if len(truth) == 0 {
			e.recall++
		} else {
			e.recall += testutil.RecallAtK(got, truth, k)
		}
		e.dists += float64(st.DistanceComputations)
	}
	n := float64(len(queries))
	e.recall /= n
	e.dists /= n
	e.full /= n
	return e
}

// TestSearchTwoHop measures SearchTwoHop against the plain filtered Search on
// real data, for random filters and for filters correlated with the vectors
// (the slots with the largest first component, queried with the queries with
// the smallest), at selectivities from 0.5% to 30%.
func TestSearchTwoHop(t *testing.T) {
	cases := []struct {
		name     string
		base, nq int
	}{
		{"glove-twitter-25", 0, 200},
		{"wordnet-use512", 20000, 200},
	}
	if testing.Short() {
		cases = cases[:1]
		cases[0].nq = 100
	}
	if invariants.Race {
		cases[0].base, cases[0].nq = 3000, 30
	}
	const k, ef = 10, 100
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := loadData(t, tc.name, tc.base, 0)
			g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 11}, len(d.base[0]))
			insertAll(g, s, seq(len(d.base)), d.base, 2)
			n := len(d.base)
			// Queries: the first nq (random filters), and the nq with the
			// smallest first component (correlated filters).
			random := d.queries[:min(tc.nq, len(d.queries))]
			low := slices.Clone(d.queries)
			slices.SortFunc(low, func(a, b []float32) int { return cmpFloat(a[0], b[0]) })
			low = low[:min(tc.nq, len(low))]
			byFirst := seq(n)
			slices.SortFunc(byFirst, func(a, b uint32) int { return cmpFloat(s.At(b)[0], s.At(a)[0]) })
			r := rand.New(rand.NewPCG(3, 4))
			for _, sel := range []float64{0.005, 0.02, 0.05, 0.10, 0.20, 0.30} {
				nm := max(1, int(sel*float64(n)))
				for _, kind := range []string{"random", "correlated"} {
					var match []uint32
					var queries [][]float32
					if kind == "random" {
						match = slices.Clone(seq(n))
						r.Shuffle(n, func(i, j int) { match[i], match[j] = match[j], match[i] })
						match = match[:nm]
						queries = random
					} else {
						match = byFirst[:nm]
						queries = low
					}
					bits := make(bitFilter, n)
					for _, x := range match {
						bits[x] = true
					}
					var f Filter = bits
					two := evalFiltered(t, g, s, d.metric, g.SearchTwoHop, match, f, queries, k, ef)
					one := evalFiltered(t, g, s, d.metric, g.Search, match, f, queries, k, ef)
					t.Logf("%s n=%d %-10s sel=%4.1f%% (%5d): two-hop recall %.4f dists %7.0f full %.3f | filtered Search recall %.4f dists %7.0f full %.3f",
						tc.name, n, kind, 100*sel, nm, two.recall, two.dists, two.full, one.recall, one.dists, one.full)
					require.GreaterOrEqual(t, two.recall, 0.95, "%s %.1f%%", kind, 100*sel)
					require.GreaterOrEqual(t, two.full, 0.99, "%s %.1f%%", kind, 100*sel)
				}
			}
		})
	}
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSearchTwoHopEdges covers the edge cases of SearchTwoHop: empty graph,
// bad arguments, nil and empty filters, tombstones, and a filter whose
// matches are all far from the query.
func TestSearchTwoHopEdges(t *testing.T) {
	rows := randomRows(400, 16, 5)
	g, s := newGraph(t, Config{M: 4, EfConstruction: 20, Metric: vec.Cosine, Seed: 1}, 16)
	res, st := g.SearchTwoHop(rows[0], 10, 10, setFilter{1: true}, nil)
	require.Empty(t, res, "empty graph")
	require.Zero(t, st)
	insertAll(g, s, seq(len(rows)), rows, 2)

	res, _ = g.SearchTwoHop(rows[0][:3], 10, 10, setFilter{1: true}, nil)
	require.Empty(t, res)
	res, _ = g.SearchTwoHop(rows[0], 0, 10, setFilter{1: true}, nil)
	require.Empty(t, res)
	res, _ = g.SearchTwoHop(rows[0], 10, 10, setFilter{}, nil)
	require.Empty(t, res, "nothing matches")
	a, _ := g.SearchTwoHop(rows[7], 5, 40, nil, nil)
	b, _ := g.Search(rows[7], 5, 40, nil, nil)
	require.Equal(t, b, a, "nil filter is Search")

	// A handful of matches anywhere are all found, in order, k above and
	// below their number; tombstoned matches are never returned.
	few := setFilter{3: true, 77: true, 150: true, 151: true, 299: true, 398: true}
	for _, q := range rows[:20] {
		res, _ = g.SearchTwoHop(q, 10, 10, few, nil)
		require.Len(t, res, len(few))
		require.True(t, slices.IsSortedFunc(res, cmpNeighbor))
		res, _ = g.SearchTwoHop(q, 2, 10, few, nil)
		want := exact(s, vec.Cosine, []uint32{3, 77, 150, 151, 299, 398}, q, 2)
		require.Equal(t, want, []uint32{res[0].Slot, res[1].Slot})
	}
	require.True(t, g.Delete(150))
	res, _ = g.SearchTwoHop(rows[150], 10, 10, few, nil)
	require.Len(t, res, len(few)-1)
	for _, r := range res {
		require.NotEqual(t, uint32(150), r.Slot)
	}
	// The query's own node passes: it comes first.
	res, _ = g.SearchTwoHop(rows[77], 1, 10, few, nil)
	require.Equal(t, uint32(77), res[0].Slot)
}

func TestSearchTwoHopAllocs(t *testing.T) {
	if invariants.Race {
		t.Skip("sync.Pool drops items at random under -race")
	}
	d := loadData(t, "glove-twitter-25", 2000, 20)
	g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 1}, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 2)
	f := make(bitFilter, len(d.base))
	for i := 0; i < len(f); i += 37 {
		f[i] = true
	}
	var ff Filter = f // boxed once: converting the slice allocates
	dst := make([]vec.Neighbor, 0, 10)
	i := 0
	for _, q := range d.queries { // warm the pool
		g.SearchTwoHop(q, 10, 100, f, dst)
	}
	allocs := testing.AllocsPerRun(200, func() {
		dst, _ = g.SearchTwoHop(d.queries[i%len(d.queries)], 10, 100, ff, dst)
		i++
	})
	require.Zero(t, allocs)
}

func BenchmarkSearchTwoHop(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"glove-twitter-25", 0}, {"wordnet-use512", 50000}} {
		b.Run(tc.name, func(b *testing.B) { benchTwoHop(b, tc.name, tc.n) })
	}
}

func benchTwoHop(b *testing.B, name string, n int) {
	g, d := benchGraph(b, name, n) // SEXTANT_BENCH_GRAPHS keeps it across runs
	for _, sel := range []float64{0.005, 0.02, 0.1, 0.3} {
		bits := make(bitFilter, len(d.base))
		r := rand.New(rand.NewPCG(1, 1))
		for i := range bits {
			bits[i] = r.Float64() < sel
		}
		var f Filter = bits
		for _, m := range []struct {
			name   string
			search searchFunc
		}{{"twohop", g.SearchTwoHop}, {"filtered", g.Search}} {
			b.Run(fmt.Sprintf("sel=%.1f%%/%s", 100*sel, m.name), func(b *testing.B) {
				dst := make([]vec.Neighbor, 0, 10)
				var dist int
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					var st SearchStats
					dst, st = m.search(d.queries[i%len(d.queries)], 10, 100, f, dst)
					dist += st.DistanceComputations
				}
				b.ReportMetric(float64(dist)/float64(b.N), "dists/op")
			})
		}
	}
}

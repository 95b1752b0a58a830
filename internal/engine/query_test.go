package engine

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

// queryColl opens an in-memory collection of n random dim-d l2 vectors
// (graph mode), record i carrying {"u": i % 100} and {"lo": i < lo}.
func queryColl(tb testing.TB, n, dim, lo int) *Collection {
	tb.Helper()
	c, err := Open(Options{FS: vfs.NewMem(), Dir: "/q", NoSync: true, Seed: 1},
		Config{Metric: vec.L2, M: 8, EfConstruction: 32, EfSearch: 32, ExactThreshold: 100})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, c.Close()) })
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < n; i += 5000 {
		puts := make([]Put, 0, 5000)
		for j := i; j < min(i+5000, n); j++ {
			v := make([]float32, dim)
			for d := range v {
				v[d] = r.Float32()
			}
			puts = append(puts, Put{ID: strconv.Itoa(j), Vector: v, Meta: map[string]any{"u": int64(j % 100), "lo": j < lo}})
		}
		require.NoError(tb, c.Add(puts))
	}
	c.WaitIndexed()
	return c
}

func queryVectors(n, dim int) [][]float32 {
	r := rand.New(rand.NewPCG(7, 8))
	qs := make([][]float32, n)
	for i := range qs {
		qs[i] = make([]float32, dim)
		for d := range qs[i] {
			qs[i][d] = r.Float32()
		}
	}
	return qs
}

func mustFilter(tb testing.TB, where map[string]any) *filter.Filter {
	tb.Helper()
	f, err := filter.Parse(where, nil)
	require.NoError(tb, err)
	return f
}

// BenchmarkSearchParallel runs Search from GOMAXPROCS goroutines on a small
// collection (20k × 16-d): the per-query monitor hooks (drift, sampler,
// autopilot ef, query-time histogram) run on every query.
//
//	go test -run '^$' -bench SearchParallel -cpu 1,2 ./internal/engine/
func BenchmarkSearchParallel(b *testing.B) {
	const n, dim = 20_000, 16
	c := queryColl(b, n, dim, 0)
	qs := queryVectors(256, dim)
	for _, tc := range []struct {
		name  string
		where map[string]any
		plan  string
	}{
		{"unfiltered", nil, ""},
		{"allow-list-30pct", map[string]any{"u": map[string]any{"$lt": int64(30)}}, PlanHNSWFiltered},
		{"two-hop-5pct", map[string]any{"u": map[string]any{"$lt": int64(5)}}, PlanTwoHop},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var f *filter.Filter
			if tc.where != nil {
				f = mustFilter(b, tc.where)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var hits []Hit
				i := rand.IntN(len(qs))
				for pb.Next() {
					i++
					h, _, err := c.Search(SearchRequest{Vector: qs[i%len(qs)], K: 10, Filter: f, ForcePlan: tc.plan, Hits: hits})
					if err != nil {
						b.Fatal(err)
					}
					hits = h
				}
			})
		})
	}
}

// BenchmarkQueryHooksParallel runs only the per-query monitor hooks that
// Search runs after its traversal (sampler offer, drift on the query and
// its distances, query-time histogram, and the autopilot's ef read), from
// GOMAXPROCS goroutines.
func BenchmarkQueryHooksParallel(b *testing.B) {
	const dim = 16
	c := queryColl(b, 2000, dim, 0)
	qs := queryVectors(256, dim)
	res := make([]vec.Neighbor, 10)
	dists := make([]float32, 10)
	for i := range res {
		res[i] = vec.Neighbor{Slot: uint32(i), Dist: 0.1 * float32(i+1)}
		dists[i] = res[i].Dist
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(qs))
		start := time.Now()
		for pb.Next() {
			i++
			_ = c.effectiveEf()
			req := SearchRequest{Vector: qs[i%len(qs)], K: 10}
			c.observeQuery(&req, Plan{Kind: PlanHNSW}, 10, res, dists, start)
		}
	})
}

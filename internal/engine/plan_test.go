package engine

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/index/flat"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vec"
)

// TestEveryPlanKeepsTheContract forces each plan at several selectivities:
// whatever the planner would choose, every plan returns exactly min(k,
// matches) records, all matching, and close to the exact filtered answer.
func TestEveryPlanKeepsTheContract(t *testing.T) {
	n, nq := 6000, 60
	if testing.Short() {
		n, nq = 2500, 20
	}
	ds, err := testutil.LoadDataset("glove-twitter-25", n)
	require.NoError(t, err)
	c, err := Open(Options{FS: vfs.NewMem(), Dir: "/plans"},
		Config{Metric: vec.Cosine, M: 16, EfConstruction: 100, EfSearch: 100, ExactThreshold: 500})
	require.NoError(t, err)
	verifyAtCleanup(t, c)
	defer closeVerified(t, c)
	rng := rand.New(rand.NewPCG(1, 1))
	u := make([]int, n)
	puts := make([]Put, 0, n)
	for i, v := range ds.Base {
		u[i] = rng.IntN(1000)
		puts = append(puts, Put{ID: strconv.Itoa(i), Vector: v, Meta: map[string]any{"u": int64(u[i])}})
	}
	require.NoError(t, c.Add(puts))
	c.WaitIndexed()
	require.Equal(t, "hnsw", c.Stats().Mode)

	// Exact oracle over normalized copies.
	norm := vec.NewSlab(ds.Dim)
	norm.Grow(n)
	for i, v := range ds.Base {
		vec.Normalize(norm.At(uint32(i)), v)
	}
	for _, p := range []float64{0.01, 0.05, 0.2, 0.5} {
		lim := int(p * 1000)
		f, err := filter.Parse(map[string]any{"u": map[string]any{"$lt": lim}}, nil)
		require.NoError(t, err)
		var rows []uint32
		for i := range u {
			if u[i] < lim {
				rows = append(rows, uint32(i))
			}
		}
		for _, plan := range []string{PlanExact, PlanHNSWFiltered, PlanTwoHop} {
			recall, fallbacks := 0.0, 0
			for qi := 0; qi < nq; qi++ {
				q, err := c.PrepareQuery(0, ds.Queries[qi])
				require.NoError(t, err)
				hits, got, err := c.Search(context.Background(), SearchRequest{Vector: q, K: 10, Filter: f, ForcePlan: plan})
				require.NoError(t, err)
				require.Equal(t, plan, got.Kind)
				require.Equal(t, len(rows), got.Matches)
				require.Len(t, hits, min(10, len(rows)))
				if got.Fallback {
					fallbacks++
				}
				ids := make([]int, len(hits))
				for i, h := range hits {
					r, err := strconv.Atoi(h.ID)
					require.NoError(t, err)
					require.Less(t, u[r], lim, "result %s does not match", h.ID)
					ids[i] = r
				}
				truth := flat.Search(norm, vec.Cosine, q, 10, func(yield func(uint32) bool) {
					for _, r := range rows {
						if !yield(r) {
							return
						}
					}
				}, nil)
				want := make([]int, len(truth))
				for i, tr := range truth {
					want[i] = int(tr.Slot)
				}
				recall += testutil.RecallAtK(ids, want, len(want))
			}
			recall /= float64(nq)
			t.Logf("selectivity %.2f plan %-13s recall@10 %.4f fallbacks %d/%d", p, plan, recall, fallbacks, nq)
			require.GreaterOrEqual(t, recall, 0.95, "plan %s at selectivity %v", plan, p)
		}
	}
}

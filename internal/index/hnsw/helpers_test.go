package hnsw

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vec"
)

// dataset is a loaded data set, normalized for cosine.
type dataset struct {
	name    string
	metric  vec.Metric
	base    [][]float32
	queries [][]float32
}

var dsCache sync.Map // name/maxBase -> *testutil.Dataset

// loadData loads the first maxBase base rows (0: all) and maxQ queries
// (0: all) of a shared data set, normalizing them when its metric is cosine.
func loadData(t testing.TB, name string, maxBase, maxQ int) *dataset {
	t.Helper()
	v, ok := dsCache.Load(name)
	if !ok {
		ds, err := testutil.LoadDataset(name, 0)
		require.NoError(t, err)
		if ds.Metric == "cosine" {
			for _, r := range ds.Base {
				vec.Normalize(r, r)
			}
			for _, r := range ds.Queries {
				vec.Normalize(r, r)
			}
		}
		v, _ = dsCache.LoadOrStore(name, ds)
	}
	ds := v.(*testutil.Dataset)
	m, err := vec.ParseMetric(ds.Metric)
	require.NoError(t, err)
	d := &dataset{name: name, metric: m, base: ds.Base, queries: ds.Queries}
	if maxBase > 0 && maxBase < len(d.base) {
		d.base = d.base[:maxBase]
	}
	if maxQ > 0 && maxQ < len(d.queries) {
		d.queries = d.queries[:maxQ]
	}
	return d
}

// newGraph returns an empty graph over a fresh slab and checks it when the
// test ends.
func newGraph(t testing.TB, cfg Config, dim int) (*Graph, *vec.Slab) {
	t.Helper()
	s := vec.NewSlab(dim)
	g := New(cfg, s)
	t.Cleanup(func() { require.NoError(t, g.Check()) })
	return g, s
}

// insertAll stores rows[i] in slots[i] and inserts them with the given
// number of goroutines, then calls Reconnect, as the engine does after a
// batch of inserts.
func insertAll(g *Graph, s *vec.Slab, slots []uint32, rows [][]float32, threads int) {
	for i, slot := range slots {
		s.Set(slot, rows[i])
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(slots) {
					return
				}
				g.Insert(slots[i])
			}
		}()
	}
	wg.Wait()
	g.Reconnect()
	g.Reinforce(threads)
}

func seq(n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

// exact returns the k nearest of the given slots to q by brute force.
func exact(s *vec.Slab, m vec.Metric, slots []uint32, q []float32, k int) []uint32 {
	res := make([]vec.Neighbor, 0, len(slots))
	for _, slot := range slots {
		res = append(res, vec.Neighbor{Slot: slot, Dist: m.Distance(q, s.At(slot))})
	}
	slices.SortFunc(res, cmpNeighbor)
	out := make([]uint32, 0, k)
	for _, r := range res[:min(k, len(res))] {
		out = append(out, r.Slot)
	}
	return out
}

// recallOver returns the mean recall@k of g over queries against exact search
// over live slots (with an optional filter), checking that every result is
// live and passes the filter.
func recallOver(t testing.TB, g *Graph, s *vec.Slab, m vec.Metric, live []uint32, queries [][]float32, k, ef int, f Filter) float64 {
	t.Helper()
	if f != nil {
		live = slices.DeleteFunc(slices.Clone(live), func(x uint32) bool { return !f.Contains(x) })
	}
	var sum float64
	dst := make([]vec.Neighbor, 0, k)
	for _, q := range queries {
		var res []vec.Neighbor
		res, _ = g.Search(q, k, ef, f, dst)
		got := make([]uint32, len(res))
		for i, r := range res {
			got[i] = r.Slot
			require.True(t, g.Contains(r.Slot), "result %d not live", r.Slot)
			if f != nil {
				require.True(t, f.Contains(r.Slot), "result %d fails the filter", r.Slot)
			}
			if i > 0 {
				require.False(t, res[i].Less(res[i-1]), "results out of order")
			}
		}
		truth := exact(s, m, live, q, k)
		require.Equal(t, min(k, len(live)), len(got))
		if len(truth) == 0 {
			sum++
			continue
		}
		sum += testutil.RecallAtK(got, truth, k)
	}
	return sum / float64(len(queries))
}

// setFilter is a Filter over a set of slots.
type setFilter map[uint32]bool

func (f setFilter) Contains(slot uint32) bool { return f[slot] }

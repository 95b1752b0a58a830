package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/invariants"
	"github.com/sextantdb/sextant/internal/vec"
)

// randomRows returns n random unit vectors of dimension dim.
func randomRows(n, dim int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		vec.Normalize(v, v)
		out[i] = v
	}
	return out
}

func TestConcurrent(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 1500
	}
	d := loadData(t, "glove-twitter-25", n, 50)
	g, s := newGraph(t, Config{M: 8, EfConstruction: 64, Metric: d.metric, Seed: 3}, len(d.base[0]))
	// Half first, then inserters, searchers and a deleter together.
	half := n / 2
	insertAll(g, s, seq(half), d.base[:half], 2)
	for i := half; i < n; i++ {
		s.Set(uint32(i), d.base[i])
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	next.Store(int64(half))
	var stop atomic.Bool
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				g.Insert(uint32(i))
			}
		}()
	}
	var deleted sync.Map
	var searchers sync.WaitGroup
	for w := range 2 {
		searchers.Add(1)
		go func() {
			defer searchers.Done()
			dst := make([]vec.Neighbor, 0, 10)
			for i := 0; !stop.Load(); i++ {
				res, _ := g.Search(d.queries[(i+w)%len(d.queries)], 10, 40, nil, dst)
				if len(res) == 0 {
					t.Error("no results")
					return
				}
			}
		}()
	}
	searchers.Add(1)
	go func() {
		defer searchers.Done()
		r := rand.New(rand.NewPCG(9, 9))
		for !stop.Load() {
			x := uint32(r.IntN(half))
			if g.Delete(x) {
				deleted.Store(x, true)
			}
			if g.Tombstones() > half/3 {
				return
			}
		}
	}()
	wg.Wait()
	stop.Store(true)
	searchers.Wait()
	// Concurrent inserts can leave a few nodes linked only to each other
	// (TestReconnectStress); the engine calls Reconnect after each batch.
	g.Reconnect()
	require.NoError(t, g.Check())
	tomb := g.Tombstones()
	freed := g.Repair()
	require.Len(t, freed, tomb)
	for _, x := range freed {
		_, ok := deleted.Load(x)
		require.True(t, ok)
	}
	require.Equal(t, n-tomb, g.Len())
	require.NoError(t, g.Check())
	for _, q := range d.queries {
		res, _ := g.Search(q, 10, 50, nil, nil)
		require.Len(t, res, 10)
		for _, r := range res {
			_, del := deleted.Load(r.Slot)
			require.False(t, del)
		}
	}
}

func TestDeterminism(t *testing.T) {
	d := loadData(t, "glove-twitter-25", 2000, 1)
	build := func() []byte {
		g, s := newGraph(t, Config{M: 12, EfConstruction: 50, Metric: d.metric, Seed: 42}, len(d.base[0]))
		insertAll(g, s, seq(len(d.base)), d.base, 1)
		for i := uint32(0); i < 300; i += 3 {
			g.Delete(i)
		}
		return g.AppendBinary(nil)
	}
	a, b := build(), build()
	require.Equal(t, a, b)
	g, s := newGraph(t, Config{M: 12, EfConstruction: 50, Metric: d.metric, Seed: 43}, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 1)
	require.NotEqual(t, a, g.AppendBinary(nil), "another seed gives another graph")
}

func TestRoundTrip(t *testing.T) {
	d := loadData(t, "glove-twitter-25", 3000, 100)
	cfg := Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 5}
	g, s := newGraph(t, cfg, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 2)
	for i := uint32(0); i < 3000; i += 7 {
		g.Delete(i)
	}
	blob := g.AppendBinary(nil)
	g2, err := Decode(blob, cfg, s)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g2.Check()) })
	require.Equal(t, blob, g2.AppendBinary(nil))
	require.Equal(t, g.Len(), g2.Len())
	require.Equal(t, g.Tombstones(), g2.Tombstones())
	require.Equal(t, g.MemoryBytes(), g2.MemoryBytes())
	for _, q := range d.queries {
		r1, st1 := g.Search(q, 10, 64, nil, nil)
		r2, st2 := g2.Search(q, 10, 64, nil, nil)
		require.Equal(t, r1, r2)
		require.Equal(t, st1, st2)
	}
	// The decoded graph keeps working: repair and insert.
	freed := g2.Repair()
	require.NotEmpty(t, freed)
	insertAll(g2, s, freed, d.base[:len(freed)], 2)
	require.NoError(t, g2.Check())

	// Wrong M and short or altered input are errors.
	_, err = Decode(blob, Config{M: 8, Metric: d.metric}, s)
	require.Error(t, err)
	_, err = Decode(blob[:len(blob)-1], cfg, s)
	require.True(t, IsCorrupt(err), "%v", err)
	_, err = Decode(append(slices.Clone(blob), 0), cfg, s)
	require.True(t, IsCorrupt(err), "%v", err)
	_, err = Decode(blob, cfg, vec.NewSlab(len(d.base[0])))
	require.Error(t, err, "slab without the vectors")

	// An empty graph round-trips too.
	e, es := newGraph(t, cfg, 4)
	eb := e.AppendBinary(nil)
	e2, err := Decode(eb, cfg, es)
	require.NoError(t, err)
	require.Zero(t, e2.Len())
	require.Equal(t, eb, e2.AppendBinary(nil))
}

func FuzzDecode(f *testing.F) {
	cfg := Config{M: 4, EfConstruction: 16, Metric: vec.Cosine, Seed: 1}
	rows := randomRows(200, 8, 1)
	slab := vec.NewSlab(8)
	for _, n := range []int{0, 1, 2, 30, 200} {
		g := New(cfg, slab)
		insertAll(g, slab, seq(n), rows[:n], 1)
		if n > 2 {
			g.Delete(1)
		}
		f.Add(g.AppendBinary(nil))
	}
	f.Add([]byte("SXHNSW"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Decode(b, cfg, slab)
		if err != nil {
			return
		}
		// A graph Decode accepts is usable and re-encodes to the same bytes.
		require.Equal(t, b, g.AppendBinary(nil))
		g.Search(rows[0], 5, 10, nil, nil)
		g.Repair()
	})
}

func TestFilter(t *testing.T) {
	n, nq := 10000, 300
	if testing.Short() {
		n, nq = 3000, 100
	}
	d := loadData(t, "glove-twitter-25", n, nq)
	g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 6}, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 2)
	r := rand.New(rand.NewPCG(1, 2))
	half := setFilter{}
	for i := range len(d.base) {
		if r.IntN(2) == 0 {
			half[uint32(i)] = true
		}
	}
	rec := recallOver(t, g, s, d.metric, seq(len(d.base)), d.queries, 10, 100, half)
	t.Logf("filter 50%%: recall@10 = %.4f", rec)
	require.GreaterOrEqual(t, rec, 0.95)
	// A filter matching few slots still returns only those.
	few := setFilter{3: true, 500: true, 1700: true}
	res, _ := g.Search(d.queries[0], 10, 100, few, nil)
	for _, x := range res {
		require.True(t, few[x.Slot])
	}
	// A filter matching nothing returns nothing.
	res, _ = g.Search(d.queries[0], 10, 100, setFilter{}, nil)
	require.Empty(t, res)
}

func TestEdgeCases(t *testing.T) {
	rows := randomRows(100, 16, 2)
	g, s := newGraph(t, Config{M: 4, EfConstruction: 20, Metric: vec.Cosine, Seed: 1}, 16)

	res, st := g.Search(rows[0], 10, 10, nil, nil)
	require.Empty(t, res, "empty graph")
	require.Zero(t, st.Visited)
	require.Nil(t, g.Repair())
	require.False(t, g.Delete(0))
	require.False(t, g.Delete(1<<30))
	require.False(t, g.Contains(1<<30))

	// One node.
	insertAll(g, s, []uint32{5}, rows[:1], 1)
	res, _ = g.Search(rows[1], 3, 10, nil, nil)
	require.Equal(t, []vec.Neighbor{{Slot: 5, Dist: vec.Cosine.Distance(rows[1], rows[0])}}, res)
	require.NoError(t, g.Check())

	more := seq(50)
	for i := range more {
		more[i] += 10
	}
	insertAll(g, s, more, rows[1:51], 2)
	require.Equal(t, 51, g.Len())
	g.Insert(17) // already present: no-op
	require.Equal(t, 51, g.Len())

	// k > live count returns all live, in order.
	res, _ = g.Search(rows[0], 100, 10, nil, nil)
	require.Len(t, res, 51)
	require.True(t, slices.IsSortedFunc(res, cmpNeighbor))
	// Bad arguments give nothing, never a panic.
	res, _ = g.Search(rows[0][:3], 10, 10, nil, nil)
	require.Empty(t, res)
	res, _ = g.Search(rows[0], 0, 10, nil, nil)
	require.Empty(t, res)

	// Delete everything: searches return nothing.
	require.True(t, g.Delete(5))
	for _, x := range more {
		require.True(t, g.Delete(x))
	}
	require.False(t, g.Delete(5), "deleted twice")
	require.Zero(t, g.Len())
	res, _ = g.Search(rows[0], 10, 10, nil, nil)
	require.Empty(t, res)
	require.NoError(t, g.Check())
	freed := g.Repair()
	require.Len(t, freed, 51)
	require.Zero(t, g.Len())
	require.NoError(t, g.Check())
	res, _ = g.Search(rows[0], 10, 10, nil, nil)
	require.Empty(t, res)

	// Insert after deleting everything and repairing works.
	insertAll(g, s, seq(100), rows, 2)
	require.Equal(t, 100, g.Len())
	res, _ = g.Search(rows[42], 1, 10, nil, nil)
	require.Equal(t, uint32(42), res[0].Slot)
	require.NoError(t, g.Check())

	require.Error(t, Config{M: 1, Metric: vec.L2}.Validate())
	require.Error(t, Config{M: 16}.Validate())
	require.NoError(t, Config{Metric: vec.IP}.Validate())
}

func TestSearchAllocs(t *testing.T) {
	if invariants.Race {
		t.Skip("sync.Pool drops items at random under -race")
	}
	d := loadData(t, "glove-twitter-25", 2000, 20)
	g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 1}, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 2)
	dst := make([]vec.Neighbor, 0, 10)
	i := 0
	g.Search(d.queries[0], 10, 100, nil, dst) // warm the pool
	allocs := testing.AllocsPerRun(200, func() {
		dst, _ = g.Search(d.queries[i%len(d.queries)], 10, 100, nil, dst)
		i++
	})
	require.Zero(t, allocs)
}

// benchGraphs caches the graphs of BenchmarkSearch across -count runs.
var benchGraphs sync.Map // name -> *Graph

// benchGraph returns a graph over the first n base rows of a shared data set
// (M 16, efConstruction 100, 2 goroutines), built once per process.
func benchGraph(b *testing.B, name string, n int) (*Graph, *dataset) {
	d := loadData(b, name, n, 0)
	if g, ok := benchGraphs.Load(name); ok {
		return g.(*Graph), d
	}
	s := vec.NewSlab(len(d.base[0]))
	cfg := Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 1}
	// SEXTANT_BENCH_GRAPHS names a folder where the built graphs are kept, so
	// that runs (and the binaries of a before/after comparison) search the same
	// graph and skip the build.
	dir := os.Getenv("SEXTANT_BENCH_GRAPHS")
	file := filepath.Join(dir, fmt.Sprintf("%s-%d.hnsw", name, len(d.base)))
	var g *Graph
	if dir != "" {
		if buf, err := os.ReadFile(file); err == nil {
			for i, r := range d.base {
				s.Set(uint32(i), r)
			}
			g, err = Decode(buf, cfg, s)
			require.NoError(b, err)
		}
	}
	if g == nil {
		g = New(cfg, s)
		insertAll(g, s, seq(len(d.base)), d.base, 2)
		if dir != "" {
			require.NoError(b, os.WriteFile(file, g.AppendBinary(nil), 0o644))
		}
	}
	benchGraphs.Store(name, g)
	return g, d
}

func BenchmarkSearch(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"glove-twitter-25", 0}, {"fashion-mnist-784", 0}, {"wordnet-use512", 50000}} {
		b.Run(tc.name, func(b *testing.B) { benchSearch(b, tc.name, tc.n, false) })
		// The same graph with its slots renumbered by Reorder (BFS order).
		b.Run(tc.name+"/reordered", func(b *testing.B) { benchSearch(b, tc.name, tc.n, true) })
	}
}

func benchSearch(b *testing.B, name string, n int, reordered bool) {
	g, d := benchGraph(b, name, n)
	if reordered {
		if h, ok := benchGraphs.Load(name + "/reordered"); ok {
			g = h.(*Graph)
		} else {
			g, _ = g.Reorder(vec.NewSlab(len(d.base[0])))
			benchGraphs.Store(name+"/reordered", g)
		}
	}
	dst := make([]vec.Neighbor, 0, 10)
	var dist int
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	// SEXTANT_BENCH_EF sets the search breadth (default 100).
	ef := 100
	if v, err := strconv.Atoi(os.Getenv("SEXTANT_BENCH_EF")); err == nil && v > 0 {
		ef = v
	}
	for i := 0; b.Loop(); i++ {
		var st SearchStats
		dst, st = g.Search(d.queries[i%len(d.queries)], 10, ef, nil, dst)
		dist += st.DistanceComputations
	}
	b.ReportMetric(float64(dist)/float64(b.N), "dists/op")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkInsert(b *testing.B) {
	d := loadData(b, "glove-twitter-25", 0, 0)
	s := vec.NewSlab(len(d.base[0]))
	for i, r := range d.base {
		s.Set(uint32(i), r)
	}
	b.ReportAllocs()
	var g *Graph
	for i := 0; b.Loop(); i++ {
		if i%len(d.base) == 0 {
			g = New(Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 1}, s)
		}
		g.Insert(uint32(i % len(d.base)))
	}
}

// BenchmarkBuild builds a whole graph on one goroutine (M 16,
// efConstruction 100), as `sextant bench` does per worker; ns/vector is
// the figure to compare.
func BenchmarkBuild(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"glove-twitter-25", 0}, {"fashion-mnist-784", 0}, {"wordnet-use512", 10000}} {
		b.Run(tc.name, func(b *testing.B) {
			d := loadData(b, tc.name, tc.n, 0)
			cfg := Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 1}
			b.ReportAllocs()
			for b.Loop() {
				s := vec.NewSlab(len(d.base[0]))
				insertAll(New(cfg, s), s, seq(len(d.base)), d.base, 1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(d.base)), "ns/vector")
		})
	}
}

// poolKey must order exactly like less, and poolNeighbor must undo it.
func TestPoolKeyOrder(t *testing.T) {
	dists := []float32{float32(math.Inf(-1)), -3e38, -2, -1e-7, -1e-40, float32(math.Copysign(0, -1)), 0, 1e-40, 1e-7, 0.5, 1, 2, 3e38, float32(math.Inf(1))}
	var ns []vec.Neighbor
	for _, d := range dists {
		for _, s := range []uint32{0, 1, 7, math.MaxUint32} {
			ns = append(ns, vec.Neighbor{Slot: s, Dist: d})
		}
	}
	for _, a := range ns {
		back := poolNeighbor(poolKey(a))
		require.Equal(t, a.Slot, back.Slot)
		require.True(t, a.Dist == back.Dist, "%v round-trips to %v", a, back)
		for _, b := range ns {
			require.Equal(t, less(a, b), poolKey(a) < poolKey(b), "%v vs %v", a, b)
		}
	}
}

// poolInsert keeps the ef smallest keys sorted, moves each done flag with its
// key, and reports the lowest position written, on both sides of shortPool
// (the linear and the binary search).
func TestPoolInsert(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, ef := range []int{1, 2, 5, shortPool, shortPool + 1, shortPool + 2, 100} {
		t.Run(fmt.Sprintf("ef=%d", ef), func(t *testing.T) {
			for range 50 {
				var pool []uint64
				var done []bool
				flag := map[uint64]bool{} // the reference: key -> done
				var all []uint64
				for range 3 * ef {
					key := r.Uint64()
					// Mark a random present entry done, as an expansion does.
					if len(pool) > 0 {
						i := r.IntN(len(pool))
						done[i] = true
						flag[pool[i]] = true
					}
					before := slices.Clone(pool)
					next := len(pool) + 1
					pool, done, next = poolInsert(pool, done, next, ef, key)
					all = append(all, key)
					slices.Sort(all)
					want := all[:min(ef, len(all))]
					require.Equal(t, want, pool)
					require.Len(t, done, len(pool))
					at := slices.Index(pool, key)
					for i, k := range pool {
						require.Equal(t, flag[k], done[i], "done flag of key at %d", i)
					}
					if at < 0 {
						require.Equal(t, before, pool, "a dropped key changes nothing")
						require.Equal(t, len(before)+1, next)
					} else {
						require.Equal(t, at, next)
					}
				}
			}
		})
	}
}

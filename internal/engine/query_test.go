package engine

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/invariants"
	"github.com/sextantdb/sextant/internal/monitor"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

// queryColl opens an in-memory collection of n random dim-d l2 vectors
// (graph mode), record i carrying {"u": i % 100} and {"lo": i < lo}.
func queryColl(tb testing.TB, n, dim, lo int) *Collection {
	return queryCollConfig(tb, n, dim, lo, Config{Metric: vec.L2, M: 8, EfConstruction: 32, EfSearch: 32, ExactThreshold: 100})
}

func queryCollConfig(tb testing.TB, n, dim, lo int, cfg Config) *Collection {
	return queryCollOptions(tb, n, dim, lo, cfg, MonitorOptions{})
}

func queryCollOptions(tb testing.TB, n, dim, lo int, cfg Config, mon MonitorOptions) *Collection {
	tb.Helper()
	c, err := Open(Options{FS: vfs.NewMem(), Dir: "/q", NoSync: true, Seed: 1, Monitor: mon}, cfg)
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
			// A cancellable context, as an HTTP request's is.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var hits []Hit
				i := rand.IntN(len(qs))
				for pb.Next() {
					i++
					h, _, err := c.Search(ctx, SearchRequest{Vector: qs[i%len(qs)], K: 10, Filter: f, ForcePlan: tc.plan, Hits: hits})
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

// TestFilteredSearchAllocsFlat: a filtered traversal's allocations do not
// grow with the collection's slots (the allow-list is a pooled bitset,
// cleared by the words it set; it was a fresh slots/8-byte bitset per
// query). The filter matches the same 3,000 records at 70k and 140k slots.
// Both sizes fill the first 65,536-slot container of the live bitmap:
// below that, the filter's roaring AND with it allocates differently (10k
// vs 100k: 25 vs 27 allocations, 10.8 vs 13.7 KB, the payload index's
// doing, not the query path's).
func TestFilteredSearchAllocsFlat(t *testing.T) {
	if invariants.Race {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	small, large := 70_000, 140_000
	if testing.Short() {
		large = 100_000
	}
	f := mustFilter(t, map[string]any{"lo": true})
	qs := queryVectors(64, 2)
	cfg := Config{Metric: vec.L2, M: 4, EfConstruction: 16, EfSearch: 16, ExactThreshold: 100}
	// The counts are the process's: keep the monitor's background work out
	// (no idle probes or metric samples; an explicit ef is never sampled).
	quiet := MonitorOptions{MinInterval: time.Hour,
		Metric: monitor.MetricOptions{FastInterval: time.Hour, SlowInterval: time.Hour}}
	measure := func(n int, plan string) (allocs, bytes float64) {
		c := queryCollOptions(t, n, 2, 3000, cfg, quiet)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var hits []Hit
		i := 0
		run := func() {
			i++
			h, got, err := c.Search(ctx, SearchRequest{Vector: qs[i%len(qs)], K: 10, Ef: 16, Filter: f, ForcePlan: plan, Hits: hits})
			require.NoError(t, err)
			require.Equal(t, plan, got.Kind)
			require.Equal(t, 3000, got.Matches)
			hits = h
		}
		for range 20 { // warm the pools
			run()
		}
		allocs = testing.AllocsPerRun(200, run)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const runs = 200
		for range runs {
			run()
		}
		runtime.ReadMemStats(&m1)
		return allocs, float64(m1.TotalAlloc-m0.TotalAlloc) / runs
	}
	for _, plan := range []string{PlanHNSWFiltered, PlanTwoHop} {
		a1, b1 := measure(small, plan)
		a2, b2 := measure(large, plan)
		t.Logf("%s: %d slots %.1f allocs %.0f B; %d slots %.1f allocs %.0f B", plan, small, a1, b1, large, a2, b2)
		require.LessOrEqual(t, a2, a1+1, "%s: allocations per query grow with the collection", plan)
		// A dense bitset would add (large-small)/8 bytes: 8.75 KB here.
		require.Less(t, b2, b1+float64(large-small)/8/4, "%s: bytes per query grow with the collection", plan)
	}
}

// countdownCtx is a context that is done from its (after+1)-th Err call
// on, counting the calls: a deterministic cancellation in the middle of a
// scan.
type countdownCtx struct {
	context.Context
	done  chan struct{} // never closed: only Err tells
	left  atomic.Int32
	calls atomic.Int32
}

func newCountdown(after int32) *countdownCtx {
	c := &countdownCtx{Context: context.Background(), done: make(chan struct{})}
	c.left.Store(after)
	return c
}

func (c *countdownCtx) Done() <-chan struct{} { return c.done }

func (c *countdownCtx) Err() error {
	c.calls.Add(1)
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestSearchHonoursContext: a cancelled context stops an exact scan, a
// filtered traversal and a Get walk within cancelCheck candidates, with an
// error wrapping context.Canceled.
func TestSearchHonoursContext(t *testing.T) {
	const n, dim = 30_000, 8
	exact := queryCollConfig(t, n, dim, 0, Config{Metric: vec.L2, ExactThreshold: 1 << 30})
	q := queryVectors(1, dim)[0]

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hits, _, err := exact.Search(ctx, SearchRequest{Vector: q, K: 10})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, hits)

	// Done at the scan's second check (after 2 × 4,096 of 30,000
	// candidates): the scan stops there.
	cd := newCountdown(2)
	hits, plan, err := exact.Search(cd, SearchRequest{Vector: q, K: 10})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, hits)
	require.Equal(t, PlanExact, plan.Kind)
	require.Equal(t, int32(3), cd.calls.Load(), "the scan went on after the cancellation")

	// The same query, never cancelled, checks every 4,096 candidates.
	cd = newCountdown(1 << 30)
	hits, _, err = exact.Search(cd, SearchRequest{Vector: q, K: 10})
	require.NoError(t, err)
	require.Len(t, hits, 10)
	require.Equal(t, int32(1+n/cancelCheck), cd.calls.Load())

	// Get walks the records in insertion order.
	cd = newCountdown(1)
	_, err = exact.Get(cd, GetRequest{})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, int32(2), cd.calls.Load())

	// A filtered traversal polls the context through its allow-list.
	g := queryColl(t, 20_000, 16, 0)
	f := mustFilter(t, map[string]any{"u": map[string]any{"$lt": int64(5)}})
	for _, p := range []string{PlanTwoHop, PlanHNSWFiltered} {
		cd = newCountdown(1)
		hits, _, err = g.Search(cd, SearchRequest{Vector: queryVectors(1, 16)[0], K: 500, Ef: 2000, Filter: f, ForcePlan: p})
		require.ErrorIs(t, err, context.Canceled, p)
		require.Empty(t, hits)
		// Search's check, the allow-list's poll that finds it done, and
		// the error's ctx.Err(): no poll after.
		require.Equal(t, int32(3), cd.calls.Load(), p)
	}
}

// TestConcurrentQueriesAndPersistence runs queries from several goroutines
// while the guardrail state is persisted, read and switched, then checks
// that every query was counted (query times, distance histogram) and that
// a clean close and reopen keeps the query side of the drift state. Run it
// with -race.
func TestConcurrentQueriesAndPersistence(t *testing.T) {
	const n, dim, workers = 2000, 16, 4
	perWorker := 300
	if testing.Short() {
		perWorker = 150
	}
	fs := vfs.NewMem()
	cfg := Config{Metric: vec.Cosine, M: 8, EfConstruction: 32, EfSearch: 32, ExactThreshold: 100}
	c, err := Open(Options{FS: fs, Dir: "/cq", NoSync: true, Seed: 1}, cfg)
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	puts := make([]Put, n)
	for i := range puts {
		v := make([]float32, dim)
		for d := range v {
			v[d] = r.Float32() - 0.5
		}
		puts[i] = Put{ID: strconv.Itoa(i), Vector: v, Meta: map[string]any{"u": int64(i % 10)}}
	}
	require.NoError(t, c.Add(puts))
	c.WaitIndexed()
	f := mustFilter(t, map[string]any{"u": map[string]any{"$lt": int64(5)}})
	qs := queryVectors(64, dim)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			assert.NoError(t, c.PersistGuardrails())
			_ = c.Health()
			if i%10 == 0 {
				assert.NoError(t, c.SetAutoEf(i%20 == 0))
			}
			time.Sleep(time.Millisecond)
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				q, err := c.PrepareQuery(0, qs[(w*perWorker+i)%len(qs)])
				if !assert.NoError(t, err) {
					return
				}
				req := SearchRequest{Vector: q, K: 10}
				if i%2 == 1 {
					req.Filter = f
				}
				hits, _, err := c.Search(context.Background(), req)
				assert.NoError(t, err)
				assert.Len(t, hits, 10)
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	h := c.Health()
	var timed uint64
	for _, qh := range h.QueryHist {
		timed += qh.Count
	}
	require.Equal(t, uint64(workers*perWorker), timed, "query times counted")
	require.Equal(t, uint64(10*workers*perWorker), h.DistanceHist.Count, "distances counted")
	require.NoError(t, c.Close())

	c2, err := Open(Options{FS: fs, Dir: "/cq", NoSync: true, Seed: 1}, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, c2.Close()) }()
	h2 := c2.Health()
	require.Equal(t, h.DistanceHist, h2.DistanceHist, "the distance histogram survives a clean close")
	require.Equal(t, h.Drift.NearestQueries, h2.Drift.NearestQueries)
	require.InDelta(t, h.Drift.NearestMean, h2.Drift.NearestMean, 1e-12)
}

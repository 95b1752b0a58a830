package sextant

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vec"
)

// exactTopK is the test oracle: brute force in float64 over rows (indices
// into base), under metric.
func exactTopK(metric Metric, base [][]float32, rows []int, q []float32, k int) []int {
	type cand struct {
		row  int
		dist float64
	}
	qn := make([]float64, len(q))
	norm := 1.0
	if metric == Cosine {
		norm = vec.Norm(q)
	}
	for i, x := range q {
		qn[i] = float64(x) / norm
	}
	cands := make([]cand, 0, len(rows))
	for _, r := range rows {
		v := base[r]
		var dot, l2, vn float64
		for i, x := range v {
			f := float64(x)
			dot += f * qn[i]
			d := f - qn[i]
			l2 += d * d
			vn += f * f
		}
		var dist float64
		switch metric {
		case Cosine:
			dist = 1 - dot/math.Sqrt(vn)
		case L2:
			dist = l2
		case IP:
			dist = 1 - dot
		}
		cands = append(cands, cand{r, dist})
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.dist != b.dist {
			if a.dist < b.dist {
				return -1
			}
			return 1
		}
		return a.row - b.row
	})
	out := make([]int, 0, k)
	for _, c := range cands[:min(k, len(cands))] {
		out = append(out, c.row)
	}
	return out
}

func loadDataset(t *testing.T, name string, maxBase int) *testutil.Dataset {
	t.Helper()
	ds, err := testutil.LoadDataset(name, maxBase)
	require.NoError(t, err, "the shared data sets are required (see the README: tests find them via $SEXTANT_DATA or ../shared/data)")
	return ds
}

func rowRecords(base [][]float32, rows []int, prefix string) []Record {
	recs := make([]Record, len(rows))
	for i, r := range rows {
		recs[i] = Record{ID: prefix + strconv.Itoa(r), Embedding: base[r], Metadata: Metadata{"row": r}}
	}
	return recs
}

func idRow(t *testing.T, id string) int {
	t.Helper()
	for i := 0; i < len(id); i++ {
		if id[i] >= '0' && id[i] <= '9' {
			r, err := strconv.Atoi(id[i:])
			require.NoError(t, err)
			return r
		}
	}
	t.Fatalf("id %q has no row", id)
	return -1
}

// TestRecallEndToEnd builds each data set through the public API at the
// default settings and measures recall@10 against exact search.
func TestRecallEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metric  Metric
		maxBase int
	}{
		{"glove-twitter-25", Cosine, 0},
		{"fashion-mnist-784", L2, 0},
		{"wordnet-use512", Cosine, 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maxBase, nq := tc.maxBase, 300
			if testing.Short() {
				maxBase, nq = 3000, 50
			}
			ds := loadDataset(t, tc.name, maxBase)
			db := openTest(t, t.TempDir(), &Options{ExactThreshold: 1000})
			defer closeTest(t, db)
			c, err := db.Default().CreateCollection("recall", &CollectionConfig{Metric: tc.metric})
			require.NoError(t, err)
			rows := make([]int, len(ds.Base))
			for i := range rows {
				rows[i] = i
			}
			for i := 0; i < len(rows); i += 1000 {
				require.NoError(t, c.Add(ctx, rowRecords(ds.Base, rows[i:min(i+1000, len(rows))], "r")))
			}
			require.NoError(t, c.WaitIndexed())
			require.NoError(t, c.Verify())
			recall := 0.0
			for qi := 0; qi < nq; qi++ {
				q := ds.Queries[qi]
				res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Include: IncludeNone, Explain: true})
				require.NoError(t, err)
				require.Equal(t, "hnsw", res.Plans[0].Kind)
				require.Len(t, res.IDs[0], 10)
				got := make([]int, len(res.IDs[0]))
				for i, id := range res.IDs[0] {
					got[i] = idRow(t, id)
				}
				recall += testutil.RecallAtK(got, exactTopK(tc.metric, ds.Base, rows, q, 10), 10)
			}
			recall /= float64(nq)
			t.Logf("%s: %d vectors, recall@10 = %.4f at M=16 ef_construction=100 ef=100", tc.name, len(rows), recall)
			require.GreaterOrEqual(t, recall, 0.95)
		})
	}
}

// TestScaleInvariance is the incident that cost $40k: a producer stops
// normalizing. Storing every cosine vector multiplied by a random factor in
// [0.3, 12.7] must change no query result, exact or HNSW.
func TestScaleInvariance(t *testing.T) {
	maxBase, nq := 6000, 300
	if testing.Short() {
		maxBase, nq = 2000, 50
	}
	ds := loadDataset(t, "glove-twitter-25", maxBase)
	rng := rand.New(rand.NewPCG(7, 11))
	scaled := make([][]float32, len(ds.Base))
	for i, v := range ds.Base {
		f := float32(0.3 + rng.Float64()*12.4)
		s := make([]float32, len(v))
		for j, x := range v {
			s[j] = x * f
		}
		scaled[i] = s
	}
	rows := make([]int, len(ds.Base))
	for i := range rows {
		rows[i] = i
	}
	for _, threshold := range []int{1 << 30, 1000} { // exact, then HNSW
		db := openTest(t, t.TempDir(), &Options{ExactThreshold: threshold, Workers: 1})
		a, err := db.Default().CreateCollection("plain", &CollectionConfig{Metric: Cosine})
		require.NoError(t, err)
		b, err := db.Default().CreateCollection("scaled", &CollectionConfig{Metric: Cosine})
		require.NoError(t, err)
		// One batch each, so the background build sees the same snapshot.
		require.NoError(t, a.Add(ctx, rowRecords(ds.Base, rows, "r")))
		require.NoError(t, b.Add(ctx, rowRecords(scaled, rows, "r")))
		require.NoError(t, a.WaitIndexed())
		require.NoError(t, b.WaitIndexed())
		differ := 0
		for qi := 0; qi < nq; qi++ {
			q := ds.Queries[qi]
			ra, err := a.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Explain: true})
			require.NoError(t, err)
			// Scale the query too: it must not matter either.
			qs := slices.Clone(q)
			for j := range qs {
				qs[j] *= 3.7
			}
			rb, err := b.Query(ctx, QueryOptions{Embeddings: [][]float32{qs}, K: 10, Explain: true})
			require.NoError(t, err)
			require.Equal(t, ra.Plans[0].Kind, rb.Plans[0].Kind)
			for j := range ra.IDs[0] {
				require.InDelta(t, ra.Distances[0][j], rb.Distances[0][j], 1e-5, "query %d rank %d", qi, j)
				if ra.IDs[0][j] != rb.IDs[0][j] {
					// Only an exact tie (within float32 rounding) may swap places.
					differ++
					require.InDelta(t, ra.Distances[0][j], rb.Distances[0][j], 1e-6, "query %d rank %d: %s vs %s", qi, j, ra.IDs[0][j], rb.IDs[0][j])
				}
			}
		}
		t.Logf("threshold %d: %d of %d result ranks differ, all within float32 ties", threshold, differ, nq*10)
		closeTest(t, db)
	}
}

// TestChurn deletes half the records and inserts new ones, three times, and
// checks recall over the live set, that no deleted id comes back, and that
// slots are reused.
func TestChurn(t *testing.T) {
	maxBase, nq := 8000, 200
	if testing.Short() {
		maxBase, nq = 2500, 50
	}
	ds := loadDataset(t, "glove-twitter-25", 0)
	base := ds.Base
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: 1000})
	defer closeTest(t, db)
	c, err := db.Default().CreateCollection("churn", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 4))
	live := map[int]string{} // base row → id
	add := func(rows []int, gen int) {
		recs := make([]Record, len(rows))
		for i, r := range rows {
			id := "g" + strconv.Itoa(gen) + "-" + strconv.Itoa(r)
			recs[i] = Record{ID: id, Embedding: base[r]}
			live[r] = id
		}
		for i := 0; i < len(recs); i += 500 {
			require.NoError(t, c.Add(ctx, recs[i:min(i+500, len(recs))]))
		}
	}
	initial := make([]int, maxBase)
	for i := range initial {
		initial[i] = i
	}
	add(initial, 0)
	require.NoError(t, c.WaitIndexed())
	peak := len(live)
	spare := maxBase // next unused base row
	for round := 1; round <= 3; round++ {
		var rows []int
		for r := range live {
			rows = append(rows, r)
		}
		slices.Sort(rows)
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		del := rows[:len(rows)/2]
		deletedIDs := map[string]bool{}
		ids := make([]string, len(del))
		for i, r := range del {
			ids[i] = live[r]
			deletedIDs[live[r]] = true
			delete(live, r)
		}
		n, err := c.Delete(ctx, ids)
		require.NoError(t, err)
		require.Equal(t, len(ids), n)
		// New records: unused rows first, then re-inserted deleted rows under new ids.
		var fresh []int
		for len(fresh) < len(del) && spare < len(base) {
			fresh = append(fresh, spare)
			spare++
		}
		for _, r := range del {
			if len(fresh) == len(del) {
				break
			}
			fresh = append(fresh, r)
		}
		add(fresh, round)
		peak = max(peak, len(live))
		// The indexer links the new records in the background (queries are
		// served exactly while most are pending); recall here is the graph's.
		require.NoError(t, c.WaitIndexed())
		require.NoError(t, c.Verify())

		liveRows := make([]int, 0, len(live))
		for r := range live {
			liveRows = append(liveRows, r)
		}
		recall := 0.0
		for qi := 0; qi < nq; qi++ {
			q := ds.Queries[qi]
			res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Include: IncludeNone, Explain: true})
			require.NoError(t, err)
			require.Equal(t, "hnsw", res.Plans[0].Kind)
			got := make([]int, 0, 10)
			for _, id := range res.IDs[0] {
				require.False(t, deletedIDs[id], "deleted id %s returned", id)
				r := idRow(t, id[len("g0-"):])
				require.Equal(t, live[r], id, "returned id %s is not live", id)
				got = append(got, r)
			}
			recall += testutil.RecallAtK(got, exactTopK(Cosine, base, liveRows, q, 10), 10)
		}
		recall /= float64(nq)
		st, err := c.Stats()
		require.NoError(t, err)
		t.Logf("round %d: live %d, slots %d (peak live %d), tombstones %d, recall@10 %.4f", round, st.Live, st.Slots, peak, st.Tombstones, recall)
		require.GreaterOrEqual(t, recall, 0.95)
		require.LessOrEqual(t, float64(st.Slots), 1.1*float64(peak), "slots must be reused")
		// Slots come back through graph repair, which is counted and timed.
		require.GreaterOrEqual(t, st.Repairs, int64(round))
		require.Positive(t, st.LastRepairSecs)
		require.LessOrEqual(t, st.LastRepairPauseSecs, st.LastRepairSecs)
	}
}

// TestChurnWithQueries: graph repair runs beside queries. One goroutine
// queries without pause while the test deletes a third of the records and
// inserts new ones (which repairs the graph); every query succeeds and
// returns only ids that exist or existed, and afterwards the collection
// verifies, returns no deleted id and keeps its recall. Run it with -race.
func TestChurnWithQueries(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 2500
	}
	ds := loadDataset(t, "glove-twitter-25", 0)
	base := ds.Base
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: 1000})
	defer closeTest(t, db)
	c, err := db.Default().CreateCollection("churnq", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{ID: strconv.Itoa(i), Embedding: base[i]}
	}
	for i := 0; i < n; i += 500 {
		require.NoError(t, c.Add(ctx, recs[i:i+500]))
	}
	require.NoError(t, c.WaitIndexed())

	var stop atomic.Bool
	var queries atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{ds.Queries[i%len(ds.Queries)]}, K: 10, Include: IncludeNone})
			if err != nil {
				t.Errorf("query during churn: %v", err)
				return
			}
			for _, id := range res.IDs[0] {
				if r, err := strconv.Atoi(id); err != nil || r >= 2*n {
					t.Errorf("query returned unknown id %q", id)
					return
				}
			}
			queries.Add(1)
		}
	})
	var del []string
	for i := 0; i < n; i += 3 {
		del = append(del, strconv.Itoa(i))
	}
	_, err = c.Delete(ctx, del)
	require.NoError(t, err)
	fresh := make([]Record, 0, len(del))
	for i := range del {
		fresh = append(fresh, Record{ID: strconv.Itoa(n + i), Embedding: base[n+i]})
	}
	for i := 0; i < len(fresh); i += 250 {
		require.NoError(t, c.Add(ctx, fresh[i:min(i+250, len(fresh))]))
	}
	stop.Store(true)
	wg.Wait()
	require.Positive(t, queries.Load())
	st, err := c.Stats()
	require.NoError(t, err)
	require.Positive(t, st.Repairs)
	require.Equal(t, n, st.Live)
	require.NoError(t, c.Verify())
	var liveRows []int
	deleted := map[int]bool{}
	for i := 0; i < n; i += 3 {
		deleted[i] = true
	}
	for r := 0; r < n+len(del); r++ {
		if !deleted[r] {
			liveRows = append(liveRows, r)
		}
	}
	recall := 0.0
	for qi := 0; qi < 50; qi++ {
		q := ds.Queries[qi]
		res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Include: IncludeNone})
		require.NoError(t, err)
		got := make([]int, 0, 10)
		for _, id := range res.IDs[0] {
			r, err := strconv.Atoi(id)
			require.NoError(t, err)
			require.False(t, deleted[r], "deleted id %s returned", id)
			got = append(got, r)
		}
		recall += testutil.RecallAtK(got, exactTopK(Cosine, base, liveRows, q, 10), 10)
	}
	recall /= 50
	t.Logf("queries during churn %d, repairs %d (last %.3f s, pause %.4f s), recall@10 %.4f", queries.Load(), st.Repairs, st.LastRepairSecs, st.LastRepairPauseSecs, recall)
	require.GreaterOrEqual(t, recall, 0.95)
}

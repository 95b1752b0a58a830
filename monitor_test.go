package sextant

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/testutil"
)

// monitoredColl builds glove-twitter-25 (cosine) with HNSW and a monitor
// allowed a full core, so that every query is re-run exactly.
func monitoredColl(t *testing.T, cfg *CollectionConfig) (*Collection, *testutil.Dataset) {
	t.Helper()
	n := 0
	if testing.Short() {
		n = 4000
	}
	ds := loadDataset(t, "glove-twitter-25", n)
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: 1000, MonitorBudget: 1})
	t.Cleanup(func() { closeTest(t, db) })
	c, err := db.Default().CreateCollection("monitored", cfg)
	require.NoError(t, err)
	rows := make([]int, len(ds.Base))
	for i := range rows {
		rows[i] = i
	}
	for i := 0; i < len(rows); i += 2000 {
		require.NoError(t, c.Add(ctx, rowRecords(ds.Base, rows[i:min(i+2000, len(rows))], "r")))
	}
	require.NoError(t, c.WaitIndexed())
	return c, ds
}

// waitSamples runs queries until the monitor holds at least n samples since
// the last ef change (or fails after a bound), and returns the health.
func runUntil(t *testing.T, c *Collection, ds *testutil.Dataset, maxQueries int, done func(Health) bool) (Health, int) {
	t.Helper()
	for i := 0; i < maxQueries; i++ {
		_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{ds.Queries[i%len(ds.Queries)]}, K: 10, Include: IncludeNone})
		require.NoError(t, err)
		if i%50 == 49 {
			time.Sleep(20 * time.Millisecond) // let the worker drain its queue
			h, err := c.Health()
			require.NoError(t, err)
			if done(h) {
				return h, i + 1
			}
		}
	}
	h, err := c.Health()
	require.NoError(t, err)
	t.Fatalf("condition not reached after %d queries: status %s, recall %.4f (%d samples), ef %d",
		maxQueries, h.Status, h.Recall.Recall, h.Recall.Samples, h.EffectiveEf)
	return h, maxQueries
}

// TestRecallMonitorDegradedAndAutopilot: ef forced very low shows a recall
// estimate below target within a bounded number of queries and reports
// degraded; auto_ef back on recovers to ok with the estimate at target.
func TestRecallMonitorDegradedAndAutopilot(t *testing.T) {
	c, ds := monitoredColl(t, &CollectionConfig{Metric: Cosine, M: 8, EfConstruction: 40, ManualEf: true})
	require.NoError(t, c.SetEfSearch(10))
	h, n := runUntil(t, c, ds, 3000, func(h Health) bool { return h.Status == "degraded" })
	t.Logf("ef 10: degraded after %d queries, recall estimate %.4f [%.4f, %.4f] over %d samples: %s",
		n, h.Recall.Recall, h.Recall.Low, h.Recall.High, h.Recall.Samples, h.Reason)
	require.Less(t, h.Recall.Recall, h.Target)
	require.Equal(t, 10, h.EffectiveEf)

	require.NoError(t, c.SetAutoEf(true))
	h, n = runUntil(t, c, ds, 20000, func(h Health) bool {
		return h.Status == "ok" && h.Recall.Samples >= 200 && h.Recall.Recall >= h.Target
	})
	var traj []int
	for _, ch := range h.EfHistory {
		traj = append(traj, ch.To)
	}
	t.Logf("auto_ef: ok after %d more queries at ef %d (trajectory %v), recall %.4f over %d samples",
		n, h.EffectiveEf, traj, h.Recall.Recall, h.Recall.Samples)
	require.Greater(t, h.EffectiveEf, 10)
}

// TestRecallEstimateMatchesOffline: the monitor's estimate agrees with an
// offline recall measurement of the same queries within ±0.03.
func TestRecallEstimateMatchesOffline(t *testing.T) {
	c, ds := monitoredColl(t, &CollectionConfig{Metric: Cosine, M: 8, EfConstruction: 40, ManualEf: true})
	require.NoError(t, c.SetEfSearch(16))
	rows := make([]int, len(ds.Base))
	for i := range rows {
		rows[i] = i
	}
	nq := 400
	offline := 0.0
	for qi := 0; qi < nq; qi++ {
		q := ds.Queries[qi]
		res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Include: IncludeNone})
		require.NoError(t, err)
		got := make([]int, len(res.IDs[0]))
		for i, id := range res.IDs[0] {
			got[i] = idRow(t, id)
		}
		offline += testutil.RecallAtK(got, exactTopK(Cosine, ds.Base, rows, q, 10), 10)
	}
	offline /= float64(nq)
	var h Health
	require.Eventually(t, func() bool {
		var err error
		h, err = c.Health()
		require.NoError(t, err)
		return h.Recall.Samples >= nq*9/10
	}, 10*time.Second, 20*time.Millisecond)
	t.Logf("offline recall %.4f, monitor %.4f [%.4f, %.4f] over %d samples", offline, h.Recall.Recall, h.Recall.Low, h.Recall.High, h.Recall.Samples)
	require.InDelta(t, offline, h.Recall.Recall, 0.03)
}

// TestDriftFindings: an un-normalized batch into a cosine collection of unit
// vectors, and a batch from a "different model" (a fixed random rotation),
// each produce their finding; a long clean run produces none.
func TestDriftFindings(t *testing.T) {
	n := 12000
	if testing.Short() {
		n = 4000
	}
	ds := loadDataset(t, "wordnet-use512", n)
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: 1 << 30})
	defer closeTest(t, db)
	c, err := db.Default().CreateCollection("drift", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 5))
	perm := rng.Perm(n)
	clean := perm[:n-2000]
	for i := 0; i < len(clean); i += 100 {
		require.NoError(t, c.Add(ctx, rowRecords(ds.Base, clean[i:min(i+100, len(clean))], "c")))
	}
	for _, q := range ds.Queries[:300] {
		_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Include: IncludeNone})
		require.NoError(t, err)
	}
	h, err := c.Health()
	require.NoError(t, err)
	require.Empty(t, h.Findings, "no false alarm over a clean run of %d batches", len(clean)/100)

	// The $40k incident: a batch job stops normalizing.
	var scaled []Record
	for _, r := range perm[n-2000 : n-1900] {
		f := float32(0.3 + rng.Float64()*12.4)
		v := make([]float32, len(ds.Base[r]))
		for j, x := range ds.Base[r] {
			v[j] = x * f
		}
		scaled = append(scaled, Record{ID: "s" + strconv.Itoa(r), Embedding: v})
	}
	require.NoError(t, c.Add(ctx, scaled))
	h, err = c.Health()
	require.NoError(t, err)
	require.Equal(t, []string{"not_normalized"}, findingCodes(h))
	require.Equal(t, "critical", h.Findings[0].Severity.String())

	// A new embedding model: the same texts, rotated.
	rot := rotation(rng, ds.Dim)
	var rotated []Record
	for _, r := range perm[n-1900 : n-1800] {
		rotated = append(rotated, Record{ID: "m" + strconv.Itoa(r), Embedding: rot(ds.Base[r])})
	}
	require.NoError(t, c.Add(ctx, rotated))
	h, err = c.Health()
	require.NoError(t, err)
	require.Contains(t, findingCodes(h), "direction_shift")
	t.Logf("findings: %+v", h.Findings)
}

func findingCodes(h Health) []string {
	var out []string
	for _, f := range h.Findings {
		out = append(out, f.Code)
	}
	return out
}

// rotation returns a fixed random orthogonal map: a permutation of the
// coordinates with random sign flips (a "different model" for the same texts).
func rotation(rng *rand.Rand, d int) func([]float32) []float32 {
	perm := rng.Perm(d)
	sign := make([]float32, d)
	for i := range sign {
		sign[i] = 1
		if rng.IntN(2) == 0 {
			sign[i] = -1
		}
	}
	return func(v []float32) []float32 {
		out := make([]float32, d)
		for i, x := range v {
			out[perm[i]] = sign[i] * x
		}
		return out
	}
}

// TestDriftNoFalseAlarmOnOrderedData: GloVe vectors written in frequency
// order (their norms drift with frequency) and queried as given (not unit
// length) are the normal life of a collection, not a finding.
func TestDriftNoFalseAlarmOnOrderedData(t *testing.T) {
	ds := loadDataset(t, "glove-twitter-25", 0)
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: 2000})
	defer closeTest(t, db)
	c, err := db.Default().CreateCollection("ordered", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)
	rows := make([]int, len(ds.Base))
	for i := range rows {
		rows[i] = i
	}
	for i := 0; i < len(rows); i += 1000 {
		require.NoError(t, c.Add(ctx, rowRecords(ds.Base, rows[i:min(i+1000, len(rows))], "r")))
	}
	require.NoError(t, c.WaitIndexed())
	for _, q := range ds.Queries[:400] {
		_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10, Include: IncludeNone})
		require.NoError(t, err)
	}
	h, err := c.Health()
	require.NoError(t, err)
	require.Empty(t, h.Findings)
}

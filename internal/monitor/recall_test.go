package monitor

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecallAt(t *testing.T) {
	for _, tc := range []struct {
		name          string
		approx, exact []uint32
		k             int
		want          float64
	}{
		{"all", []uint32{1, 2, 3}, []uint32{3, 2, 1}, 3, 1},
		{"half", []uint32{1, 2, 9, 8}, []uint32{1, 2, 3, 4}, 4, 0.5},
		{"only first k", []uint32{9, 1, 2}, []uint32{1, 2, 3}, 2, 0.5},
		{"short truth", []uint32{5, 1}, []uint32{5}, 10, 1},
		{"duplicates once", []uint32{1, 1}, []uint32{1, 2}, 2, 0.5},
		{"empty approx", nil, []uint32{1}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, RecallAt(tc.approx, tc.exact, tc.k), 1e-12)
		})
	}
	require.True(t, math.IsNaN(RecallAt([]string{"a"}, nil, 3)))
	require.InDelta(t, 0.5, RecallAt([]string{"a", "x"}, []string{"a", "b"}, 2), 1e-12)
}

func TestWilson(t *testing.T) {
	lo, hi := Wilson(1, 100)
	require.InDelta(t, 0.963, lo, 0.001)
	require.Equal(t, 1.0, hi)
	lo, hi = Wilson(0.5, 1000)
	require.InDelta(t, 0.469, lo, 0.001)
	require.InDelta(t, 0.531, hi, 0.001)
	lo, hi = Wilson(0.7, 0)
	require.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
}

// TestEstimatorMatchesOffline: per-query recall values drawn from a
// realistic mix (most queries perfect, a tail of poor ones); the estimator,
// fed a random sample of the queries, agrees with the offline recall over all
// of them within ±0.03, and its interval covers it.
func TestEstimatorMatchesOffline(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := newRand(seed)
		const nq, k = 20000, 10
		per := make([]float64, nq)
		var offline float64
		for i := range per {
			p := 0.97
			if rng.Float64() < 0.15 {
				p = 0.6
			}
			hits := 0
			for range k {
				if rng.Float64() < p {
					hits++
				}
			}
			per[i] = float64(hits) / k
			offline += per[i]
		}
		offline /= nq
		clk := newFakeClock()
		e := NewRecallEstimator(RecallOptions{Window: 1000, MaxAge: time.Hour, Clock: clk.Now})
		for range 5000 { // the window keeps the last 1000
			clk.Advance(100 * time.Millisecond)
			e.ObserveRecall(per[rng.IntN(nq)], rng.IntN(4) == 0, clk.Now())
		}
		est := e.Estimate()
		require.Equal(t, 1000, est.Samples)
		require.Equal(t, uint64(5000), est.Seq)
		require.InDelta(t, offline, est.Recall, 0.03, "seed %d", seed)
		require.LessOrEqual(t, est.Low, offline)
		require.GreaterOrEqual(t, est.High, offline)
		require.Equal(t, est.Samples, est.Filtered.Samples+est.Unfiltered.Samples)
		require.InDelta(t, 250, est.Filtered.Samples, 60)
	}
}

func TestEstimatorWindow(t *testing.T) {
	clk := newFakeClock()
	e := NewRecallEstimator(RecallOptions{Window: 10, MaxAge: time.Minute, Clock: clk.Now})
	require.True(t, math.IsNaN(e.Estimate().Recall))
	for i := range 15 {
		e.Observe([]uint32{1}, []uint32{uint32(i % 3)}, 1, i%2 == 0, clk.Now())
	}
	est := e.Estimate()
	require.Equal(t, 10, est.Samples) // by count
	require.InDelta(t, 0.3, est.Recall, 1e-9)
	require.Equal(t, 5, est.Filtered.Samples)
	e.Observe(nil, nil, 10, false, clk.Now()) // nothing to find: ignored
	require.Equal(t, uint64(15), e.Estimate().Seq)

	clk.Advance(30 * time.Second)
	for range 4 {
		e.ObserveRecall(1, false, clk.Now())
	}
	require.Equal(t, 10, e.Estimate().Samples)
	clk.Advance(31 * time.Second) // the first batch is now older than a minute
	est = e.Estimate()
	require.Equal(t, 4, est.Samples)
	require.Equal(t, 1.0, est.Recall)
	require.Equal(t, 0, e.EstimateSince(est.Seq).Samples)
	require.Equal(t, 2, e.EstimateSince(est.Seq-2).Samples)
	e.Reset()
	require.Equal(t, 0, e.Estimate().Samples)
}

package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/sextantdb/sextant/internal/vec"
)

// recallCurve gives one query's recall@k at an ef.
type recallCurve func(rng *rand.Rand, ef int) float64

// synthetic: a monotone curve, per-query recall binomial(10, p(ef))/10.
func synthetic(p func(ef int) float64) recallCurve {
	return func(rng *rand.Rand, ef int) float64 {
		hits := 0
		for range 10 {
			if rng.Float64() < p(ef) {
				hits++
			}
		}
		return float64(hits) / 10
	}
}

// fly runs the closed loop: queries are sampled at the autopilot's ef, the
// estimator feeds Update every 50 queries. It returns the ef after each
// Update.
func fly(t *testing.T, ap *Autopilot, clk *fakeClock, curve recallCurve, queries int, seed uint64) []int {
	t.Helper()
	rng := newRand(seed)
	est := NewRecallEstimator(RecallOptions{Window: 1000, MaxAge: time.Hour, Clock: clk.Now})
	var traj []int
	for i := 1; i <= queries; i++ {
		clk.Advance(10 * time.Millisecond)
		est.ObserveRecall(curve(rng, ap.Ef()), false, clk.Now())
		if i%50 == 0 {
			ap.Update(est.EstimateSince(ap.Since()))
			traj = append(traj, ap.Ef())
		}
	}
	return traj
}

// meanRecall is the curve's mean recall at ef (by simulation).
func meanRecall(curve recallCurve, ef int) float64 {
	rng := newRand(99)
	var s float64
	for range 4000 {
		s += curve(rng, ef)
	}
	return s / 4000
}

func leastEf(curve recallCurve, target float64, efMax int) int {
	for ef := 10; ef <= efMax; ef++ {
		if meanRecall(curve, ef) >= target {
			return ef
		}
	}
	return -1
}

func checkConverged(t *testing.T, ap *Autopilot, curve recallCurve, traj []int) {
	t.Helper()
	final := traj[len(traj)-1]
	target := ap.Target()
	least := leastEf(curve, target, 1024)
	upper := leastEf(curve, target+DefaultMargin+0.015, 1024)
	t.Logf("ef trajectory %v; least ef for %.2f: %d; final %d (recall %.3f)", slices.Compact(slices.Clone(traj)), target, least, final, meanRecall(curve, final))
	require.GreaterOrEqual(t, meanRecall(curve, final), target-0.01, "final ef %d misses the target", final)
	require.GreaterOrEqual(t, final, least-least/10)
	require.LessOrEqual(t, final, max(upper, least+1), "final ef %d costs more than needed", final)
	// It stays: no change in the last third of the run.
	tail := traj[2*len(traj)/3:]
	require.Equal(t, 1, len(slices.Compact(slices.Clone(tail))), "ef still moving: %v", tail)
	ok, _ := ap.Degraded()
	require.False(t, ok)
}

func TestAutopilotSynthetic(t *testing.T) {
	curve := synthetic(func(ef int) float64 { return 1 - 0.6*math.Exp(-float64(ef)/30) })
	clk := newFakeClock()
	ap := NewAutopilot(AutopilotOptions{Clock: clk.Now})
	require.Equal(t, 10, ap.Ef())
	traj := fly(t, ap, clk, curve, 20000, 1)
	checkConverged(t, ap, curve, traj)
	h := ap.History()
	require.NotEmpty(t, h)
	require.Equal(t, 10, h[0].From)
	for _, c := range h {
		require.NotEmpty(t, c.Reason)
		require.GreaterOrEqual(t, c.Estimate.Samples, DefaultMinSamples)
	}
	// From a too-high start it lowers to the least cost, slowly.
	clk2 := newFakeClock()
	ap2 := NewAutopilot(AutopilotOptions{Clock: clk2.Now, Ef: 400})
	traj = fly(t, ap2, clk2, curve, 40000, 2)
	checkConverged(t, ap2, curve, traj)
}

// TestAutopilotHNSW measures the recall curve of a real HNSW graph on
// glove-twitter-25 (a deliberately weak M=6, efConstruction=32 graph, so
// that ef matters) and flies the autopilot on it from ef=10.
func TestAutopilotHNSW(t *testing.T) {
	ds := loadDataset(t, "glove-twitter-25")
	slab := vec.NewSlab(ds.Dim)
	slab.Grow(len(ds.Base))
	g := hnsw.New(hnsw.Config{M: 6, EfConstruction: 32, Metric: vec.Cosine, Seed: 1}, slab)
	v := make([]float32, ds.Dim)
	for i, b := range ds.Base {
		vec.Normalize(v, b)
		slab.Set(uint32(i), v)
		g.Insert(uint32(i))
	}
	qs := make([][]float32, len(ds.Queries))
	for i, q := range ds.Queries {
		qs[i] = make([]float32, ds.Dim)
		vec.Normalize(qs[i], q)
	}
	const k = 10
	cache := map[int][]float64{}
	perQuery := func(ef int) []float64 {
		if r, ok := cache[ef]; ok {
			return r
		}
		r := make([]float64, len(qs))
		var dst []vec.Neighbor
		for i, q := range qs {
			dst, _ = g.Search(q, k, ef, nil, dst)
			ids := make([]uint32, len(dst))
			for j, n := range dst {
				ids[j] = n.Slot
			}
			exact := make([]uint32, k)
			for j := range exact {
				exact[j] = uint32(ds.GT[i][j])
			}
			r[i] = RecallAt(ids, exact, k)
		}
		cache[ef] = r
		return r
	}
	curve := func(rng *rand.Rand, ef int) float64 { r := perQuery(ef); return r[rng.IntN(len(r))] }
	mean := func(ef int) float64 {
		var s float64
		for _, x := range perQuery(ef) {
			s += x
		}
		return s / float64(len(qs))
	}
	t.Logf("glove M=6 efC=32 recall@10: ef10 %.3f ef20 %.3f ef40 %.3f ef80 %.3f ef160 %.3f", mean(10), mean(20), mean(40), mean(80), mean(160))
	require.Less(t, mean(10), 0.95)

	clk := newFakeClock()
	ap := NewAutopilot(AutopilotOptions{Clock: clk.Now})
	traj := fly(t, ap, clk, curve, 20000, 3)
	final := traj[len(traj)-1]
	least := 10
	for mean(least) < 0.95 {
		least++
	}
	t.Logf("glove ef trajectory %v; least ef %d (%.3f); final %d (%.3f)", slices.Compact(slices.Clone(traj)), least, mean(least), final, mean(final))
	require.GreaterOrEqual(t, mean(final), 0.95-0.01)
	require.LessOrEqual(t, final, 2*least)
	tail := traj[2*len(traj)/3:]
	require.Equal(t, 1, len(slices.Compact(slices.Clone(tail))), "ef still moving: %v", tail)
}

func TestAutopilotDegraded(t *testing.T) {
	// The curve tops out at 0.9: ef climbs to ef_max and the collection is
	// degraded.
	curve := synthetic(func(ef int) float64 { return 0.9 - 0.5*math.Exp(-float64(ef)/30) })
	clk := newFakeClock()
	ap := NewAutopilot(AutopilotOptions{Clock: clk.Now, EfMax: 200})
	traj := fly(t, ap, clk, curve, 10000, 4)
	require.Equal(t, 200, traj[len(traj)-1])
	ok, why := ap.Degraded()
	require.True(t, ok)
	require.Contains(t, why, "ef_max 200")
}

// TestAutopilotForcedLow: auto_ef off with ef forced to 10 reports degraded
// within a bounded number of queries, and recovers once auto_ef is back on.
func TestAutopilotForcedLow(t *testing.T) {
	curve := synthetic(func(ef int) float64 { return 1 - 0.6*math.Exp(-float64(ef)/30) })
	clk := newFakeClock()
	ap := NewAutopilot(AutopilotOptions{Clock: clk.Now, Ef: 150})
	ap.SetAuto(false)
	ap.SetEf(10, 0, "forced by operator")
	require.Equal(t, 10, ap.Ef())
	rng := newRand(5)
	est := NewRecallEstimator(RecallOptions{Clock: clk.Now})
	detected := 0
	for i := 1; i <= 2000; i++ {
		clk.Advance(10 * time.Millisecond)
		est.ObserveRecall(curve(rng, ap.Ef()), false, clk.Now())
		_, changed, _ := ap.Update(est.EstimateSince(ap.Since()))
		require.False(t, changed)
		if ok, _ := ap.Degraded(); ok {
			detected = i
			break
		}
	}
	require.NotZero(t, detected)
	require.LessOrEqual(t, detected, DefaultMinSamples)
	t.Logf("degraded after %d sampled queries", detected)
	ap.SetAuto(true)
	traj := fly(t, ap, clk, curve, 20000, 6)
	checkConverged(t, ap, curve, traj)
	require.GreaterOrEqual(t, ap.Last().Recall, 0.95-0.02)
}

func TestAutopilotWaitsAndRefusesStale(t *testing.T) {
	clk := newFakeClock()
	ap := NewAutopilot(AutopilotOptions{Clock: clk.Now, MinSamples: 100})
	ef, changed, why := ap.Update(Estimate{Interval: Interval{Recall: 0.5, Samples: 99, Low: 0.4, High: 0.6}, Seq: 99})
	require.Equal(t, 10, ef)
	require.False(t, changed)
	require.Contains(t, why, "waiting")
	ef, changed, _ = ap.Update(Estimate{Interval: Interval{Recall: 0.5, Samples: 100, Low: 0.4, High: 0.6}, Seq: 100})
	require.True(t, changed)
	require.Equal(t, 15, ef)
	require.Equal(t, uint64(100), ap.Since())
	// An estimate that still counts samples from before the change is refused.
	_, changed, why = ap.Update(Estimate{Interval: Interval{Recall: 0.5, Samples: 300, Low: 0.4, High: 0.6}, Seq: 300, From: 0})
	require.False(t, changed)
	require.Contains(t, why, "before the last change")
	require.Error(t, AutopilotOptions{EfMin: 100, EfMax: 50}.Validate())
}

package monitor

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/vec"
)

// randomOrthogonal returns a seeded random d×d orthogonal matrix (Gram–Schmidt
// on Gaussian rows): a "different embedding model" of the same data.
func randomOrthogonal(rng *rand.Rand, d int) [][]float64 {
	q := make([][]float64, d)
	for i := range q {
		r := make([]float64, d)
		for {
			for j := range r {
				r[j] = rng.NormFloat64()
			}
			for _, p := range q[:i] {
				var dot float64
				for j := range r {
					dot += r[j] * p[j]
				}
				for j := range r {
					r[j] -= dot * p[j]
				}
			}
			if n := norm64(r); n > 1e-6 {
				for j := range r {
					r[j] /= n
				}
				break
			}
		}
		q[i] = r
	}
	return q
}

func rotate(m [][]float64, vs [][]float32) [][]float32 {
	out := make([][]float32, len(vs))
	for i, v := range vs {
		w := make([]float32, len(v))
		for r, row := range m {
			var s float64
			for j, x := range v {
				s += row[j] * float64(x)
			}
			w[r] = float32(s)
		}
		out[i] = w
	}
	return out
}

// shuffled returns the base vectors in a seeded random order.
func shuffled(rng *rand.Rand, base [][]float32) [][]float32 {
	out := append([][]float32(nil), base...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// baseline feeds n vectors in batches of size b and requires no findings.
func baseline(t *testing.T, d *Drift, vs [][]float32, b int, metric vec.Metric) {
	t.Helper()
	for i := 0; i < len(vs); i += b {
		require.Empty(t, d.ObserveBatch(vs[i:min(i+b, len(vs))], metric).Findings, "batch at %d", i)
	}
}

func codes(fs []Finding) []string {
	var c []string
	for _, f := range fs {
		c = append(c, f.Code)
	}
	return c
}

func TestDriftNotNormalized(t *testing.T) {
	ds := loadDataset(t, "wordnet-use512")
	rng := newRand(1)
	vs := shuffled(rng, ds.Base)
	d := NewDrift(DriftOptions{})
	baseline(t, d, vs[:2000], 100, vec.Cosine)
	st := d.Stats()
	require.Greater(t, st.UnitShare, 0.99)
	t.Logf("wordnet history: unit share %.4f, concentration %.3f", st.UnitShare, st.Concentration)

	// The seed incident: a batch job sends norms 0.3–12.7.
	batch := make([][]float32, 100)
	for i, v := range vs[2000:2100] {
		s := float32(0.3 + 12.4*rng.Float64())
		w := make([]float32, len(v))
		for j, x := range v {
			w[j] = x * s
		}
		batch[i] = w
	}
	fs := d.ObserveBatch(batch, vec.Cosine).Findings
	require.Equal(t, []string{CodeNotNormalized}, codes(fs))
	require.Equal(t, Critical, fs[0].Severity)
	require.Greater(t, fs[0].Figures["batch_norm_max"], 5.0)
	require.Less(t, fs[0].Figures["batch_norm_min"], 1.0)
	t.Log(fs[0].Message)
	// Rejected: the history is still unit.
	require.Greater(t, d.Stats().UnitShare, 0.99)
	require.EqualValues(t, 100, d.Stats().Rejected)
	// The exported histogram counts everything, Prometheus-style.
	h := d.NormHistogram()
	bk := h.Buckets()
	require.EqualValues(t, 2100, bk[len(bk)-1].Cumulative)
	require.True(t, math.IsInf(bk[len(bk)-1].UpperBound, 1))
	// The same batch into an l2 collection is not a normalization problem,
	// but its norms have shifted.
	d2 := NewDrift(DriftOptions{})
	baseline(t, d2, vs[:2000], 100, vec.L2)
	require.Equal(t, []string{CodeNormShift}, codes(d2.ObserveBatch(batch, vec.L2).Findings))
}

func TestDriftDirectionShift(t *testing.T) {
	for _, name := range []string{"wordnet-use512", "glove-twitter-25"} {
		t.Run(name, func(t *testing.T) {
			ds := loadDataset(t, name)
			rng := newRand(2)
			vs := shuffled(rng, ds.Base)
			d := NewDrift(DriftOptions{})
			baseline(t, d, vs[:3000], 100, vec.Cosine)
			t.Logf("%s concentration %.3f", name, d.Stats().Concentration)
			rot := randomOrthogonal(newRand(42), ds.Dim)
			fs := d.ObserveBatch(rotate(rot, vs[3000:3100]), vec.Cosine).Findings
			require.Equal(t, []string{CodeDirectionShift}, codes(fs)) // a rotation keeps norms
			require.Less(t, fs[0].Figures["cosine"], DefaultDirectionCos)
			t.Log(fs[0].Message)
			// Clean batches afterwards are fine.
			require.Empty(t, d.ObserveBatch(vs[3100:3200], vec.Cosine).Findings)
			// Rotated queries: a window of them is flagged.
			rq := rotate(rot, ds.Queries[:DefaultQueryWindow])
			var qf []Finding
			for _, q := range rq {
				qf = append(qf, d.ObserveQuery(q).Findings...)
			}
			require.Contains(t, codes(qf), CodeQueryDirectionOutlier)
		})
	}
}

func TestDriftNormShiftGlove(t *testing.T) {
	ds := loadDataset(t, "glove-twitter-25")
	rng := newRand(3)
	vs := shuffled(rng, ds.Base)
	d := NewDrift(DriftOptions{})
	baseline(t, d, vs[:2000], 100, vec.Cosine)
	scaled := make([][]float32, 100)
	for i, v := range vs[2000:2100] {
		w := make([]float32, len(v))
		for j, x := range v {
			w[j] = 3 * x
		}
		scaled[i] = w
	}
	fs := d.ObserveBatch(scaled, vec.Cosine).Findings
	require.Equal(t, []string{CodeNormShift}, codes(fs))
	require.Greater(t, fs[0].Figures["shift_sigma"], 1.0)
}

// TestDriftNoFalseAlarms: a long clean run of real data in random order,
// with real queries, raises nothing.
func TestDriftNoFalseAlarms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
	}{{"wordnet-use512", 100}, {"glove-twitter-25", 50}} {
		t.Run(tc.name, func(t *testing.T) {
			ds := loadDataset(t, tc.name)
			vs := shuffled(newRand(4), ds.Base)
			d := NewDrift(DriftOptions{})
			for i := range 200 {
				fs := d.ObserveBatch(vs[i*tc.batch:(i+1)*tc.batch], vec.Cosine).Findings
				require.Empty(t, fs, "batch %d: %v", i, fs)
			}
			for _, q := range ds.Queries {
				fs := d.ObserveQuery(q).Findings
				require.Empty(t, fs, "%v", fs)
			}
			require.EqualValues(t, 200*tc.batch, d.Stats().Vectors)
		})
	}
}

func TestDriftQueryNorm(t *testing.T) {
	ds := loadDataset(t, "wordnet-use512")
	d := NewDrift(DriftOptions{})
	baseline(t, d, ds.Base[:1000], 100, vec.Cosine)
	var fs []Finding
	for _, q := range ds.Queries[:DefaultQueryWindow] {
		w := make([]float32, len(q))
		for j, x := range q {
			w[j] = 7 * x
		}
		fs = append(fs, d.ObserveQuery(w).Findings...)
	}
	require.Equal(t, []string{CodeQueryNormOutlier}, codes(fs))
}

func TestDriftResultDistances(t *testing.T) {
	d := NewDrift(DriftOptions{})
	rng := newRand(5)
	batch := make([]float32, 10)
	var fs []Finding
	for range 500 { // 5000 healthy distances
		for j := range batch {
			batch[j] = float32(0.2 + 0.3*rng.Float64())
		}
		fs = append(fs, d.ObserveResultDistances(batch, vec.Cosine, false).Findings...)
	}
	require.Empty(t, fs)
	for range 200 { // 5% of distances above 1.5
		for j := range batch {
			batch[j] = float32(0.3 * rng.Float64())
		}
		if rng.IntN(2) == 0 {
			batch[0] = 1.7
		}
		fs = append(fs, d.ObserveResultDistances(batch, vec.Cosine, false).Findings...)
	}
	require.Len(t, fs, 2)
	require.Equal(t, CodeResultDistanceHigh, fs[0].Code)
	require.InDelta(t, 0.05, fs[0].Figures["high_share"], 0.02)
	h := d.DistanceHistogram()
	require.EqualValues(t, 7000, h.Count)
}

func TestDriftBaselineFirst(t *testing.T) {
	// Nothing is judged before MinBaseline vectors, however odd.
	d := NewDrift(DriftOptions{MinBaseline: 300})
	rng := newRand(6)
	for range 3 {
		b := make([][]float32, 100)
		for i := range b {
			b[i] = []float32{float32(rng.NormFloat64()) * 10, float32(rng.NormFloat64())}
		}
		require.Empty(t, d.ObserveBatch(b, vec.Cosine).Findings)
	}
	d.ResetBaseline()
	require.Zero(t, d.Stats().Vectors)
	require.Equal(t, "critical", Critical.String())
}

// TestDriftConcurrentQueries: queries observed from several goroutines
// (striped windows, atomic counters) are each judged exactly once: the
// closed windows' evidence covers every query and every distance, and the
// histogram counts them all.
func TestDriftConcurrentQueries(t *testing.T) {
	const dim, workers, perWorker = 16, 4, 1000
	rng := newRand(9)
	base := make([][]float32, 1000)
	for i := range base {
		base[i] = make([]float32, dim)
		for j := range base[i] {
			base[i][j] = float32(rng.NormFloat64())
		}
	}
	d := NewDrift(DriftOptions{})
	baseline(t, d, base, 100, vec.L2)
	units := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		units[w] = map[string]int{}
		wg.Go(func() {
			dists := []float32{0.5, 0.6, 0.7}
			for i := range perWorker {
				v := d.ObserveQuery(base[(w*perWorker+i)%len(base)])
				r := d.ObserveResultDistances(dists, vec.Cosine, true)
				for _, e := range append(v.Clean, r.Clean...) {
					units[w][e.Code] += e.Units
				}
			}
		})
	}
	wg.Wait()
	total := map[string]int{}
	for _, u := range units {
		for code, n := range u {
			total[code] += n
		}
	}
	const q = workers * perWorker
	require.Equal(t, q, total[CodeQueryNormOutlier], "queries judged")
	require.Equal(t, q, total[CodeQueryDirectionOutlier], "queries judged")
	// The result window closes at 1,000 distances or more: what it has not
	// judged is in the open window.
	require.Equal(t, 3*q, total[CodeResultDistanceHigh]+int(d.rn.Load()), "distances judged or pending")
	h := d.DistanceHistogram()
	require.EqualValues(t, 3*q, h.Count)
	require.EqualValues(t, q, d.QueryVersion())
	// The first windows of nearest distances build its baseline (three of
	// about 200 reach 500; concurrent queries make window sizes vary), the
	// rest are judged against it, and join it.
	require.Greater(t, total[CodeNearestDistanceShift], q-1000)
	require.LessOrEqual(t, total[CodeNearestDistanceShift], q-500)
	require.Equal(t, q, d.Stats().NearestQueries)
}

package monitor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/vec"
)

// stateful is every piece with a saved state.
type stateful interface {
	AppendState([]byte) []byte
	RestoreState([]byte) error
}

// busyPieces returns one of each piece, with state: a drift baseline with
// a rejected batch, recall samples, autopilot changes, open and resolved
// findings, metric samples.
func busyPieces(t *testing.T) map[string]stateful {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	d := NewDrift(DriftOptions{})
	vs := gaussian(rng, 800, 12, 1)
	for i := 0; i < len(vs); i += 100 {
		d.ObserveBatch(vs[i:i+100], vec.L2)
	}
	d.ObserveBatch(gaussian(rng, 50, 12, 5), vec.L2) // a norm shift, kept out
	for i := range 700 {
		d.ObserveResultDistances([]float32{float32(0.3 + 0.01*float64(i%7))}, vec.L2, true)
	}
	e := NewRecallEstimator(RecallOptions{Clock: clock, MaxAge: -1})
	for i := range 30 {
		e.ObserveRecall(float64(i%10)/10, i%3 == 0, now.Add(time.Duration(i)*time.Second))
	}
	a := NewAutopilot(AutopilotOptions{Clock: clock, MinSamples: 5, Ef: 40})
	a.SetEf(64, 3, "forced")
	a.SetAuto(false)
	a.Update(e.Estimate())
	l := NewLedger(LedgerOptions{})
	l.Raise(Finding{Severity: Critical, Code: CodeNotNormalized, Message: "m", Figures: map[string]float64{"x": 1}}, now,
		&BatchRef{Index: 9, At: now, Vectors: 50, FirstID: "a", LastID: "z"})
	l.Raise(Finding{Severity: Warning, Code: CodeQueryNormOutlier, Message: "q"}, now, nil)
	l.Clean(CodeQueryNormOutlier, 200, now.Add(time.Second))
	l.Raise(Finding{Severity: Critical, Code: CodeMetricMismatch, Message: "mm"}, now, nil)
	l.Acknowledge([]string{CodeMetricMismatch}, false, now, "alice")
	m := NewMetricCheck(MetricOptions{MinSamples: 2})
	m.Observe(MetricSample{Cosine: math.NaN(), L2: 0.5, IP: 0.2, Negative: 3, Components: 12},
		NormSummary{Count: 10, Mean: 2, Std: 0.5, Min: 1, Max: 3}, vec.Cosine, now)
	m.Observe(MetricSample{Cosine: math.NaN(), L2: 0.7, IP: 0.1, Negative: 0, Components: 12},
		NormSummary{Count: 10, Mean: 2, Std: 0.5, Min: 1, Max: 3}, vec.Cosine, now)
	return map[string]stateful{"drift": d, "recall": e, "autopilot": a, "ledger": l, "metric": m}
}

func freshPieces() map[string]stateful {
	clock := func() time.Time { return time.Unix(1_800_000_000, 0) }
	return map[string]stateful{
		"drift":     NewDrift(DriftOptions{}),
		"recall":    NewRecallEstimator(RecallOptions{Clock: clock, MaxAge: -1}),
		"autopilot": NewAutopilot(AutopilotOptions{Clock: clock, MinSamples: 5}),
		"ledger":    NewLedger(LedgerOptions{}),
		"metric":    NewMetricCheck(MetricOptions{MinSamples: 2}),
	}
}

// TestStateRoundTrip: every piece restores what it saved (the same bytes
// again, the same behaviour), and refuses truncated or trailing bytes
// without changing.
func TestStateRoundTrip(t *testing.T) {
	busy, fresh := busyPieces(t), freshPieces()
	for name, p := range busy {
		b := p.AppendState(nil)
		q := fresh[name]
		empty := q.AppendState(nil)
		for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte(nil), b...), 0), {2}, {}} {
			require.Error(t, q.RestoreState(bad), "%s: % x", name, bad)
			require.Equal(t, empty, q.AppendState(nil), "%s: a refused state changes nothing", name)
		}
		require.NoError(t, q.RestoreState(b), name)
		require.Equal(t, b, q.AppendState(nil), name)
	}
	// Behaviour, not only bytes.
	d, d2 := busy["drift"].(*Drift), fresh["drift"].(*Drift)
	require.Equal(t, d.Stats(), d2.Stats())
	require.Equal(t, d.NormHistogram(), d2.NormHistogram())
	e, e2 := busy["recall"].(*RecallEstimator), fresh["recall"].(*RecallEstimator)
	require.Equal(t, e.Estimate().Interval, e2.Estimate().Interval)
	a, a2 := busy["autopilot"].(*Autopilot), fresh["autopilot"].(*Autopilot)
	require.Equal(t, a.Ef(), a2.Ef())
	require.Equal(t, a.Auto(), a2.Auto())
	require.Equal(t, len(a.History()), len(a2.History()))
	l, l2 := busy["ledger"].(*Ledger), fresh["ledger"].(*Ledger)
	require.Equal(t, l.Open(), l2.Open())
	require.Equal(t, l.Resolved(), l2.Resolved())
	require.Equal(t, []string{CodeMetricMismatch}, l2.Muted())
	m, m2 := busy["metric"].(*MetricCheck), fresh["metric"].(*MetricCheck)
	require.Equal(t, m.Report(vec.Cosine).Verdict, m2.Report(vec.Cosine).Verdict)
	require.InDelta(t, m.Report(vec.Cosine).L2, m2.Report(vec.Cosine).L2, 0)
}

// TestRecallDeltaRestore: a delta of new samples restored twice adds them
// once; a whole window into a fresh estimator reproduces it.
func TestRecallDeltaRestore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	e := NewRecallEstimator(RecallOptions{Clock: func() time.Time { return now }, MaxAge: -1, Window: 5})
	for i := range 4 {
		e.ObserveRecall(0.5, false, now)
		_ = i
	}
	full := e.AppendState(nil)
	seq := e.Seq()
	for range 3 {
		e.ObserveRecall(1, true, now)
	}
	delta := e.AppendSamplesSince(nil, seq)
	r := NewRecallEstimator(RecallOptions{Clock: func() time.Time { return now }, MaxAge: -1, Window: 5})
	require.NoError(t, r.RestoreState(full))
	require.NoError(t, r.RestoreState(delta))
	require.NoError(t, r.RestoreState(delta))
	require.NoError(t, r.RestoreState(full)) // older: nothing new
	require.Equal(t, e.Estimate().Interval, r.Estimate().Interval)
	require.Equal(t, 5, r.Estimate().Samples, "the window bounds it")
	require.Equal(t, uint64(7), r.Seq())
}

// TestLedgerEvidence: a write finding resolves only after two clean batches
// with 200 vectors; a raise in between starts the evidence over; a query
// finding after one clean window; an acknowledged metric_mismatch is muted
// until its check passes.
func TestLedgerEvidence(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := NewLedger(LedgerOptions{})
	nn := Finding{Severity: Critical, Code: CodeNotNormalized}
	require.True(t, l.Raise(nn, now, &BatchRef{Index: 1}))
	require.False(t, l.Raise(nn, now, &BatchRef{Index: 2}), "raised again: not newly open")
	_, ok := l.Clean(CodeNotNormalized, 500, now)
	require.False(t, ok, "one batch")
	l.Raise(nn, now, &BatchRef{Index: 3})
	_, ok = l.Clean(CodeNotNormalized, 100, now)
	require.False(t, ok)
	_, ok = l.Clean(CodeNotNormalized, 50, now)
	require.False(t, ok, "two batches, 150 vectors")
	r, ok := l.Clean(CodeNotNormalized, 50, now)
	require.True(t, ok)
	require.Equal(t, 3, r.Count)
	require.Equal(t, uint64(1), r.Batch.Index, "the batch that first raised it")
	require.Equal(t, uint64(3), r.LastBatch.Index)
	require.Contains(t, r.Resolution, "3 later batch")

	l.Raise(Finding{Code: CodeQueryDirectionOutlier}, now, nil)
	_, ok = l.Clean(CodeQueryDirectionOutlier, 200, now)
	require.True(t, ok, "one clean window")

	mm := Finding{Severity: Critical, Code: CodeMetricMismatch}
	l.Raise(mm, now, nil)
	require.Len(t, l.Acknowledge(nil, true, now, "bob"), 1)
	require.False(t, l.Raise(mm, now, nil), "muted")
	require.Empty(t, l.Open())
	l.Clean(CodeMetricMismatch, 32, now)
	require.True(t, l.Raise(mm, now, nil), "the check passed once: raised again")
	require.Equal(t, 3, len(l.Resolved()))
}

// TestMetricCheckRules: the rules of MetricCheck on reports shaped like the
// shared data sets, and the hysteresis that keeps a finding from flapping.
func TestMetricCheckRules(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name            string
		metric          vec.Metric
		cos, l2, ip, cv float64
		negative        float64
		want            string // "" clean, "none" neither, else severity:suggested
	}{
		{"wordnet cosine", vec.Cosine, nan, 1, 1, 1e-7, 0.5, ""},
		{"glove cosine", vec.Cosine, nan, 0.76, 0.11, 0.148, 0.54, ""},
		{"fashion l2", vec.L2, 0.52, nan, 0.01, 0.31, 0, ""},
		{"glove ip", vec.IP, 0.11, 0.06, nan, 0.148, 0.54, "critical:cosine"},
		{"fashion ip", vec.IP, 0.04, 0.01, nan, 0.31, 0, "critical:l2"},
		{"glove l2", vec.L2, 0.77, nan, 0.07, 0.148, 0.53, "warning:cosine"},
		{"fashion cosine", vec.Cosine, nan, 0.53, 0.03, 0.31, 0, "info:l2"},
		{"unit ip", vec.IP, 1, 1, nan, 1e-6, 0.5, ""},
		{"ip, just under the bounds", vec.IP, 0.92, 0.9, nan, 0.045, 0.5, "none"},
		{"ip, clear", vec.IP, 0.95, 0.9, nan, 0.2, 0.5, ""},
	} {
		m := NewMetricCheck(MetricOptions{MinSamples: 1})
		comp := 1000
		v := m.Observe(MetricSample{Cosine: tc.cos, L2: tc.l2, IP: tc.ip, Negative: int(tc.negative * float64(comp)), Components: comp},
			NormSummary{Count: 100, Mean: 1, Std: tc.cv}, tc.metric, time.Now())
		switch tc.want {
		case "":
			require.Empty(t, v.Findings, tc.name)
			require.Equal(t, []string{CodeMetricMismatch}, v.CleanCodes(), tc.name)
		case "none":
			require.Empty(t, v.Findings, tc.name)
			require.Empty(t, v.Clean, tc.name)
		default:
			require.Len(t, v.Findings, 1, tc.name)
			f := v.Findings[0]
			require.Equal(t, tc.want, f.Severity.String()+":"+m.Report(tc.metric).Suggested, tc.name)
			require.Contains(t, f.Message, "hnsw:space "+m.Report(tc.metric).Suggested, tc.name)
		}
	}
}

// TestObserveNearest: a window of queries whose nearest results are far
// beyond the baseline is a nearest_distance_shift; windows within it are
// clean and join the baseline; nothing is judged before the baseline.
func TestObserveNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	d := NewDrift(DriftOptions{})
	obs := func(n int, mean, sd float64) Verdict {
		var last Verdict
		for range n {
			if v := d.ObserveResultDistances([]float32{float32(mean + sd*rng.NormFloat64()), 5}, vec.L2, true); !v.Empty() {
				last = v
			}
		}
		return last
	}
	require.Empty(t, obs(600, 0.3, 0.08).Findings, "baseline")
	v := obs(200, 0.33, 0.08)
	require.Empty(t, v.Findings, "a slightly different window")
	require.Equal(t, []string{CodeNearestDistanceShift}, v.CleanCodes())
	v = obs(200, 0.9, 0.1)
	require.Len(t, v.Findings, 1)
	require.Equal(t, CodeNearestDistanceShift, v.Findings[0].Code)
	require.Greater(t, v.Findings[0].Figures["shift_sigma"], 3.0)
	v = obs(200, 0.3, 0.08)
	require.Equal(t, []string{CodeNearestDistanceShift}, v.CleanCodes(), "back within bounds: evidence")
}

// FuzzRestoreState: no input makes a piece panic, and what one accepts it
// writes back to bytes that restore to the same.
func FuzzRestoreState(f *testing.F) {
	for _, p := range busyPieces(&testing.T{}) {
		f.Add(p.AppendState(nil))
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, p := range freshPieces() {
			if p.RestoreState(b) != nil {
				continue
			}
			canon := p.AppendState(nil)
			q := freshPieces()[name]
			require.NoError(t, q.RestoreState(canon), name)
			require.Equal(t, canon, q.AppendState(nil), name)
		}
	})
}

// gaussian returns n d-dimensional vectors with N(0, 1) components plus
// norm along the first axis, scaled by s.
func gaussian(rng *rand.Rand, n, d int, s float32) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, d)
		for j := range v {
			v[j] = s * float32(0.3*rng.NormFloat64())
		}
		v[0] += s
		out[i] = v
	}
	return out
}

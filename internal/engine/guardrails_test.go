package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/monitor"
	"github.com/sextantdb/sextant/internal/storage/ckpt"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

// testClock is the real clock plus an offset the test moves forward.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

const guardDim = 16

// guardOpen opens a collection on fs with a monitor that may spend a whole
// core and reads clk. Its idle probes are off (MinInterval an hour), so that
// the guardrail state changes only when the test acts.
func guardOpen(t *testing.T, fs vfs.FS, metric vec.Metric, clk *testClock) *Collection {
	t.Helper()
	c, err := Open(Options{FS: fs, Dir: "/db/coll", CheckpointBytes: 1 << 30, Monitor: MonitorOptions{
		Budget: 1, MinInterval: time.Hour, MinSamples: 50, Clock: clk.now,
		// No metric-check sample after the first 16 (SlowInterval): the
		// state is still when the test compares it.
		Metric: monitor.MetricOptions{MinSamples: 16, FastInterval: time.Millisecond, SlowInterval: 24 * time.Hour},
	}}, Config{Dim: guardDim, Metric: metric, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 300})
	require.NoError(t, err)
	verifyAtCleanup(t, c)
	return c
}

// concentrated returns n vectors around direction axis (so that drift's
// direction rules have a signal), scaled to norms drawn by norm.
func concentrated(rng *rand.Rand, n, axis int, norm func() float64) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, guardDim)
		for j := range v {
			v[j] = float32(0.15 * rng.NormFloat64())
		}
		v[axis] += 1
		s := norm() / vec.Norm(v)
		for j := range v {
			v[j] *= float32(s)
		}
		out[i] = v
	}
	return out
}

// search runs one query of k 10 as given (Raw) and prepared.
func search(t *testing.T, c *Collection, q []float32) {
	t.Helper()
	p, err := c.PrepareQuery(0, q)
	require.NoError(t, err)
	_, _, err = c.Search(context.Background(), SearchRequest{Vector: p, Raw: q, K: 10})
	require.NoError(t, err)
}

func putAll(t *testing.T, c *Collection, prefix string, vs [][]float32) {
	t.Helper()
	puts := make([]Put, len(vs))
	for i, v := range vs {
		puts[i] = Put{ID: fmt.Sprintf("%s-%d", prefix, i), Vector: v}
	}
	require.NoError(t, c.Add(puts))
}

func openCodes(h Health) []string {
	var out []string
	for _, f := range h.Findings {
		out = append(out, f.Severity.String()+":"+f.Code)
	}
	slices.Sort(out)
	return out
}

// savedAll reports whether every guardrail change is in the WAL.
func savedAll(c *Collection) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	dirty, _ := c.mon.changed(c.mon.versions(time.Now()))
	return !dirty
}

// unsaved describes what savedAll waits for.
func unsaved(c *Collection) string {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return fmt.Sprintf("saved %+v now %+v", c.mon.saved, c.mon.versions(time.Now()))
}

// TestGuardrailsSurviveCrash raises every finding kind in three collections
// (cosine: not_normalized and the four query/result findings, with ef forced
// and recall samples taken; l2: norm_shift and direction_shift; ip:
// metric_mismatch), crashes the file system (what was not synced is partly
// lost, as in kill -9), reopens, and checks that the same findings are open
// with the same first/last seen times, counts and batches, and the same ef,
// ef history, auto_ef switch, degraded state, recall window and drift
// baselines. The next clean batch then raises nothing and resolves nothing.
func TestGuardrailsSurviveCrash(t *testing.T) {
	unit := func() float64 { return 1 }
	cases := []struct {
		name   string
		metric vec.Metric
		raise  func(t *testing.T, c *Collection, rng *rand.Rand, clk *testClock)
		want   []string
		clean  func(rng *rand.Rand) [][]float32
	}{
		{
			name: "cosine", metric: vec.Cosine,
			raise: func(t *testing.T, c *Collection, rng *rand.Rand, clk *testClock) {
				putAll(t, c, "bad", concentrated(rng, 40, 0, func() float64 { return 3 + rng.Float64() }))
				c.WaitIndexed()
				// The autopilot off at a forced ef, and recall samples.
				require.NoError(t, c.SetAutoEf(false))
				c.SetEfSearch(23)
				// At least 800 queries: the nearest-distance baseline (500)
				// and a window.
				for i := 0; i < 800 || c.Health().Recall.Samples < 100; i++ {
					require.Less(t, i, 20000, "recall samples: %+v", c.Health().Sampler)
					q := concentrated(rng, 1, 0, unit)[0]
					search(t, c, q)
					if i%50 == 49 {
						time.Sleep(5 * time.Millisecond) // let the monitor re-run them
					}
				}
				// Then queries from "elsewhere": twice the norm, the
				// opposite direction (result distances near 2). Queries
				// like the data after them would resolve these findings.
				for i := 0; i < 400; i++ {
					q := concentrated(rng, 1, 0, func() float64 { return 2 })[0]
					for j := range q {
						q[j] = -q[j]
					}
					search(t, c, q)
				}
			},
			want: []string{"critical:not_normalized", "info:query_direction_outlier", "warning:nearest_distance_shift",
				"warning:query_norm_outlier", "warning:result_distance_high"},
			clean: func(rng *rand.Rand) [][]float32 { return concentrated(rng, 100, 0, unit) },
		},
		{
			name: "l2", metric: vec.L2,
			raise: func(t *testing.T, c *Collection, rng *rand.Rand, clk *testClock) {
				putAll(t, c, "big", concentrated(rng, 100, 0, func() float64 { return 12 + rng.Float64() }))
				clk.advance(time.Minute)
				putAll(t, c, "turned", concentrated(rng, 100, 3, func() float64 { return 5 + 0.15*rng.NormFloat64() }))
			},
			want: []string{"warning:direction_shift", "warning:norm_shift"},
			clean: func(rng *rand.Rand) [][]float32 {
				return concentrated(rng, 100, 0, func() float64 { return 5 + 0.15*rng.NormFloat64() })
			},
		},
		{
			name: "ip", metric: vec.IP,
			raise: func(t *testing.T, c *Collection, rng *rand.Rand, clk *testClock) {
				require.Eventually(t, func() bool {
					return slices.Contains(openCodes(c.Health()), "critical:metric_mismatch")
				}, 20*time.Second, 5*time.Millisecond, "%+v", c.Health().Metric)
			},
			want: []string{"critical:metric_mismatch"},
			clean: func(rng *rand.Rand) [][]float32 {
				return concentrated(rng, 100, 0, func() float64 { return 1 + 3*rng.Float64() })
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(tc.name))))
			clk := &testClock{}
			mem := vfs.NewMem()
			c := guardOpen(t, mem, tc.metric, clk)
			norm := unit
			switch tc.metric {
			case vec.L2:
				norm = func() float64 { return 5 + 0.15*rng.NormFloat64() }
			case vec.IP:
				norm = func() float64 { return 1 + 3*rng.Float64() }
			}
			for b := 0; b < 8; b++ {
				putAll(t, c, fmt.Sprintf("base%d", b), concentrated(rng, 100, 0, norm))
			}
			require.Empty(t, openCodes(c.Health()), "no finding over the clean baseline")
			// The metric check's first 16 samples (its only ones: SlowInterval
			// is a day) judge the clean data, whatever the machine's load.
			require.Eventually(t, func() bool { return c.Health().Metric.Samples >= 16 }, 20*time.Second, time.Millisecond)
			if tc.metric != vec.IP {
				// Mid-way, a checkpoint: the state after it comes from the WAL.
				require.NoError(t, c.Checkpoint())
			}
			clk.advance(time.Minute)
			tc.raise(t, c, rng, clk)
			require.Eventually(t, func() bool {
				return slices.Equal(tc.want, openCodes(c.Health()))
			}, 20*time.Second, 5*time.Millisecond, "findings %v", openCodes(c.Health()))
			if tc.metric == vec.IP {
				require.NoError(t, c.Checkpoint()) // here the checkpoint holds the finding
			}
			// Non-urgent changes (recall samples, metric samples) are saved
			// within persistInterval, once the sampled queries are re-run.
			require.Eventually(t, func() bool { return len(c.mon.jobs) == 0 }, 20*time.Second, time.Millisecond)
			time.Sleep(20 * time.Millisecond) // the last job's sample
			clk.advance(persistInterval + time.Second)
			c.mon.kickPersist()
			require.Eventually(t, func() bool { return savedAll(c) }, 20*time.Second, 5*time.Millisecond, "%s", unsaved(c))
			before := c.Health()
			crashed := mem.CrashClone(rng)
			closeVerified(t, c)

			c2 := guardOpen(t, crashed, tc.metric, clk)
			defer closeVerified(t, c2)
			after := c2.Health()
			require.Equal(t, openCodes(before), openCodes(after), "resolved after reopen: %+v", after.Resolved)
			for i, f := range before.Findings {
				g := after.Findings[i]
				require.Equal(t, f.Message, g.Message)
				require.Equal(t, f.Count, g.Count, f.Code)
				require.True(t, f.FirstSeen.Equal(g.FirstSeen), "%s first seen %v, after reopen %v", f.Code, f.FirstSeen, g.FirstSeen)
				require.True(t, f.LastSeen.Equal(g.LastSeen), "%s last seen", f.Code)
				require.Equal(t, f.Batch == nil, g.Batch == nil, f.Code)
				if f.Batch != nil {
					require.Equal(t, f.Batch.Index, g.Batch.Index)
					require.Equal(t, f.Batch.FirstID, g.Batch.FirstID)
					require.Equal(t, f.Batch.Vectors, g.Batch.Vectors)
					require.True(t, f.Batch.At.Equal(g.Batch.At))
				}
			}
			require.Equal(t, before.EffectiveEf, after.EffectiveEf)
			require.Equal(t, before.AutoEf, after.AutoEf)
			require.Equal(t, before.Status, after.Status)
			require.Equal(t, len(before.EfHistory), len(after.EfHistory))
			require.Equal(t, before.Recall.Samples, after.Recall.Samples)
			if before.Recall.Samples > 0 {
				require.InDelta(t, before.Recall.Recall, after.Recall.Recall, 1e-12)
			}
			require.Equal(t, before.Drift.Vectors, after.Drift.Vectors, "baseline size")
			require.InDelta(t, before.Drift.NormMean, after.Drift.NormMean, 1e-9)
			require.InDelta(t, before.Drift.NormStd, after.Drift.NormStd, 1e-9)
			require.InDelta(t, before.Drift.Concentration, after.Drift.Concentration, 1e-9)
			require.Equal(t, before.Drift.NearestQueries, after.Drift.NearestQueries, "nearest-distance baseline")
			require.InDelta(t, before.Drift.NearestMean, after.Drift.NearestMean, 1e-9)
			require.Equal(t, before.DistanceHist.Count, after.DistanceHist.Count, "result distance histogram")
			if tc.name == "cosine" {
				require.Positive(t, after.Drift.NearestQueries)
			}
			require.Equal(t, before.Metric.Samples, after.Metric.Samples)
			require.Equal(t, before.Metric.Verdict, after.Metric.Verdict)
			if tc.name == "cosine" {
				require.Equal(t, 23, after.EffectiveEf)
				require.False(t, after.AutoEf)
			}

			// The next clean batch raises nothing: no new finding, no count
			// up (it may resolve one on the evidence of batches before it).
			putAll(t, c2, "clean", tc.clean(rng))
			for _, f := range c2.Health().Findings {
				i := slices.IndexFunc(before.Findings, func(b monitor.OpenFinding) bool { return b.Code == f.Code })
				require.GreaterOrEqual(t, i, 0, "%s raised by a clean batch", f.Code)
				if f.Code != monitor.CodeMetricMismatch { // re-raised by each metric check, not by batches
					require.Equal(t, before.Findings[i].Count, f.Count, "%s raised again by a clean batch", f.Code)
				}
			}
		})
	}
}

// TestFindingsResolveOnEvidence: write findings resolve after clean batches
// (not before), durably; an acknowledged finding is resolved with the
// operator's name; a restart resolves nothing.
func TestFindingsResolveOnEvidence(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	clk := &testClock{}
	mem := vfs.NewMem()
	c := guardOpen(t, mem, vec.Cosine, clk)
	unit := func() float64 { return 1 }
	for b := 0; b < 6; b++ {
		putAll(t, c, fmt.Sprintf("base%d", b), concentrated(rng, 100, 0, unit))
	}
	putAll(t, c, "bad", concentrated(rng, 30, 0, func() float64 { return 2 }))
	require.Equal(t, []string{"critical:not_normalized"}, openCodes(c.Health()))
	closeVerified(t, c)

	c = guardOpen(t, mem, vec.Cosine, clk)
	require.Equal(t, []string{"critical:not_normalized"}, openCodes(c.Health()), "a restart resolves nothing")
	putAll(t, c, "good1", concentrated(rng, 150, 0, unit))
	require.Equal(t, []string{"critical:not_normalized"}, openCodes(c.Health()), "one clean batch is not enough")
	putAll(t, c, "good2", concentrated(rng, 150, 0, unit))
	h := c.Health()
	require.Empty(t, openCodes(h))
	require.Len(t, h.Resolved, 1)
	require.Contains(t, h.Resolved[0].Resolution, "evidence")
	require.Equal(t, "bad-0", h.Resolved[0].Batch.FirstID)

	// Raised again, then acknowledged.
	putAll(t, c, "bad2", concentrated(rng, 30, 0, func() float64 { return 2 }))
	require.Equal(t, []string{"critical:not_normalized"}, openCodes(c.Health()))
	res, err := c.Acknowledge([]string{monitor.CodeNotNormalized}, false, false, "alice")
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, "acknowledged by alice", res[0].Resolution)
	closeVerified(t, c)
	c = guardOpen(t, mem, vec.Cosine, clk)
	defer closeVerified(t, c)
	h = c.Health()
	require.Empty(t, openCodes(h), "the acknowledgement is durable")
	require.Len(t, h.Resolved, 2)
	require.Equal(t, "acknowledged by alice", h.Resolved[1].Resolution)
	require.Equal(t, "bad2-0", h.Resolved[1].Batch.FirstID)
}

// TestBaselineSeededFromOldCheckpoint: a checkpoint without guardrail state
// (the first format) gets its drift baseline from the stored records, so
// that the first batch after the upgrade is judged, not learned from.
func TestBaselineSeededFromOldCheckpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	clk := &testClock{}
	mem := vfs.NewMem()
	c := guardOpen(t, mem, vec.Cosine, clk)
	for b := 0; b < 6; b++ {
		putAll(t, c, fmt.Sprintf("base%d", b), concentrated(rng, 100, 0, func() float64 { return 1 }))
	}
	closeVerified(t, c)
	// Rewrite the checkpoint without its guardrail file, as the first
	// format wrote it (the segments stay: only the meta names them).
	m, ok, err := ckpt.ReadManifest(mem, "/db/coll")
	require.NoError(t, err)
	require.True(t, ok)
	var meta ckptMeta
	require.NoError(t, json.Unmarshal(m.Meta, &meta))
	require.True(t, meta.Guardrails)
	var files []ckpt.File
	for _, name := range []string{filePayload} {
		b, err := ckpt.ReadFile(mem, "/db/coll", m.Checkpoint, name)
		require.NoError(t, err)
		files = append(files, ckpt.File{Name: name, Data: b})
	}
	meta.Guardrails, meta.Graph, meta.Applied = false, false, 0
	require.NoError(t, ckpt.Write(mem, "/db/coll", m.Checkpoint+1, files, meta.encode()))

	c = guardOpen(t, mem, vec.Cosine, clk)
	defer closeVerified(t, c)
	h := c.Health()
	require.Equal(t, 600, h.Drift.Vectors, "baseline seeded from the 600 stored records")
	require.InDelta(t, 1, h.Drift.NormMean, 1e-6)
	putAll(t, c, "bad", concentrated(rng, 30, 0, func() float64 { return 2 }))
	require.Equal(t, []string{"critical:not_normalized"}, openCodes(c.Health()))
}

// TestCloseKeepsGuardrails: a clean close writes what the monitor changed
// since its last record (recall and metric-check samples, the nearest-
// distance baseline) before the final checkpoint, even when no data were
// written since the last one.
func TestCloseKeepsGuardrails(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	clk := &testClock{}
	mem := vfs.NewMem()
	c := guardOpen(t, mem, vec.Cosine, clk)
	for b := 0; b < 8; b++ {
		putAll(t, c, fmt.Sprintf("base%d", b), concentrated(rng, 100, 0, func() float64 { return 1 }))
	}
	c.WaitIndexed()
	require.NoError(t, c.Checkpoint())
	for i := 0; i < 600 || c.Health().Recall.Samples < 50 || c.Health().Metric.Samples < 16; i++ {
		require.Less(t, i, 50000)
		q := concentrated(rng, 1, 0, func() float64 { return 1 })[0]
		search(t, c, q)
		if i%50 == 49 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	require.Eventually(t, func() bool { return len(c.mon.jobs) == 0 }, 10*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	before := c.Health()
	closeVerified(t, c)
	c = guardOpen(t, mem, vec.Cosine, clk)
	defer closeVerified(t, c)
	after := c.Health()
	require.Equal(t, before.Recall.Samples, after.Recall.Samples)
	require.Equal(t, before.Metric.Samples, after.Metric.Samples)
	require.Equal(t, before.Metric.Verdict, after.Metric.Verdict)
	require.Equal(t, before.Drift.NearestQueries, after.Drift.NearestQueries)
	require.Positive(t, after.Drift.NearestQueries)
}

// walCount returns the records and bytes c appended to its WAL since the
// last checkpoint (guardrail records included).
func walCount(c *Collection) (uint64, int64) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.applied, c.walBytes
}

// TestIdleCollectionWritesNothing: an HNSW collection that nobody writes to
// or queries keeps probing itself (recall and metric-check samples), but
// appends no guardrail record for them however long it stays idle, so that
// its WAL does not grow; activity (a query re-run exactly) is persisted
// again; a crash keeps what the operator was told, and a clean close the
// probes' samples too.
func TestIdleCollectionWritesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	clk := &testClock{}
	mem := vfs.NewMem()
	open := func(fs vfs.FS) *Collection {
		c, err := Open(Options{FS: fs, Dir: "/db/coll", CheckpointBytes: 1 << 30, Monitor: MonitorOptions{
			Budget: 1, MinInterval: 5 * time.Millisecond, Clock: clk.now,
			Metric: monitor.MetricOptions{MinSamples: 16, FastInterval: time.Millisecond, SlowInterval: 5 * time.Millisecond},
		}}, Config{Dim: guardDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 100})
		require.NoError(t, err)
		verifyAtCleanup(t, c)
		return c
	}
	c := open(mem)
	for b := 0; b < 4; b++ {
		putAll(t, c, fmt.Sprintf("base%d", b), concentrated(rng, 100, 0, func() float64 { return 1 }))
	}
	c.WaitIndexed()
	require.Equal(t, "hnsw", c.Stats().Mode)
	// The writes are persisted with what the probes learned meanwhile; the
	// metric check ends its learning (its verdict is material).
	require.Eventually(t, func() bool {
		h := c.Health()
		return h.Recall.Samples >= 5 && h.Metric.Samples >= 16
	}, 20*time.Second, time.Millisecond)
	clk.advance(persistInterval + time.Second)
	c.mon.kickPersist()
	time.Sleep(50 * time.Millisecond)
	recs, bytes := walCount(c)
	samples, metric := c.Health().Sampler.Stored, c.mon.metric.Version()

	// Idle: ten persist intervals; the probes go on.
	for range 10 {
		clk.advance(persistInterval + time.Second)
		c.mon.kickPersist()
		time.Sleep(30 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		return c.Health().Sampler.Stored > samples+5 && c.mon.metric.Version() > metric+5
	}, 20*time.Second, time.Millisecond, "the idle collection probes")
	clk.advance(persistInterval + time.Second)
	c.mon.kickPersist()
	time.Sleep(30 * time.Millisecond)
	r2, b2 := walCount(c)
	require.Equal(t, recs, r2, "guardrail records appended by an idle collection (%d bytes)", b2-bytes)
	require.Equal(t, bytes, b2)

	// A query re-run exactly is activity: it is persisted within the interval.
	seq, act := c.mon.est.Seq(), c.mon.activity.Load()
	for i := 0; c.mon.activity.Load() == act; i++ {
		require.Less(t, i, 10000)
		search(t, c, concentrated(rng, 1, 0, func() float64 { return 1 })[0])
		time.Sleep(time.Millisecond)
	}
	require.Eventually(t, func() bool { return c.mon.est.Seq() > seq }, 20*time.Second, time.Millisecond)
	clk.advance(persistInterval + time.Second)
	c.mon.kickPersist()
	require.Eventually(t, func() bool { r, _ := walCount(c); return r > r2 }, 20*time.Second, time.Millisecond)

	// Idle again, then a crash: what the operator was told (the metric
	// verdict, ef, findings) and a recall window survive it; the probes'
	// samples since the last record are measured anew.
	for range 3 {
		clk.advance(persistInterval + time.Second)
		c.mon.kickPersist()
		time.Sleep(30 * time.Millisecond)
	}
	crashed := mem.CrashClone(rng)
	// A clean close writes the probes' samples: the reopened collection
	// holds the same recall window and metric check.
	closeVerified(t, c)
	before := c.Health()
	c = open(crashed)
	after := c.Health()
	require.Equal(t, before.Metric.Verdict, after.Metric.Verdict)
	require.Equal(t, before.EffectiveEf, after.EffectiveEf)
	require.Equal(t, openCodes(before), openCodes(after))
	require.Positive(t, after.Recall.Samples)
	closeVerified(t, c)

	c = open(mem)
	defer closeVerified(t, c)
	after = c.Health()
	// The reopened collection's monitor starts at once and may have
	// probed (or checked the metric) once more before Health is read.
	require.GreaterOrEqual(t, after.Recall.Samples, before.Recall.Samples, "the recall window survives a clean close")
	require.GreaterOrEqual(t, after.Metric.Samples, before.Metric.Samples, "the metric check survives a clean close")
	require.Equal(t, before.Metric.Verdict, after.Metric.Verdict)
	require.Equal(t, before.EffectiveEf, after.EffectiveEf)
}

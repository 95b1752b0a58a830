package hnsw

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

// A graph over an explicit float32 space is the graph New builds; a search
// with a caller's scorer is Search; Decode and Reorder over a space keep the
// graph.
func TestSpaceSeam(t *testing.T) {
	d := loadData(t, "glove-twitter-25", 1500, 30)
	cfg := Config{M: 8, EfConstruction: 64, Metric: d.metric, Seed: 5}
	g, s := newGraph(t, cfg, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 1)
	sp := score.NewF32(s, d.metric)
	h := NewWithSpace(cfg, sp)
	t.Cleanup(func() { require.NoError(t, h.Check()) })
	insertAll(h, s, seq(len(d.base)), d.base, 1)
	require.Equal(t, g.AppendBinary(nil), h.AppendBinary(nil), "same seed, one thread: same graph")
	require.Same(t, sp, h.Space())

	dh, err := DecodeWithSpace(g.AppendBinary(nil), cfg, sp)
	require.NoError(t, err)
	require.Equal(t, g.AppendBinary(nil), dh.AppendBinary(nil))
	other := vec.L2
	if d.metric == vec.L2 {
		other = vec.Cosine
	}
	_, err = DecodeWithSpace(g.AppendBinary(nil), cfg, score.NewF32(s, other))
	require.Error(t, err, "metric mismatch")
	require.Panics(t, func() { NewWithSpace(Config{Metric: vec.L2}, score.NewF32(s, vec.IP)) })

	sc := sp.NewScorer()
	for _, q := range d.queries {
		want, wst := g.Search(q, 10, 50, nil, nil)
		sc.SetQuery(q)
		got, gst := g.SearchWith(sc, 10, 50, nil, nil)
		require.Equal(t, want, got)
		require.Equal(t, wst, gst)
		f := setFilter{}
		for i := range uint32(len(d.base)) {
			if i%3 == 0 {
				f[i] = true
			}
		}
		want, _ = g.SearchTwoHop(q, 10, 50, f, nil)
		got, _ = g.SearchTwoHopWith(sc, 10, 50, f, nil)
		require.Equal(t, want, got)
		// Re-ranking with the exact scan scorer: exact distances, ascending.
		cands, _ := g.Search(q, 40, 50, nil, nil)
		ex := score.NewF32Scan(s, d.metric).NewScorer()
		ex.SetQuery(q)
		re := score.Rerank(ex, cands, 10)
		require.Len(t, re, 10)
		for i := range re {
			require.Equal(t, d.metric.Distance(q, s.At(re[i].Slot)), re[i].Dist)
			if i > 0 {
				require.False(t, re[i].Less(re[i-1]))
			}
		}
	}

	dst := vec.NewSlab(len(d.base[0]))
	var moved []uint32
	r, perm := g.ReorderWith(score.NewF32(dst, d.metric), func(to, from uint32) {
		moved = append(moved, to)
		dst.Set(to, s.At(from))
	})
	require.NoError(t, r.Check())
	require.Len(t, moved, len(d.base))
	for i, to := range moved {
		require.Equal(t, uint32(i), to)
	}
	for old, nw := range perm {
		require.Equal(t, s.At(uint32(old)), dst.At(nw))
	}
	require.Panics(t, func() { r2 := NewWithSpace(cfg, fakeSpace{sp}); r2.Reorder(vec.NewSlab(1)) })
}

// fakeSpace is a space that is not *score.F32.
type fakeSpace struct{ *score.F32 }

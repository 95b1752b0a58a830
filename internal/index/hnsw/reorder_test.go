package hnsw

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/vec"
)

func TestReorder(t *testing.T) {
	d := loadData(t, "glove-twitter-25", 2000, 50)
	g, s := newGraph(t, Config{M: 8, EfConstruction: 50, Metric: d.metric, Seed: 3}, len(d.base[0]))
	// Slots with gaps, and a few tombstones.
	slots := make([]uint32, len(d.base))
	for i := range slots {
		slots[i] = uint32(i + i/7)
	}
	insertAll(g, s, slots, d.base, 2)
	for _, x := range slots[:40] {
		require.True(t, g.Delete(x))
	}
	dst := vec.NewSlab(len(d.base[0]))
	h, perm := g.Reorder(dst)
	require.NoError(t, h.Check())
	require.Equal(t, g.Len(), h.Len())
	require.Equal(t, g.Tombstones(), h.Tombstones())
	seen := map[uint32]bool{}
	for old, nw := range perm {
		if g.stateOf(uint32(old))&statePresent == 0 {
			require.Equal(t, uint32(NoSlot), nw)
			continue
		}
		require.Less(t, int(nw), len(slots))
		require.False(t, seen[nw])
		seen[nw] = true
		require.Equal(t, s.At(uint32(old)), dst.At(nw))
		require.Equal(t, g.Contains(uint32(old)), h.Contains(nw))
	}
	epOld, _, _ := g.entry()
	epNew, _, _ := h.entry()
	require.Equal(t, uint32(0), epNew)
	require.Equal(t, perm[epOld], epNew)
	// The same graph under new names: the same results.
	for _, q := range d.queries {
		a, _ := g.Search(q, 10, 50, nil, nil)
		b, _ := h.Search(q, 10, 50, nil, nil)
		require.Equal(t, len(a), len(b))
		for i := range a {
			require.Equal(t, a[i].Dist, b[i].Dist)
		}
	}
	// The copy takes inserts.
	h.Repair()
	require.NoError(t, h.Check())
}

package hnsw

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecall(t *testing.T) {
	cases := []struct {
		name          string
		base, queries int // 0: all
		shortBase     int
	}{
		{"glove-twitter-25", 0, 0, 3000},
		{"fashion-mnist-784", 0, 0, 3000},
		{"wordnet-use512", 20000, 0, 3000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nb, nq := tc.base, tc.queries
			if testing.Short() {
				nb, nq = tc.shortBase, 100
			}
			d := loadData(t, tc.name, nb, nq)
			g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 1}, len(d.base[0]))
			start := time.Now()
			insertAll(g, s, seq(len(d.base)), d.base, 2)
			build := time.Since(start)
			require.Equal(t, len(d.base), g.Len())
			r := recallOver(t, g, s, d.metric, seq(len(d.base)), d.queries, 10, 100, nil)
			t.Logf("%s: %d vectors built in %v (2 goroutines), %d queries, recall@10 (ef=100) = %.4f, graph %d B/vector",
				tc.name, len(d.base), build.Round(time.Millisecond), len(d.queries), r, g.MemoryBytes()/int64(len(d.base)))
			require.GreaterOrEqual(t, r, 0.95)
		})
	}
}

func TestChurn(t *testing.T) {
	n, nq := 10000, 200
	if testing.Short() {
		n, nq = 2000, 50
	}
	d := loadData(t, "glove-twitter-25", 0, nq)
	pool := d.base // rows to draw vectors from, cyclically
	g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 2}, len(pool[0]))
	rng := rand.New(rand.NewPCG(7, 7))
	next := 0 // next row of pool
	rowOf := map[uint32]int{}
	take := func(slots []uint32) [][]float32 {
		rows := make([][]float32, len(slots))
		for i, slot := range slots {
			rows[i] = pool[next%len(pool)]
			rowOf[slot] = next % len(pool)
			next++
		}
		return rows
	}
	slots := seq(n)
	insertAll(g, s, slots, take(slots), 2)
	live := slices.Clone(slots)
	peak := len(live)
	highest := n
	for round := 1; round <= 3; round++ {
		rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		del := live[:len(live)/2]
		for _, x := range del {
			require.True(t, g.Delete(x))
		}
		require.False(t, g.Delete(del[0]), "second delete")
		deleted := map[uint32]bool{}
		for _, x := range del {
			deleted[x] = true
		}
		// Deleted slots are never returned, even before Repair.
		for _, q := range d.queries[:10] {
			res, _ := g.Search(q, 10, 100, nil, nil)
			for _, r := range res {
				require.False(t, deleted[r.Slot])
			}
		}
		live = slices.Clone(live[len(live)/2:])
		freed := g.Repair()
		require.Len(t, freed, len(del))
		require.NoError(t, g.Check())
		require.Zero(t, g.Tombstones())
		// Insert n/2 new vectors, reusing freed slots first.
		add := make([]uint32, 0, n/2)
		for i := 0; i < n/2; i++ {
			if i < len(freed) {
				add = append(add, freed[i])
			} else {
				add = append(add, uint32(highest))
				highest++
			}
		}
		insertAll(g, s, add, take(add), 2)
		live = append(live, add...)
		peak = max(peak, len(live))
		require.Equal(t, len(live), g.Len())
		require.LessOrEqual(t, float64(highest), 1.1*float64(peak))
		require.NoError(t, g.Check())
		r := recallOver(t, g, s, d.metric, live, d.queries, 10, 100, nil)
		t.Logf("round %d: %d live, recall@10 = %.4f", round, len(live), r)
		require.GreaterOrEqual(t, r, 0.95)
	}
}

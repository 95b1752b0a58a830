package hnsw

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/vec"
)

// buildConcurrent inserts rows into slots 0..n-1 of a new graph with threads
// goroutines, without Reconnect.
func buildConcurrent(cfg Config, rows [][]float32, threads int) *Graph {
	s := vec.NewSlab(len(rows[0]))
	g := New(cfg, s)
	for i, r := range rows {
		s.Set(uint32(i), r)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(rows) {
					return
				}
				g.Insert(uint32(i))
			}
		}()
	}
	wg.Wait()
	return g
}

// TestReconnectStress builds many small graphs concurrently with small M,
// where lists are shrunk often and concurrent inserts can leave a few nodes
// linked only to each other, and checks that after Reconnect the whole graph
// passes Check. It logs how many builds needed it.
func TestReconnectStress(t *testing.T) {
	rounds := 400
	if testing.Short() {
		rounds = 100
	}
	builds, broken, relinked := 0, 0, 0
	for _, threads := range []int{2, 4} {
		for m := 2; m <= 4; m++ {
			t.Run(fmt.Sprintf("threads=%d/M=%d", threads, m), func(t *testing.T) {
				for r := range rounds {
					n := 30 + 10*(r%8)
					rows := randomRows(n, 8, uint64(7919*m+r))
					g := buildConcurrent(Config{M: m, EfConstruction: 12, Metric: vec.Cosine, Seed: uint64(r)}, rows, threads)
					builds++
					if g.Check() != nil {
						broken++
					}
					x := g.Reconnect()
					relinked += x
					require.NoError(t, g.Check(), "round %d (relinked %d)", r, x)
					require.Zero(t, g.Reconnect(), "nothing left to relink")
				}
			})
		}
	}
	t.Logf("%d concurrent builds: %d failed Check before Reconnect, %d nodes relinked, all pass after", builds, broken, relinked)
}

// TestReconnectBroken cuts a graph into pieces by hand (lists emptied, so
// whole regions lose their in-edges) and checks that Reconnect links every
// live node back.
func TestReconnectBroken(t *testing.T) {
	rows := randomRows(600, 16, 8)
	g, s := newGraph(t, Config{M: 6, EfConstruction: 40, Metric: vec.Cosine, Seed: 2}, 16)
	insertAll(g, s, seq(len(rows)), rows, 1)
	require.Zero(t, g.Reconnect())
	ep, _, _ := g.entry()
	g.mu.Lock()
	for slot := uint32(0); slot < 600; slot += 3 {
		if slot != ep {
			g.rewriteLocked(g.list(slot, 0), 0, nil)
		}
	}
	// Make 2 and 4 point only at each other, and nothing at them.
	for slot := uint32(0); slot < 600; slot++ {
		l := g.list(slot, 0)
		var keep []vec.Neighbor
		for _, nb := range l[1 : 1+l[0]] {
			if nb != 2 && nb != 4 {
				keep = append(keep, vec.Neighbor{Slot: nb})
			}
		}
		g.rewriteLocked(l, 0, keep)
	}
	g.rewriteLocked(g.list(2, 0), 0, []vec.Neighbor{{Slot: 4}})
	g.rewriteLocked(g.list(4, 0), 0, []vec.Neighbor{{Slot: 2}})
	g.mu.Unlock()
	require.Error(t, g.Check())
	require.Positive(t, g.Reconnect())
	require.NoError(t, g.Check())
	require.Zero(t, g.Reconnect())
	empty := New(Config{M: 4, Metric: vec.Cosine}, vec.NewSlab(4))
	require.Zero(t, empty.Reconnect())
}

// TestReconnectCost times Reconnect on a graph with nothing to relink (the
// case after almost every batch of inserts).
func TestReconnectCost(t *testing.T) {
	n := 50000
	if testing.Short() {
		n = 5000
	}
	rows := randomRows(n, 16, 9)
	g, s := newGraph(t, Config{M: 16, EfConstruction: 40, Metric: vec.Cosine, Seed: 3}, 16)
	insertAll(g, s, seq(n), rows, 2)
	start := time.Now()
	const reps = 10
	for range reps {
		require.Zero(t, g.Reconnect())
	}
	t.Logf("Reconnect with nothing to relink on %d nodes (M=16): %v per call", n, time.Since(start)/reps)
}

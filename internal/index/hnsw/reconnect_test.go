package hnsw

import (
	"fmt"
	"slices"
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

// TestReinforceParallelBuilds: parallel builds of glove-twitter-25 leave a
// few nodes with a single layer-0 in-edge, which searches can miss even at
// ef 320 (7-10 true neighbours missed over 10 builds x 1,000 queries before
// Reinforce, 1-2 after). After Reinforce every live node but the entry point
// has minInDegree in-edges.
func TestReinforceParallelBuilds(t *testing.T) {
	builds, nq := 4, 1000
	if testing.Short() {
		builds, nq = 1, 200
	}
	d := loadData(t, "glove-twitter-25", 0, nq)
	for b := range builds {
		g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: uint64(b)}, len(d.base[0]))
		insertAll(g, s, seq(len(d.base)), d.base, 2) // Reconnect, then Reinforce
		require.NoError(t, g.Check())
		ep, _, _ := g.entry()
		for slot := range uint32(len(d.base)) {
			if slot != ep {
				require.GreaterOrEqual(t, g.indeg(slot).Load(), int32(minInDegree), "build %d slot %d", b, slot)
			}
		}
		require.Zero(t, g.Reinforce(2), "nothing left to reinforce")
	}
}

// TestReinforceWeakNode cuts a node's in-edges down to one by hand and checks
// that Reinforce gives it minInDegree again without taking an edge away from
// anyone, and that the new in-edges come from nodes near it.
func TestReinforceWeakNode(t *testing.T) {
	rows := randomRows(800, 16, 5)
	g, s := newGraph(t, Config{M: 8, EfConstruction: 60, Metric: vec.Cosine, Seed: 4}, 16)
	insertAll(g, s, seq(len(rows)), rows, 1)
	ep, _, _ := g.entry()
	weak := uint32(17)
	if weak == ep {
		weak++
	}
	g.mu.Lock()
	kept := false
	for slot := uint32(0); slot < 800; slot++ {
		l := g.list(slot, 0)
		if !slices.Contains(l[1:1+l[0]], weak) {
			continue
		}
		if !kept {
			kept = true // the one in-edge left
			continue
		}
		var keep []vec.Neighbor
		for _, nb := range l[1 : 1+l[0]] {
			if nb != weak {
				keep = append(keep, vec.Neighbor{Slot: nb})
			}
		}
		g.rewriteLocked(l, 0, keep)
	}
	g.mu.Unlock()
	require.Equal(t, int32(1), g.indeg(weak).Load())
	// Cutting the edges queued it: Reinforce looks at the queue, not at
	// every node.
	g.weak.Lock()
	require.Contains(t, g.weak.slots, weak)
	g.weak.Unlock()
	edges := func() int {
		n := 0
		for slot := uint32(0); slot < 800; slot++ {
			n += int(g.list(slot, 0)[0])
		}
		return n
	}
	sources := func() []uint32 {
		var from []uint32
		for slot := range uint32(800) {
			if l := g.list(slot, 0); slices.Contains(l[1:1+l[0]], weak) {
				from = append(from, slot)
			}
		}
		return from
	}
	before, old := edges(), sources()
	added := g.Reinforce(2)
	require.GreaterOrEqual(t, added, 1)
	require.LessOrEqual(t, added, minInDegree)
	require.Equal(t, before+added, edges(), "edges are only added")
	require.GreaterOrEqual(t, g.indeg(weak).Load(), int32(minInDegree))
	require.NoError(t, g.Check())
	// The new in-edges come from nodes among weak's 20 nearest.
	var near []vec.Neighbor
	for slot := range uint32(800) {
		if slot != weak {
			near = append(near, vec.Neighbor{Slot: slot, Dist: g.space.Dist(weak, slot)})
		}
	}
	slices.SortFunc(near, cmpNeighbor)
	for _, from := range sources() {
		if !slices.Contains(old, from) {
			require.True(t, slices.ContainsFunc(near[:20], func(n vec.Neighbor) bool { return n.Slot == from }), "new in-edge from %d, not near", from)
		}
	}
	require.Zero(t, g.Reinforce(2))
	g.weak.Lock()
	require.Empty(t, g.weak.slots, "the queue is drained")
	g.weak.Unlock()
	require.Zero(t, g.stateOf(weak)&stateWeak, "unqueued")
	require.Zero(t, New(Config{M: 4, Metric: vec.Cosine}, vec.NewSlab(4)).Reinforce(2))
}

// TestReinforceConcurrent runs Reinforce after each batch of parallel
// inserts while other goroutines search (as the engine does), for the race
// detector and the graph checker.
func TestReinforceConcurrent(t *testing.T) {
	n, dim := 3000, 16
	if testing.Short() {
		n = 1200
	}
	rows := randomRows(n, dim, 11)
	g, s := newGraph(t, Config{M: 8, EfConstruction: 40, Metric: vec.Cosine, Seed: 5}, dim)
	for i, r := range rows {
		s.Set(uint32(i), r)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			dst := make([]vec.Neighbor, 0, 10)
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				dst, _ = g.Search(rows[i%len(rows)], 10, 32, nil, dst)
			}
		})
	}
	const batch = 300
	for lo := 0; lo < n; lo += batch {
		var ins sync.WaitGroup
		for w := range 2 {
			ins.Go(func() {
				for i := lo + w; i < min(lo+batch, n); i += 2 {
					g.Insert(uint32(i))
				}
			})
		}
		ins.Wait()
		g.Reconnect()
		g.Reinforce(2)
	}
	close(stop)
	wg.Wait()
	require.NoError(t, g.Check())
	ep, _, _ := g.entry()
	weak := 0
	for slot := range uint32(n) {
		if slot != ep && g.indeg(slot).Load() < minInDegree {
			weak++
		}
	}
	require.Zero(t, weak, "nodes left with fewer than %d in-edges", minInDegree)
}

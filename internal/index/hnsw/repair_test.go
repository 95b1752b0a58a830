package hnsw

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/vec"
)

// The shared pass of Repair holds the graph only shared: a search started
// from inside it (the hook runs with the read lock held) completes before the
// pass goes on. Were the pass exclusive, the search would wait forever.
func TestRepairSearchesDuringSharedPass(t *testing.T) {
	d := loadData(t, "glove-twitter-25", 3000, 20)
	g, s := newGraph(t, Config{M: 16, EfConstruction: 100, Metric: d.metric, Seed: 3}, len(d.base[0]))
	insertAll(g, s, seq(len(d.base)), d.base, 2)
	r := rand.New(rand.NewPCG(3, 4))
	var live []uint32
	for slot := range uint32(len(d.base)) {
		if r.IntN(5) == 0 {
			require.True(t, g.Delete(slot))
		} else {
			live = append(live, slot)
		}
	}
	searched := 0
	repairBatchHook = func() {
		done := make(chan []vec.Neighbor)
		go func() {
			res, _ := g.Search(d.queries[searched%len(d.queries)], 10, 50, nil, nil)
			done <- res
		}()
		res := <-done
		require.Len(t, res, 10)
		for _, n := range res {
			require.True(t, g.Contains(n.Slot), "a tombstoned node was returned")
		}
		searched++
	}
	t.Cleanup(func() { repairBatchHook = nil })
	freed := g.Repair()
	require.Positive(t, searched)
	require.Len(t, freed, len(d.base)-len(live))
	require.NoError(t, g.Check())
	rec := recallOver(t, g, s, d.metric, live, d.queries, 10, 100, nil)
	require.GreaterOrEqual(t, rec, 0.95)
}

// Repair concurrent with searches, inserts and deletes (run it with -race):
// afterwards the graph passes its checker, holds exactly the live nodes, and
// searches find them.
func TestRepairConcurrent(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 3000
	}
	d := loadData(t, "glove-twitter-25", n, 50)
	g, s := newGraph(t, Config{M: 16, EfConstruction: 64, Metric: d.metric, Seed: 5}, len(d.base[0]))
	first := n * 2 / 3
	insertAll(g, s, seq(first), d.base[:first], 2)
	r := rand.New(rand.NewPCG(5, 6))
	deleted := map[uint32]bool{}
	for slot := range uint32(first) {
		if r.IntN(4) == 0 {
			require.True(t, g.Delete(slot))
			deleted[slot] = true
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // searches
		for i := 0; !stop.Load(); i++ {
			res, _ := g.Search(d.queries[i%len(d.queries)], 10, 40, nil, nil)
			if len(res) == 0 {
				t.Error("empty result during repair")
				return
			}
		}
	})
	var mu sync.Mutex // guards lateDeleted
	lateDeleted := map[uint32]bool{}
	wg.Go(func() { // inserts of the remaining rows, and deletes of a few new ones
		for slot := uint32(first); slot < uint32(n); slot++ {
			s.Set(slot, d.base[slot])
			g.Insert(slot)
			if slot%7 == 0 {
				if !g.Delete(slot) {
					t.Errorf("delete of new slot %d failed", slot)
				}
				mu.Lock()
				lateDeleted[slot] = true
				mu.Unlock()
			}
		}
	})
	freed := g.Repair()
	stop.Store(true)
	wg.Wait()
	for _, slot := range freed {
		require.True(t, deleted[slot] || lateDeleted[slot], "slot %d freed but never deleted", slot)
	}
	// What a concurrent delete left behind goes with the next Repair.
	g.Repair()
	require.Zero(t, g.Tombstones())
	require.NoError(t, g.Check())
	var live []uint32
	for slot := range uint32(n) {
		if !deleted[slot] && !lateDeleted[slot] {
			live = append(live, slot)
			require.True(t, g.Contains(slot), "live slot %d missing", slot)
		}
	}
	require.Equal(t, len(live), g.Len())
	rec := recallOver(t, g, s, d.metric, live, d.queries, 10, 100, nil)
	t.Logf("recall@10 after concurrent repair: %.4f", rec)
	require.GreaterOrEqual(t, rec, 0.95)
	require.True(t, slices.IsSorted(freed))
}

// Nodes inserted while Repair's shared pass runs, into slots the pass has
// already looked at, may link the tombstoned nodes it removes (construction
// links tombstones): the exclusive pass repairs them from the lists written
// meanwhile, so no edge reaches a freed slot (Check), and a node deleted
// meanwhile stays for the next Repair.
func TestRepairInsertsBehindSharedPass(t *testing.T) {
	d := loadData(t, "glove-twitter-25", 4000, 20)
	g, s := newGraph(t, Config{M: 8, EfConstruction: 64, Metric: d.metric, Seed: 9}, len(d.base[0]))
	const held = 200 // slots 0..held-1 stay empty until the pass is past them
	insertAll(g, s, seq(len(d.base))[held:], d.base[held:], 2)
	r := rand.New(rand.NewPCG(9, 10))
	dead := map[uint32]bool{}
	for slot := uint32(held); slot < uint32(len(d.base)); slot++ {
		if r.IntN(3) == 0 {
			require.True(t, g.Delete(slot))
			dead[slot] = true
		}
	}
	next := uint32(0)
	batches := 0
	repairBatchHook = func() {
		batches++
		if batches < 2 || next >= held {
			return
		}
		done := make(chan struct{})
		go func() { // the hook holds the graph shared; Insert shares it
			defer close(done)
			for end := next + held/4; next < min(end, held); next++ {
				s.Set(next, d.base[next])
				g.Insert(next)
			}
			g.Delete(next - 1) // deleted meanwhile: not removed by this Repair
		}()
		<-done
	}
	t.Cleanup(func() { repairBatchHook = nil })
	freed := g.Repair()
	repairBatchHook = nil
	require.Equal(t, uint32(held), next, "the pass ran out of batches before the inserts")
	require.Len(t, freed, len(dead))
	for _, slot := range freed {
		require.True(t, dead[slot])
	}
	require.NoError(t, g.Check())
	require.Equal(t, 4, g.Tombstones())
	require.Len(t, g.Repair(), 4)
	require.NoError(t, g.Check())
}

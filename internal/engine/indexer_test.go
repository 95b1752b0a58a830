package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

// pauseIndexer makes the indexer wait, after taking each batch, until the
// returned release is called (once per batch); stop lets it run freely.
func pauseIndexer(t *testing.T) (taken <-chan struct{}, release func(), stop func()) {
	t.Helper()
	tk, rel := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	indexBatchHook = func() {
		select {
		case tk <- struct{}{}:
		case <-done:
			return
		}
		select {
		case <-rel:
		case <-done:
		}
	}
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			close(done)
		}
	}
	t.Cleanup(func() { stop(); indexBatchHook = nil })
	return tk, func() { rel <- struct{}{} }, stop
}

// exactIDs returns the ids of the k nearest live records, by brute force.
func exactIDs(t *testing.T, c *Collection, q []float32, k int) []string {
	t.Helper()
	hits, _, err := c.Search(context.Background(), SearchRequest{Vector: q, K: k, ForcePlan: PlanExact})
	require.NoError(t, err)
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

func hitIDs(hits []Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

// TestIndexerPendingTail holds the indexer mid-batch and checks that graph
// queries stay complete and exact-k (the pending records are scanned), that
// records deleted while they are being linked, or while queued, never come
// back, and that the watermark trails the applied index until the indexer
// has caught up.
func TestIndexerPendingTail(t *testing.T) {
	taken, release, stop := pauseIndexer(t)
	c, err := Open(Options{FS: vfs.NewMem(), Dir: "/c", Workers: 2},
		Config{Dim: testDim, Metric: vec.L2, M: 8, EfConstruction: 60, EfSearch: 200, ExactThreshold: 100})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	for b := range 4 {
		addBatch(t, c, b, 100) // crosses the threshold: the graph is created, every record pending
	}
	<-taken // the indexer holds its first batch inflight
	st := c.Stats()
	require.Equal(t, "building", st.Mode)
	require.Equal(t, 400, st.Unindexed)
	require.Less(t, st.IndexedThrough, st.Applied)

	// Delete records that are inflight and records that are queued.
	var gone []string
	for i := 0; i < 100; i += 7 {
		gone = append(gone, testID(0, i), testID(3, i))
	}
	n, err := c.Delete(gone)
	require.NoError(t, err)
	require.Equal(t, len(gone), n)
	deleted := map[string]bool{}
	for _, id := range gone {
		deleted[id] = true
	}
	r := rand.New(rand.NewPCG(3, 3))
	check := func(what string) {
		t.Helper()
		for range 20 {
			q := testVec(1000+r.IntN(1000), r.IntN(100))
			hits, plan, err := c.Search(context.Background(), SearchRequest{Vector: q, K: 10, ForcePlan: PlanHNSW})
			require.NoError(t, err)
			require.Equal(t, PlanHNSW, plan.Kind, what)
			require.Len(t, hits, 10, what)
			for _, h := range hits {
				require.False(t, deleted[h.ID], "%s: deleted record %s returned", what, h.ID)
			}
			want := exactIDs(t, c, q, 10)
			require.ElementsMatch(t, want, hitIDs(hits), "%s: nothing is linked yet, the results are the exact scan's", what)
		}
	}
	check("first batch inflight")
	release()
	addBatch(t, c, 4, 50)
	<-taken // a second batch (these 50): the first is linked now
	for range 20 {
		q := testVec(2000+r.IntN(1000), r.IntN(100))
		hits, _, err := c.Search(context.Background(), SearchRequest{Vector: q, K: 10, ForcePlan: PlanHNSW})
		require.NoError(t, err)
		require.Len(t, hits, 10)
		for _, h := range hits {
			require.False(t, deleted[h.ID], "deleted record %s returned", h.ID)
		}
	}
	stop()
	c.WaitIndexed()
	require.NoError(t, c.Verify())
	st = c.Stats()
	require.Equal(t, "hnsw", st.Mode)
	require.Zero(t, st.Unindexed)
	require.Equal(t, st.Applied, st.IndexedThrough)
	require.Equal(t, 450-len(gone), st.Live)
	require.GreaterOrEqual(t, st.Tombstones, 1, "the inflight records deleted are tombstoned once linked")
	// Recall of the graph alone, now that everything is linked.
	found, total := 0, 0
	for range 50 {
		q := testVec(3000+r.IntN(1000), r.IntN(100))
		want := exactIDs(t, c, q, 10)
		hits, _, err := c.Search(context.Background(), SearchRequest{Vector: q, K: 10, ForcePlan: PlanHNSW})
		require.NoError(t, err)
		got := map[string]bool{}
		for _, h := range hits {
			got[h.ID] = true
		}
		for _, id := range want {
			if got[id] {
				found++
			}
			total++
		}
	}
	require.GreaterOrEqual(t, float64(found)/float64(total), 0.97, "recall@10 of the built graph")
}

// TestIndexerOffWritePath: writes are acknowledged while the indexer is
// stuck, and a reopen (checkpoint + replay) queues the unlinked records
// again instead of inserting them during Open.
func TestIndexerOffWritePath(t *testing.T) {
	taken, _, stop := pauseIndexer(t)
	mem := vfs.NewMem()
	open := func() *Collection {
		c, err := Open(Options{FS: mem, Dir: "/c", Workers: 2},
			Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 80, ExactThreshold: 50})
		require.NoError(t, err)
		return c
	}
	c := open()
	addBatch(t, c, 0, 100)
	<-taken
	for b := 1; b < 10; b++ {
		addBatch(t, c, b, 100) // the indexer is stuck: writes go on
	}
	require.NoError(t, c.Checkpoint())
	addBatch(t, c, 10, 100)
	require.Equal(t, 1100, c.Stats().Unindexed)
	stop()
	require.NoError(t, c.Close())

	c = open()
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.Equal(t, 1100, c.Count())
	c.WaitIndexed()
	require.NoError(t, c.Verify())
	st := c.Stats()
	require.Zero(t, st.Unindexed, fmt.Sprintf("%+v", st))
	require.Equal(t, 1100, st.Live)
}

// TestDeletedWhileLinked: a record deleted after the indexer has linked it
// but before the batch is done is a live node of the graph for a while,
// with nothing else pending; queries must not return it (nor an empty id).
func TestDeletedWhileLinked(t *testing.T) {
	c, err := Open(Options{FS: vfs.NewMem(), Dir: "/c", Workers: 1},
		Config{Dim: testDim, Metric: vec.L2, M: 8, EfConstruction: 40, EfSearch: 80, ExactThreshold: 10})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	addBatch(t, c, 0, 100)
	c.WaitIndexed()
	taken, linked, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	indexBatchHook = func() {
		taken <- struct{}{}
		<-release
	}
	indexLinkedHook = func() {
		linked <- struct{}{}
		<-release
	}
	var once sync.Once
	unblock := func() {
		indexBatchHook, indexLinkedHook = nil, nil
		once.Do(func() { close(release) })
	}
	t.Cleanup(unblock) // before the collection's Close (cleanups run last first)
	addBatch(t, c, 1, 1)
	<-taken // inflight, not linked yet: the delete cannot tombstone it
	n, err := c.Delete([]string{testID(1, 0)})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	release <- struct{}{}
	<-linked // linked now, a live node of the graph, its record gone
	st := c.Stats()
	require.Zero(t, st.Unindexed)
	require.Less(t, st.IndexedThrough, st.Applied, "the batch being linked is not indexed yet")
	hits, _, err := c.Search(context.Background(), SearchRequest{Vector: testVec(1, 0), K: 10, ForcePlan: PlanHNSW})
	require.NoError(t, err)
	require.Len(t, hits, 10)
	for _, h := range hits {
		require.NotEmpty(t, h.ID)
		require.NotEqual(t, testID(1, 0), h.ID, "a deleted record was returned")
	}
	unblock()
	c.WaitIndexed()
	require.NoError(t, c.Verify())
	st = c.Stats()
	require.Equal(t, st.Applied, st.IndexedThrough)
	require.Equal(t, 1, st.Tombstones)
}

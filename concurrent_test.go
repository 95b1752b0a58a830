package sextant

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConcurrentWritesQueriesAndBuild runs writers, deleters and queries at
// once while the collection crosses the exact-search threshold, so that the
// background HNSW build, graph repair and checkpoints happen under load. Run
// under -race in CI.
func TestConcurrentWritesQueriesAndBuild(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 2500
	}
	ds := loadDataset(t, "glove-twitter-25", n)
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: 800, CheckpointBytes: 256 << 10})
	defer closeTest(t, db)
	c, err := db.Default().CreateCollection("busy", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)

	const writers = 3
	var wg sync.WaitGroup
	var stop atomic.Bool
	var queries atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers * 50 {
				var recs []Record
				for j := i; j < min(i+writers*50, n); j += writers {
					recs = append(recs, Record{ID: strconv.Itoa(j), Embedding: ds.Base[j], Metadata: Metadata{"w": w}})
				}
				if err := c.Add(ctx, recs); err != nil {
					t.Error(err)
					return
				}
				// Delete and re-add a few, to churn tombstones and repair.
				ids := []string{recs[0].ID, recs[len(recs)-1].ID}
				if _, err := c.Delete(ctx, ids); err != nil {
					t.Error(err)
					return
				}
				if err := c.Upsert(ctx, []Record{recs[0], recs[len(recs)-1]}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var qwg sync.WaitGroup
	for r := 0; r < 2; r++ {
		qwg.Add(1)
		go func() {
			defer qwg.Done()
			for i := 0; !stop.Load(); i++ {
				q := ds.Queries[i%len(ds.Queries)]
				// Records only grow, except for the delete-and-re-add of at
				// most 2 per writer in flight: at least this many exist
				// throughout the query.
				before, _ := c.Count(ctx)
				res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: 10})
				if err != nil {
					t.Error(err)
					return
				}
				if want := min(10, before-2*writers); len(res.IDs[0]) < want {
					t.Errorf("query returned %d results with at least %d records", len(res.IDs[0]), want)
					return
				}
				if _, err := c.Get(ctx, GetOptions{Limit: 5, Offset: i % 100}); err != nil {
					t.Error(err)
					return
				}
				queries.Add(1)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	qwg.Wait()
	require.NoError(t, c.WaitIndexed())
	cnt, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, n, cnt)
	require.NoError(t, c.Verify())
	st, err := c.Stats()
	require.NoError(t, err)
	require.Equal(t, "hnsw", st.Mode)
	t.Logf("%d queries ran during the writes; stats %+v", queries.Load(), st)
}

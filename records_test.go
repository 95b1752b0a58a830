package sextant

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

func newColl(t *testing.T, cfg *CollectionConfig) (*DB, *Collection) {
	t.Helper()
	db := openTest(t, t.TempDir(), nil)
	t.Cleanup(func() { closeTest(t, db) })
	c, err := db.Default().CreateCollection("records", cfg)
	require.NoError(t, err)
	return db, c
}

// snapshot returns everything a collection holds, to compare before and
// after a refused batch.
func snapshot(t *testing.T, c *Collection) *GetResult {
	t.Helper()
	r, err := c.Get(ctx, GetOptions{Include: IncludeEmbeddings | IncludeMetadatas | IncludeDocuments})
	require.NoError(t, err)
	return r
}

func TestAddGetUpdateDelete(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: L2})
	require.NoError(t, c.Add(ctx, []Record{
		{ID: "a", Embedding: []float32{1, 0, 0}, Metadata: Metadata{"n": 1, "tags": []any{"x", "y"}}, Document: Str("alpha")},
		{ID: "b", Embedding: []float32{0, 1, 0}, Metadata: Metadata{"n": 2.5}},
		{ID: "c", Embedding: []float32{0, 0, 1}},
	}))
	n, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, 3, c.Config().Dimension, "the first write fixes the dimension")

	r, err := c.Get(ctx, GetOptions{IDs: []string{"c", "zz", "a"}, Include: IncludeEmbeddings | IncludeMetadatas | IncludeDocuments})
	require.NoError(t, err)
	require.Equal(t, []string{"c", "a"}, r.IDs)
	require.Equal(t, []float32{1, 0, 0}, r.Embeddings[1])
	require.Equal(t, int64(1), r.Metadatas[1]["n"])
	require.Equal(t, []string{"x", "y"}, r.Metadatas[1]["tags"])
	require.Equal(t, "alpha", *r.Documents[1])
	require.Nil(t, r.Documents[0])

	// Default include: metadatas and documents, no embeddings.
	r, err = c.Get(ctx, GetOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, r.IDs)
	require.Nil(t, r.Embeddings)
	require.NotNil(t, r.Metadatas)

	// Paging in insertion order: disjoint pages covering everything.
	r, err = c.Get(ctx, GetOptions{Limit: 2, Offset: 1, Include: IncludeNone})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, r.IDs)

	// Partial update: metadata merge + key removal, document, vector.
	require.NoError(t, c.Update(ctx, []UpdateRecord{
		{ID: "a", Metadata: Metadata{"n": nil, "m": "new"}},
		{ID: "b", Document: Str("beta")},
		{ID: "c", Embedding: []float32{0, 0, 2}},
	}))
	r, err = c.Get(ctx, GetOptions{Include: IncludeEmbeddings | IncludeMetadatas | IncludeDocuments})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, r.IDs, "updates keep the insertion order")
	require.Equal(t, Metadata{"m": "new", "tags": []string{"x", "y"}}, r.Metadatas[0])
	require.Equal(t, "alpha", *r.Documents[0])
	require.Equal(t, "beta", *r.Documents[1])
	require.Equal(t, 2.5, r.Metadatas[1]["n"])
	require.Equal(t, []float32{0, 0, 2}, r.Embeddings[2])

	// Upsert replaces and inserts.
	require.NoError(t, c.Upsert(ctx, []Record{
		{ID: "a", Embedding: []float32{1, 1, 0}},
		{ID: "d", Embedding: []float32{1, 1, 1}},
	}))
	r, err = c.Get(ctx, GetOptions{IDs: []string{"a"}, Include: IncludeEmbeddings | IncludeMetadatas | IncludeDocuments})
	require.NoError(t, err)
	require.Equal(t, []float32{1, 1, 0}, r.Embeddings[0])
	require.Nil(t, r.Metadatas[0], "upsert replaces the whole record")
	require.Nil(t, r.Documents[0])

	q, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{{1, 1, 0.2}}, K: 2, Explain: true})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "d"}, q.IDs[0])
	require.InDelta(t, 0.04, q.Distances[0][0], 1e-6)
	require.InDelta(t, 0.64, q.Distances[0][1], 1e-6, "l2 is squared euclidean")
	require.Equal(t, "exact", q.Plans[0].Kind)

	deleted, err := c.Delete(ctx, []string{"a", "zz", "a", "c"})
	require.NoError(t, err)
	require.Equal(t, 2, deleted)
	n, err = c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	q, err = c.Query(ctx, QueryOptions{Embeddings: [][]float32{{1, 1, 0.2}}, K: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"d", "b"}, q.IDs[0], "k above the count returns every record")
}

func TestDistancesMatchChroma(t *testing.T) {
	for _, tc := range []struct {
		metric Metric
		want   float64
	}{
		// a = (3, 4), q = (4, 3): cos = 24/25, dot = 24, |a−q|² = 2.
		{Cosine, 1 - 24.0/25.0},
		{L2, 2},
		{IP, 1 - 24},
	} {
		t.Run(string(tc.metric), func(t *testing.T) {
			_, c := newColl(t, &CollectionConfig{Metric: tc.metric})
			require.NoError(t, c.Add(ctx, []Record{{ID: "a", Embedding: []float32{3, 4}}}))
			q, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{{4, 3}}, K: 1})
			require.NoError(t, err)
			require.InDelta(t, tc.want, q.Distances[0][0], 1e-5)
		})
	}
}

func TestCosineGetReturnsVectorAsGiven(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: Cosine})
	v := []float32{3, -4, 12.5, 0.001}
	require.NoError(t, c.Add(ctx, []Record{{ID: "a", Embedding: v}}))
	r, err := c.Get(ctx, GetOptions{IDs: []string{"a"}, Include: IncludeEmbeddings})
	require.NoError(t, err)
	for i := range v {
		require.InEpsilon(t, v[i], r.Embeddings[0][i], 1e-6)
	}
}

// TestInvalidInputLeavesCollectionUnchanged checks every refused batch: the
// error is typed, names the record, and nothing of the batch is applied.
func TestInvalidInputLeavesCollectionUnchanged(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: Cosine, Dimension: 3})
	require.NoError(t, c.Add(ctx, []Record{
		{ID: "a", Embedding: []float32{1, 0, 0}, Metadata: Metadata{"k": "v"}},
		{ID: "b", Embedding: []float32{0, 1, 0}},
	}))
	before := snapshot(t, c)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	good := []float32{1, 1, 1}
	for _, tc := range []struct {
		name     string
		run      func() error
		sentinel error
		id       string
	}{
		{"add wrong dimension", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "n2", Embedding: []float32{1, 2}}})
		}, ErrDimensionMismatch, "n2"},
		{"add NaN", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "n3", Embedding: []float32{1, nan, 0}}})
		}, ErrInvalidVector, "n3"},
		{"add Inf", func() error {
			return c.Add(ctx, []Record{{ID: "n4", Embedding: []float32{inf, 0, 0}}, {ID: "n1", Embedding: good}})
		}, ErrInvalidVector, "n4"},
		{"add zero vector under cosine", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "z", Embedding: []float32{0, 0, 0}}})
		}, ErrInvalidVector, "z"},
		{"add missing embedding", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "e"}})
		}, ErrInvalidVector, "e"},
		{"add existing id", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "a", Embedding: good}})
		}, ErrAlreadyExists, "a"},
		{"add duplicate in batch", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "n1", Embedding: good}})
		}, ErrDuplicateID, "n1"},
		{"add bad metadata", func() error {
			return c.Add(ctx, []Record{{ID: "n1", Embedding: good}, {ID: "m", Embedding: good, Metadata: Metadata{"x": struct{}{}}}})
		}, ErrInvalidMetadata, "m"},
		{"add empty list metadata", func() error {
			return c.Add(ctx, []Record{{ID: "m2", Embedding: good, Metadata: Metadata{"x": []any{}}}})
		}, ErrInvalidMetadata, "m2"},
		{"upsert NaN", func() error {
			return c.Upsert(ctx, []Record{{ID: "a", Embedding: good}, {ID: "u", Embedding: []float32{nan, 0, 0}}})
		}, ErrInvalidVector, "u"},
		{"update missing id", func() error {
			return c.Update(ctx, []UpdateRecord{{ID: "a", Document: Str("changed")}, {ID: "ghost", Document: Str("x")}})
		}, ErrNotFound, "ghost"},
		{"update wrong dimension", func() error {
			return c.Update(ctx, []UpdateRecord{{ID: "a", Document: Str("changed")}, {ID: "b", Embedding: []float32{1}}})
		}, ErrDimensionMismatch, "b"},
		{"update zero vector", func() error {
			return c.Update(ctx, []UpdateRecord{{ID: "b", Embedding: []float32{0, 0, 0}}})
		}, ErrInvalidVector, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			require.ErrorIs(t, err, tc.sentinel)
			var re *RecordError
			require.True(t, errors.As(err, &re), "want a *RecordError, got %T: %v", err, err)
			require.Equal(t, tc.id, re.ID)
			require.Contains(t, err.Error(), fmt.Sprintf("%q", tc.id))
			require.Equal(t, before, snapshot(t, c), "a refused batch must change nothing")
		})
	}
	for _, tc := range []struct {
		name     string
		q        []float32
		sentinel error
	}{
		{"query wrong dimension", []float32{1, 2}, ErrDimensionMismatch},
		{"query NaN", []float32{nan, 1, 1}, ErrInvalidVector},
		{"query zero under cosine", []float32{0, 0, 0}, ErrInvalidVector},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{{1, 1, 1}, tc.q}, K: 1})
			require.ErrorIs(t, err, tc.sentinel)
			require.Contains(t, err.Error(), "query 1")
		})
	}
	_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{good}, K: -1})
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestDimensionFixedByFirstWriteSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, nil)
	c, err := db.Default().CreateCollection("dims", nil)
	require.NoError(t, err)
	require.NoError(t, c.Add(ctx, []Record{{ID: "a", Embedding: []float32{1, 2, 3, 4}}}))
	closeTest(t, db)
	db = openTest(t, dir, nil)
	defer closeTest(t, db)
	c, err = db.Default().GetCollection("dims")
	require.NoError(t, err)
	require.Equal(t, 4, c.Config().Dimension)
	err = c.Add(ctx, []Record{{ID: "b", Embedding: []float32{1, 2, 3}}})
	require.ErrorIs(t, err, ErrDimensionMismatch)
	_, err = db.Default().GetOrCreateCollection("dims", &CollectionConfig{Dimension: 5})
	require.ErrorIs(t, err, ErrConfigConflict)
}

// TestChromaWriteSemantics: Chroma's quiet add, update that ignores missing
// ids, and upsert that merges — each one atomic batch.
func TestChromaWriteSemantics(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: L2})
	require.NoError(t, c.Add(ctx, []Record{{ID: "a", Embedding: []float32{1, 0}, Metadata: Metadata{"x": 1, "y": "keep"}, Document: Str("doc a")}}))
	n, err := c.AddSkipExisting(ctx, []Record{{ID: "a", Embedding: []float32{9, 9}}, {ID: "b", Embedding: []float32{0, 1}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r, err := c.Get(ctx, GetOptions{IDs: []string{"a"}, Include: IncludeEmbeddings})
	require.NoError(t, err)
	require.Equal(t, []float32{1, 0}, r.Embeddings[0], "an existing id is skipped, not replaced")
	// Still validated whole: a bad vector refuses everything.
	_, err = c.AddSkipExisting(ctx, []Record{{ID: "c", Embedding: []float32{1, 1}}, {ID: "a", Embedding: []float32{1}}})
	require.ErrorIs(t, err, ErrDimensionMismatch)

	n, err = c.UpdateIgnoreMissing(ctx, []UpdateRecord{{ID: "ghost", Document: Str("x")}, {ID: "b", Document: Str("doc b")}})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	require.NoError(t, c.UpsertMerge(ctx, []UpdateRecord{
		{ID: "a", Metadata: Metadata{"x": 2, "z": true}},
		{ID: "n", Embedding: []float32{5, 5}, Metadata: Metadata{"new": 1}},
	}))
	r, err = c.Get(ctx, GetOptions{IDs: []string{"a", "b", "n"}, Include: IncludeEmbeddings | IncludeMetadatas | IncludeDocuments})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "n"}, r.IDs)
	require.Equal(t, Metadata{"x": int64(2), "y": "keep", "z": true}, r.Metadatas[0])
	require.Equal(t, "doc a", *r.Documents[0])
	require.Equal(t, []float32{1, 0}, r.Embeddings[0])
	require.Equal(t, "doc b", *r.Documents[1])
	require.Equal(t, []float32{5, 5}, r.Embeddings[2])
	err = c.UpsertMerge(ctx, []UpdateRecord{{ID: "a", Document: Str("changed")}, {ID: "m"}})
	require.ErrorIs(t, err, ErrInvalidVector, "a new record needs an embedding")
	r, err = c.Get(ctx, GetOptions{IDs: []string{"a"}})
	require.NoError(t, err)
	require.Equal(t, "doc a", *r.Documents[0], "the refused batch changed nothing")
}

// TestIDLength: ids are limited to MaxIDBytes. A longer one refuses a write
// batch whole with a *RecordError naming the index and the length, and a
// read or delete naming one with ErrInvalidArgument; exactly MaxIDBytes is
// accepted.
func TestIDLength(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: L2, Dimension: 2})
	longest := strings.Repeat("x", MaxIDBytes)
	require.NoError(t, c.Add(ctx, []Record{{ID: "a", Embedding: []float32{1, 0}}, {ID: longest, Embedding: []float32{0, 1}}}))
	r, err := c.Get(ctx, GetOptions{IDs: []string{longest}, Include: IncludeNone})
	require.NoError(t, err)
	require.Equal(t, []string{longest}, r.IDs)
	before := snapshot(t, c)

	tooLong := strings.Repeat("é", MaxIDBytes/2) + "z" // 4097 bytes
	good := []float32{1, 1}
	const reason = "id is 4097 bytes long, over the limit of 4096 bytes"
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Add", func() error { return c.Add(ctx, []Record{{ID: "n", Embedding: good}, {ID: tooLong, Embedding: good}}) }},
		{"AddSkipExisting", func() error {
			_, err := c.AddSkipExisting(ctx, []Record{{ID: "n", Embedding: good}, {ID: tooLong, Embedding: good}})
			return err
		}},
		{"Upsert", func() error {
			return c.Upsert(ctx, []Record{{ID: "a", Embedding: good}, {ID: tooLong, Embedding: good}})
		}},
		{"Update", func() error {
			return c.Update(ctx, []UpdateRecord{{ID: "a", Document: Str("x")}, {ID: tooLong, Document: Str("x")}})
		}},
		{"UpdateIgnoreMissing", func() error {
			_, err := c.UpdateIgnoreMissing(ctx, []UpdateRecord{{ID: "a", Document: Str("x")}, {ID: tooLong, Document: Str("x")}})
			return err
		}},
		{"UpsertMerge", func() error {
			return c.UpsertMerge(ctx, []UpdateRecord{{ID: "a", Document: Str("x")}, {ID: tooLong, Embedding: good}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.ErrorIs(t, err, ErrInvalidArgument)
			var re *RecordError
			require.True(t, errors.As(err, &re), "want a *RecordError, got %T: %v", err, err)
			require.Equal(t, 1, re.Index)
			require.Equal(t, tooLong, re.ID)
			require.Contains(t, err.Error(), "(batch index 1): "+reason)
			require.Less(t, len(err.Error()), 300, "the message quotes a cut id")
			require.Equal(t, before, snapshot(t, c), "a refused batch must change nothing")
		})
	}
	const readMsg = "ids[1] is 4097 bytes long, over the limit of 4096 bytes (MaxIDBytes), so no record can have it"
	ids := []string{"a", tooLong}
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Get", func() error { _, err := c.Get(ctx, GetOptions{IDs: ids}); return err }},
		{"Query", func() error {
			_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{good}, IDs: ids})
			return err
		}},
		{"Delete", func() error { _, err := c.Delete(ctx, ids); return err }},
		{"DeleteWhere", func() error { _, err := c.DeleteWhere(ctx, DeleteOptions{IDs: ids}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Contains(t, err.Error(), readMsg)
			require.Equal(t, before, snapshot(t, c), "a refused delete must change nothing")
		})
	}
}

package sextant

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/testutil"
)

// filteredFixture is a collection of real vectors with synthetic metadata:
// u is uniform in [0, 1000), so {"u": {"$lt": 1000p}} matches a fraction p;
// side says whether the vector's first component is positive, a filter
// correlated with the vectors (the hard case for post-filtering).
type filteredFixture struct {
	ds   *testutil.Dataset
	u    []int
	side []string
	c    *Collection
}

func newFilteredFixture(t *testing.T, name string, n int, threshold int) *filteredFixture {
	t.Helper()
	ds := loadDataset(t, name, n)
	rng := rand.New(rand.NewPCG(9, 9))
	f := &filteredFixture{ds: ds, u: make([]int, len(ds.Base)), side: make([]string, len(ds.Base))}
	db := openTest(t, t.TempDir(), &Options{ExactThreshold: threshold})
	t.Cleanup(func() { closeTest(t, db) })
	c, err := db.Default().CreateCollection("filtered", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)
	recs := make([]Record, 0, 1000)
	for i, v := range ds.Base {
		f.u[i] = rng.IntN(1000)
		f.side[i] = "neg"
		if v[0] > 0 {
			f.side[i] = "pos"
		}
		recs = append(recs, Record{ID: "r" + strconv.Itoa(i), Embedding: v,
			Metadata: Metadata{"u": f.u[i], "side": f.side[i], "tags": []any{"t" + strconv.Itoa(i%7), "all"}},
			Document: Str(fmt.Sprintf("record %d of side %s", i, f.side[i]))})
		if len(recs) == cap(recs) || i == len(ds.Base)-1 {
			require.NoError(t, c.Add(ctx, recs))
			recs = recs[:0]
		}
	}
	require.NoError(t, c.WaitIndexed())
	f.c = c
	return f
}

// check runs nq queries with the filter and asserts the contract: exactly
// min(k, matches) results, all matching; it returns mean recall@k against
// exact filtered search and the plans used.
func (f *filteredFixture) check(t *testing.T, where Where, match func(row int) bool, nq, k int) (float64, map[string]int, int) {
	t.Helper()
	var rows []int
	for i := range f.ds.Base {
		if match(i) {
			rows = append(rows, i)
		}
	}
	plans := map[string]int{}
	recall := 0.0
	for qi := 0; qi < nq; qi++ {
		q := f.ds.Queries[qi]
		res, err := f.c.Query(ctx, QueryOptions{Embeddings: [][]float32{q}, K: k, Where: where, Include: IncludeNone, Explain: true})
		require.NoError(t, err)
		plan := res.Plans[0]
		require.Equal(t, len(rows), plan.Matches, "match count comes exactly from the indexes")
		plans[plan.Kind]++
		require.Len(t, res.IDs[0], min(k, len(rows)), "%v: plan %+v", where, plan)
		got := make([]int, len(res.IDs[0]))
		for i, id := range res.IDs[0] {
			got[i] = idRow(t, id)
			require.True(t, match(got[i]), "result %s does not match %v", id, where)
		}
		if len(rows) > 0 {
			truth := exactTopK(Cosine, f.ds.Base, rows, q, k)
			recall += testutil.RecallAtK(got, truth, len(truth))
		}
	}
	return recall / float64(nq), plans, len(rows)
}

// TestFilteredQueryContract: at every selectivity, a filtered query returns
// exactly k results whenever k records match, all of them matching, with
// recall against exact filtered search at the target.
func TestFilteredQueryContract(t *testing.T) {
	name, n, nq := "wordnet-use512", 0, 100
	if testing.Short() {
		name, n, nq = "glove-twitter-25", 4000, 30
	}
	f := newFilteredFixture(t, name, n, 1000)
	for _, p := range []float64{0.001, 0.005, 0.02, 0.1, 0.15, 0.25, 0.4, 0.7, 1} {
		lim := int(p * 1000)
		where := Where{"u": Where{"$lt": lim}}
		recall, plans, m := f.check(t, where, func(r int) bool { return f.u[r] < lim }, nq, 10)
		t.Logf("selectivity %.3f: %d matches, plans %v, recall@10 %.4f", p, m, plans, recall)
		require.GreaterOrEqual(t, recall, 0.95, "selectivity %v", p)
	}
	// Correlated with the vectors, and combined with $and / $contains.
	for _, tc := range []struct {
		where Where
		match func(int) bool
	}{
		{Where{"side": "neg"}, func(r int) bool { return f.side[r] == "neg" }},
		{Where{"$and": []any{Where{"side": "pos"}, Where{"u": Where{"$gte": 900}}}}, func(r int) bool { return f.side[r] == "pos" && f.u[r] >= 900 }},
		{Where{"tags": Where{"$contains": "t3"}}, func(r int) bool { return r%7 == 3 }},
		{Where{"$or": []any{Where{"u": Where{"$lt": 5}}, Where{"u": Where{"$gt": 994}}}}, func(r int) bool { return f.u[r] < 5 || f.u[r] > 994 }},
		{Where{"u": Where{"$lt": 0}}, func(int) bool { return false }},
	} {
		recall, plans, m := f.check(t, tc.where, tc.match, nq, 10)
		t.Logf("%v: %d matches, plans %v, recall@10 %.4f", tc.where, m, plans, recall)
		if m > 0 {
			require.GreaterOrEqual(t, recall, 0.95)
		}
	}
}

func TestFilteredGetAndDelete(t *testing.T) {
	f := newFilteredFixture(t, "glove-twitter-25", 3000, 1000)
	c := f.c
	where := Where{"u": Where{"$lt": 100}}
	var want []string
	for i := range f.ds.Base {
		if f.u[i] < 100 {
			want = append(want, "r"+strconv.Itoa(i))
		}
	}
	// Pages are disjoint, in a stable order, and cover every match once.
	var got []string
	for off := 0; ; off += 37 {
		r, err := c.Get(ctx, GetOptions{Where: where, Limit: 37, Offset: off, Include: IncludeMetadatas})
		require.NoError(t, err)
		for i, id := range r.IDs {
			require.Less(t, r.Metadatas[i]["u"], int64(100))
			got = append(got, id)
		}
		if len(r.IDs) < 37 {
			break
		}
	}
	require.Equal(t, want, got)

	// Document filter, and where + ids.
	r, err := c.Get(ctx, GetOptions{WhereDocument: Where{"$contains": "record 12 of"}, Include: IncludeDocuments})
	require.NoError(t, err)
	require.Equal(t, []string{"r12"}, r.IDs)
	r, err = c.Get(ctx, GetOptions{IDs: []string{"r1", "r2", "r3"}, Where: Where{"side": f.side[2]}})
	require.NoError(t, err)
	require.Contains(t, r.IDs, "r2")

	// The post-mortem fix: delete by filter, returning the count.
	n, err := c.DeleteWhere(ctx, DeleteOptions{Where: where})
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	cnt, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, len(f.ds.Base)-len(want), cnt)
	r, err = c.Get(ctx, GetOptions{Where: where})
	require.NoError(t, err)
	require.Empty(t, r.IDs)
	res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{f.ds.Queries[0]}, K: 10, Where: Where{"u": Where{"$lt": 150}}})
	require.NoError(t, err)
	for _, id := range res.IDs[0] {
		require.False(t, slices.Contains(want, id), "deleted %s returned", id)
	}
	require.NoError(t, c.Verify())
}

func TestInvalidFilters(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: L2})
	require.NoError(t, c.Add(ctx, []Record{{ID: "a", Embedding: []float32{1, 2}, Metadata: Metadata{"price": 3}}}))
	for _, tc := range []struct {
		where, doc Where
		msg        string
	}{
		{Where{"$and": []any{Where{"a": 1}, Where{"price": Where{"$gt": "x"}}}}, nil, "where.$and[1].price"},
		{Where{"price": Where{"$eqq": 1}}, nil, "$eqq"},
		{Where{"$and": []any{}}, nil, "$and"},
		{nil, Where{"$regex": "("}, "where_document"},
		{nil, Where{"$contains": ""}, `where_document.$contains: "" is an empty pattern, which matches every record with a document`},
		{nil, Where{"$or": []any{Where{"$contains": "a"}, Where{"$not_contains": ""}}}, `where_document.$or[1].$not_contains: "" is an empty pattern`},
		{Where{"#document": Where{"$contains": ""}}, nil, `where.#document.$contains: "" is an empty pattern`},
	} {
		_, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{{1, 2}}, Where: tc.where, WhereDocument: tc.doc})
		require.ErrorIs(t, err, ErrInvalidFilter)
		require.Contains(t, err.Error(), tc.msg)
		_, err = c.Get(ctx, GetOptions{Where: tc.where, WhereDocument: tc.doc})
		require.ErrorIs(t, err, ErrInvalidFilter)
		_, err = c.DeleteWhere(ctx, DeleteOptions{Where: tc.where, WhereDocument: tc.doc})
		require.ErrorIs(t, err, ErrInvalidFilter)
	}
	// An empty filter is no filter: Get and Query see every record, and a
	// delete with nothing else is refused.
	r, err := c.Get(ctx, GetOptions{Where: Where{}, WhereDocument: Where{}})
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, r.IDs)
	q, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{{1, 2}}, Where: Where{}, WhereDocument: Where{}})
	require.NoError(t, err)
	require.Equal(t, [][]string{{"a"}}, q.IDs)
	for _, opts := range []DeleteOptions{{}, {Where: Where{}}, {WhereDocument: Where{}}, {Where: Where{}, WhereDocument: Where{}}} {
		_, err = c.DeleteWhere(ctx, opts)
		require.ErrorIs(t, err, ErrInvalidArgument, "%+v", opts)
		require.Contains(t, err.Error(), "delete needs ids or a non-empty filter")
	}
	n, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestFilterIndexesSurviveReopen: the payload indexes are persisted with
// checkpoints and brought up to date by WAL replay, exactly.
func TestFilterIndexesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, &Options{ExactThreshold: 200})
	c, err := db.Default().CreateCollection("reopen", &CollectionConfig{Metric: L2, UnindexedKeys: []string{"raw"}})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	add := func(from, to int) {
		var recs []Record
		for i := from; i < to; i++ {
			recs = append(recs, Record{ID: strconv.Itoa(i), Embedding: []float32{rng.Float32(), rng.Float32(), rng.Float32()},
				Metadata: Metadata{"g": i % 10, "raw": i % 3}, Document: Str("doc " + strconv.Itoa(i))})
		}
		require.NoError(t, c.Add(ctx, recs))
	}
	add(0, 500)
	require.NoError(t, c.Checkpoint())
	st, err := c.Stats()
	require.NoError(t, err)
	require.Equal(t, int64(1), st.Checkpoints)
	require.Greater(t, st.LastCheckpointSecs, 0.0)
	add(500, 800) // in the WAL only
	require.NoError(t, c.Update(ctx, []UpdateRecord{{ID: "3", Metadata: Metadata{"g": 99}}}))
	_, err = c.Delete(ctx, []string{"13", "23"})
	require.NoError(t, err)
	counts := func(c *Collection) []int {
		var out []int
		for _, w := range []Where{{"g": 3}, {"g": 99}, {"raw": 1}, {"g": Where{"$gte": 8}}} {
			r, err := c.Get(ctx, GetOptions{Where: w, Include: IncludeNone})
			require.NoError(t, err)
			out = append(out, len(r.IDs))
		}
		r, err := c.Get(ctx, GetOptions{WhereDocument: Where{"$contains": "doc 7"}, Include: IncludeNone})
		require.NoError(t, err)
		return append(out, len(r.IDs))
	}
	before := counts(c)
	require.Equal(t, []int{77, 1, 266, 161, 111}, before)
	// Close writes a final checkpoint holding the indexes; a crash instead
	// is covered by the engine's power-cut test (checkpoint + WAL replay).
	closeTest(t, db)
	db = openTest(t, dir, nil)
	defer closeTest(t, db)
	c, err = db.Default().GetCollection("reopen")
	require.NoError(t, err)
	require.Equal(t, before, counts(c))
}

func TestQueryRestrictedToIDs(t *testing.T) {
	_, c := newColl(t, &CollectionConfig{Metric: L2})
	var recs []Record
	for i := 0; i < 50; i++ {
		recs = append(recs, Record{ID: strconv.Itoa(i), Embedding: []float32{float32(i), 0}, Metadata: Metadata{"even": i%2 == 0}})
	}
	require.NoError(t, c.Add(ctx, recs))
	res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{{0, 0}}, K: 3, IDs: []string{"40", "7", "8", "nope"}, Explain: true})
	require.NoError(t, err)
	require.Equal(t, []string{"7", "8", "40"}, res.IDs[0])
	require.Equal(t, 3, res.Plans[0].Matches)
	res, err = c.Query(ctx, QueryOptions{Embeddings: [][]float32{{0, 0}}, K: 3, IDs: []string{"40", "7", "8"}, Where: Where{"even": true}})
	require.NoError(t, err)
	require.Equal(t, []string{"8", "40"}, res.IDs[0])
}

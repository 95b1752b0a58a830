package sextant

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openTest opens a DB for a test. Every collection still open when the test
// ends is verified then (as bbolt checks its database after every test);
// closeTest verifies them before it closes the DB.
func openTest(t *testing.T, dir string, opts *Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { verifyAll(t, db) })
	return db
}

// closeTest verifies every open collection of db, then closes it.
func closeTest(t *testing.T, db *DB) {
	t.Helper()
	verifyAll(t, db)
	require.NoError(t, db.Close())
}

// verifyAll runs the consistency check of every open collection of db, in
// every tenant and database; nothing once db is closed. Collections that
// failed to open or were deleted are skipped.
func verifyAll(t *testing.T, db *DB) {
	t.Helper()
	db.mu.RLock()
	closed := db.mu.closed
	var cs []*Collection
	for _, c := range db.mu.colls {
		if c.openErr == nil && !c.cat.deleted {
			cs = append(cs, c)
		}
	}
	db.mu.RUnlock()
	if closed {
		return
	}
	slices.SortFunc(cs, func(a, b *Collection) int { return strings.Compare(a.ID(), b.ID()) })
	for _, c := range cs {
		require.NoError(t, c.Verify(), "collection %s (%s)", c.Name(), c.ID())
	}
}

func TestCollectionLifecycle(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, nil)
	d := db.Default()

	c, err := d.CreateCollection("alpha", &CollectionConfig{Metric: Cosine, M: 8})
	require.NoError(t, err)
	require.Equal(t, "alpha", c.Name())
	require.Equal(t, DefaultTenant, c.Tenant())
	require.Equal(t, DefaultDatabase, c.Database())

	_, err = d.CreateCollection("alpha", nil)
	require.ErrorIs(t, err, ErrAlreadyExists)
	_, err = d.CreateCollection("x", nil)
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = d.CreateCollection("bad-metric", &CollectionConfig{Metric: "hamming"})
	require.ErrorIs(t, err, ErrInvalidArgument)

	got, err := d.GetOrCreateCollection("alpha", &CollectionConfig{Metric: Cosine})
	require.NoError(t, err)
	require.Equal(t, c.ID(), got.ID())
	_, err = d.GetOrCreateCollection("alpha", &CollectionConfig{Metric: L2})
	require.ErrorIs(t, err, ErrConfigConflict)
	_, err = d.GetOrCreateCollection("alpha", &CollectionConfig{M: 32})
	require.ErrorIs(t, err, ErrConfigConflict)

	for _, n := range []string{"beta", "gamma", "delta"} {
		_, err := d.CreateCollection(n, nil)
		require.NoError(t, err)
	}
	all, err := d.ListCollections(0, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"alpha", "beta", "delta", "gamma"}, names(all))
	pg, err := d.ListCollections(2, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"beta", "delta"}, names(pg))
	n, err := d.CountCollections()
	require.NoError(t, err)
	require.Equal(t, 4, n)

	require.NoError(t, d.RenameCollection("beta", "beta2"))
	require.ErrorIs(t, d.RenameCollection("beta2", "alpha"), ErrAlreadyExists)
	require.ErrorIs(t, d.RenameCollection("nope", "nope2"), ErrNotFound)
	_, err = d.GetCollection("beta")
	require.ErrorIs(t, err, ErrNotFound)

	gamma, err := d.GetCollection("gamma")
	require.NoError(t, err)
	require.NoError(t, gamma.Add(context.Background(), []Record{{ID: "a", Embedding: []float32{1, 2}}}))
	gammaDir := filepath.Join(dir, "collections", gamma.ID())
	_, err = os.Stat(gammaDir)
	require.NoError(t, err)
	require.NoError(t, d.DeleteCollection("gamma"))
	_, err = os.Stat(gammaDir)
	require.True(t, errors.Is(err, os.ErrNotExist), "collection files must be removed: %v", err)
	_, err = gamma.Count(context.Background())
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, c.SetEfSearch(55))
	closeTest(t, db)

	// Everything survives a reopen.
	db = openTest(t, dir, nil)
	defer closeTest(t, db)
	d = db.Default()
	all, err = d.ListCollections(0, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"alpha", "beta2", "delta"}, names(all))
	c, err = d.GetCollection("alpha")
	require.NoError(t, err)
	cfg := c.Config()
	require.Equal(t, Cosine, cfg.Metric)
	require.Equal(t, 8, cfg.M)
	require.Equal(t, 55, cfg.EfSearch)
	require.Equal(t, DefaultEfConstruction, cfg.EfConstruction)
	_, err = d.GetOrCreateCollection("alpha", &CollectionConfig{Metric: IP})
	require.ErrorIs(t, err, ErrConfigConflict)
}

func names(cs []*Collection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name()
	}
	return out
}

func TestTenantsAndDatabases(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, nil)
	require.NoError(t, db.GetTenant(DefaultTenant))
	require.Equal(t, []string{DefaultTenant}, db.ListTenants())
	require.ErrorIs(t, db.GetTenant("acme"), ErrNotFound)
	require.ErrorIs(t, db.CreateDatabase("acme", "prod"), ErrNotFound)
	require.NoError(t, db.CreateTenant("acme"))
	require.ErrorIs(t, db.CreateTenant("acme"), ErrAlreadyExists)
	require.Equal(t, []string{"acme", DefaultTenant}, db.ListTenants())
	require.NoError(t, db.CreateDatabase("acme", "prod"))
	require.NoError(t, db.CreateDatabase("acme", "dev"))
	require.ErrorIs(t, db.CreateDatabase("acme", "dev"), ErrAlreadyExists)
	dbs, err := db.ListDatabases("acme", 0, 0)
	require.NoError(t, err)
	require.Len(t, dbs, 2)
	require.Equal(t, "dev", dbs[0].Name)

	prod := db.Database("acme", "prod")
	c, err := prod.CreateCollection("things", nil)
	require.NoError(t, err)
	// Same name in another database is another collection.
	c2, err := db.Default().CreateCollection("things", nil)
	require.NoError(t, err)
	require.NotEqual(t, c.ID(), c2.ID())
	_, err = db.Database("acme", "nope").CreateCollection("things", nil)
	require.ErrorIs(t, err, ErrNotFound)
	closeTest(t, db)

	db = openTest(t, dir, nil)
	defer closeTest(t, db)
	got, err := db.Database("acme", "prod").GetCollection("things")
	require.NoError(t, err)
	require.Equal(t, c.ID(), got.ID())
	byID, err := db.CollectionByID(c.ID())
	require.NoError(t, err)
	require.Equal(t, "things", byID.Name())
	require.NoError(t, db.DeleteDatabase("acme", "prod"))
	_, err = db.CollectionByID(c.ID())
	require.ErrorIs(t, err, ErrNotFound)
	_, err = os.Stat(filepath.Join(dir, "collections", c.ID()))
	require.True(t, os.IsNotExist(err))
}

func TestLegacyChromaKeys(t *testing.T) {
	db := openTest(t, t.TempDir(), nil)
	defer closeTest(t, db)
	c, err := db.Default().CreateCollection("legacy", &CollectionConfig{Metadata: Metadata{
		"hnsw:space": "ip", "hnsw:M": 24, "hnsw:construction_ef": 64, "hnsw:search_ef": 32, "owner": "me",
	}})
	require.NoError(t, err)
	cfg := c.Config()
	require.Equal(t, IP, cfg.Metric)
	require.Equal(t, 24, cfg.M)
	require.Equal(t, 64, cfg.EfConstruction)
	require.Equal(t, 32, cfg.EfSearch)
	require.Equal(t, "me", c.Metadata()["owner"])
	// A legacy key of the wrong type is refused, naming the key, the type and
	// what is expected; a numeric string is not taken for a number.
	for _, tc := range []struct {
		md  Metadata
		msg string
	}{
		{Metadata{"hnsw:M": "many"}, `collection metadata hnsw:M is a string ("many"), want an integer`},
		{Metadata{"hnsw:M": "16"}, `collection metadata hnsw:M is a string ("16"), want an integer`},
		{Metadata{"hnsw:construction_ef": "100"}, `hnsw:construction_ef is a string ("100"), want an integer`},
		{Metadata{"hnsw:search_ef": 2.5}, `hnsw:search_ef is a float (2.5), want an integer`},
		{Metadata{"hnsw:search_ef": []int{5}}, `hnsw:search_ef is a list ([5]), want an integer`},
		{Metadata{"hnsw:space": 1}, `hnsw:space is an integer (1), want a string: cosine, l2 or ip`},
		{Metadata{"hnsw:space": "dot"}, `unknown metric "dot"`},
	} {
		_, err = db.Default().CreateCollection("legacy2", &CollectionConfig{Metadata: tc.md})
		require.ErrorIs(t, err, ErrInvalidArgument, "%v", tc.md)
		require.ErrorContains(t, err, tc.msg)
		_, err = db.Default().GetCollection("legacy2")
		require.ErrorIs(t, err, ErrNotFound, "a refused create creates nothing")
	}
	// Whole floats count as integers (JSON clients send 16.0).
	c3, err := db.Default().CreateCollection("legacy3", &CollectionConfig{Metadata: Metadata{"hnsw:M": 12.0}})
	require.NoError(t, err)
	require.Equal(t, 12, c3.Config().M)
}

// TestModify: Modify checks every change before making any; the legacy
// hnsw:* keys of new metadata must agree with the collection, and
// hnsw:search_ef sets ef_search.
func TestModify(t *testing.T) {
	db := openTest(t, t.TempDir(), nil)
	d := db.Default()
	c, err := d.CreateCollection("modify_me", &CollectionConfig{Metric: Cosine, M: 24, EfConstruction: 64, EfSearch: 40,
		Metadata: Metadata{"owner": "a"}})
	require.NoError(t, err)
	_, err = d.CreateCollection("taken", nil)
	require.NoError(t, err)
	before := c.Config()
	for _, tc := range []struct {
		name     string
		opts     ModifyOptions
		sentinel error
		msg      string
	}{
		{"metric differs", ModifyOptions{Name: "renamed", Metadata: Metadata{"hnsw:space": "l2"}}, ErrConfigConflict,
			`collection metadata hnsw:space is "l2" but the collection's metric is "cosine": it is fixed at creation and changes only through a re-index`},
		{"M differs", ModifyOptions{Metadata: Metadata{"hnsw:M": 16}}, ErrConfigConflict, `hnsw:M is 16 but the collection's M is 24`},
		{"construction_ef differs", ModifyOptions{Metadata: Metadata{"hnsw:construction_ef": int64(100)}}, ErrConfigConflict,
			`hnsw:construction_ef is 100 but the collection's ef_construction is 64`},
		{"M a string", ModifyOptions{Metadata: Metadata{"hnsw:M": "24"}}, ErrInvalidArgument, `hnsw:M is a string ("24"), want an integer`},
		{"search_ef a string", ModifyOptions{EfSearch: 50, Metadata: Metadata{"hnsw:search_ef": "50"}}, ErrInvalidArgument, `hnsw:search_ef is a string ("50")`},
		{"search_ef disagrees", ModifyOptions{EfSearch: 50, Metadata: Metadata{"hnsw:search_ef": 60}}, ErrInvalidArgument,
			`ef_search 50 and collection metadata hnsw:search_ef 60 disagree`},
		{"search_ef out of range", ModifyOptions{Metadata: Metadata{"hnsw:search_ef": 5000}}, ErrInvalidArgument, `out of range`},
		{"ef out of range", ModifyOptions{Name: "renamed", EfSearch: -1}, ErrInvalidArgument, `ef_search -1 out of range`},
		{"name taken", ModifyOptions{Name: "taken", Metadata: Metadata{"x": 1}, EfSearch: 99}, ErrAlreadyExists, `"taken"`},
		{"bad name", ModifyOptions{Name: "x", EfSearch: 99}, ErrInvalidName, ""},
		{"bad metadata", ModifyOptions{Name: "renamed", Metadata: Metadata{"x": struct{}{}}}, ErrInvalidMetadata, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Modify(tc.opts)
			require.ErrorIs(t, err, tc.sentinel)
			require.ErrorContains(t, err, tc.msg)
			require.Equal(t, before, c.Config(), "a refused Modify changes nothing")
			require.Equal(t, "modify_me", c.Name())
			// SetMetadata refuses the same metadata.
			if tc.opts.Metadata != nil && tc.opts.EfSearch == 0 {
				require.ErrorIs(t, c.SetMetadata(tc.opts.Metadata), tc.sentinel)
				require.Equal(t, before, c.Config())
			}
		})
	}
	// Keys that agree are kept; hnsw:search_ef sets ef_search, durably.
	require.NoError(t, c.Modify(ModifyOptions{Name: "renamed", Metadata: Metadata{
		"hnsw:space": "cosine", "hnsw:M": 24, "hnsw:construction_ef": 64.0, "hnsw:search_ef": 77, "owner": "b"}}))
	closeTest(t, db)
	db2 := openTest(t, db.dir, nil)
	defer closeTest(t, db2)
	c2, err := db2.Default().GetCollection("renamed")
	require.NoError(t, err)
	cfg := c2.Config()
	require.Equal(t, 77, cfg.EfSearch)
	require.Equal(t, Metadata{"hnsw:space": "cosine", "hnsw:M": int64(24), "hnsw:construction_ef": 64.0, "hnsw:search_ef": int64(77), "owner": "b"}, cfg.Metadata)
	require.NoError(t, c2.SetMetadata(nil))
	require.Nil(t, c2.Metadata())
	require.NoError(t, c2.SetEfSearch(33))
	require.Equal(t, 33, c2.Config().EfSearch)
	require.ErrorIs(t, c2.SetEfSearch(0), ErrInvalidArgument)
}

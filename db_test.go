package sextant

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func openTest(t *testing.T, dir string, opts *Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	return db
}

func closeTest(t *testing.T, db *DB) {
	t.Helper()
	require.NoError(t, db.Close())
}

// verifyAll runs every collection's consistency check; tests call it before
// closing a DB.
func verifyAll(t *testing.T, db *DB) {
	t.Helper()
	cs, err := db.Default().ListCollections(0, 0)
	require.NoError(t, err)
	for _, c := range cs {
		require.NoError(t, c.Verify(), c.Name())
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
	_, err = db.Default().CreateCollection("legacy2", &CollectionConfig{Metadata: Metadata{"hnsw:M": "many"}})
	require.ErrorIs(t, err, ErrInvalidArgument)
}

package sextant

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/sextantdb/sextant/internal/catalog"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/storage/wal"
	"github.com/stretchr/testify/require"
)

func readMemFile(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func catalogSegments(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	names, err := fs.List(path.Join(dir, catalogLogDir))
	require.NoError(t, err)
	return names
}

// TestCatalogVersion1Migration opens a catalog.json written by the code
// before the command log (testdata/catalog-v1): everything is there, the
// snapshot is rewritten as version 2 at once, and later changes survive a
// reopen.
func TestCatalogVersion1Migration(t *testing.T) {
	b, err := os.ReadFile("testdata/catalog-v1/catalog.json")
	require.NoError(t, err)
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("/db", 0o755))
	f, err := fs.Create("/db/catalog.json")
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	opts := &Options{FS: fs}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	_, v, err := catalog.DecodeSnapshot(readMemFile(t, fs, "/db/catalog.json"))
	require.NoError(t, err)
	require.Equal(t, 2, v, "the migration writes a version-2 snapshot at once")
	check := func(db *DB) {
		t.Helper()
		require.Equal(t, []string{"acme", "default_tenant"}, db.ListTenants())
		dbs, err := db.ListDatabases("acme", 0, 0)
		require.NoError(t, err)
		require.Equal(t, "prod", dbs[0].Name)
		require.Equal(t, "040a2664-45da-4c88-b816-6d3c4a8b82a8", dbs[0].ID)
		c, err := db.Default().GetCollection("pinned")
		require.NoError(t, err)
		cfg := c.Config()
		require.Equal(t, ModelPin{Name: "text-embedding-3-small", Version: "2025-01", Dimension: 8}, cfg.EmbeddingModel)
		require.Equal(t, 8, cfg.Dimension)
		require.Equal(t, []string{"blob"}, cfg.UnindexedKeys)
		require.True(t, cfg.ManualEf)
		require.Contains(t, cfg.EmbeddingFunction, "openai")
		docs, err := db.Default().GetCollection("docs")
		require.NoError(t, err)
		require.Equal(t, Metadata{"owner": "kim", "n": int64(3)}, docs.Metadata())
		require.Equal(t, Cosine, docs.Config().Metric)
		ev, err := db.Database("acme", "prod").GetCollection("events")
		require.NoError(t, err)
		require.Equal(t, "d8ebb96e-9ce1-43f0-acd6-abec8b2d3e46", ev.ID())
	}
	check(db)
	c, err := db.Default().GetCollection("pinned")
	require.NoError(t, err)
	require.Equal(t, 77, db.mu.state.Collections("", "")[0].EfSearch)
	require.NoError(t, c.SetEfSearch(55))
	require.NoError(t, db.Default().RenameCollection("docs", "docs2"))
	require.NoError(t, db.Default().RenameCollection("docs2", "docs"))
	require.NoError(t, db.Close())

	db, err = Open("/db", opts)
	require.NoError(t, err)
	defer db.Close()
	check(db)
	row, ok := db.mu.state.CollectionByName(DefaultTenant, DefaultDatabase, "pinned")
	require.True(t, ok)
	require.Equal(t, 55, row.EfSearch)
	require.Equal(t, uint64(3), db.mu.state.Applied())
}

// TestCatalogHotSettingAppends: SetEfSearch and SetEmbeddingModel append a
// small record to the command log and do not rewrite catalog.json; a
// reopen replays them; a clean close snapshots.
func TestCatalogHotSettingAppends(t *testing.T) {
	fs := vfs.NewMem()
	opts := &Options{FS: fs}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	c, err := db.Default().CreateCollection("coll", &CollectionConfig{Dimension: 4})
	require.NoError(t, err)
	snap := readMemFile(t, fs, "/db/catalog.json")
	logged := db.cat.logged
	require.NoError(t, c.SetEfSearch(33))
	require.Less(t, db.cat.logged-logged, int64(64), "one small record")
	require.NoError(t, c.SetEmbeddingModel(ModelPin{Name: "m", Version: "1"}, false))
	require.Equal(t, snap, readMemFile(t, fs, "/db/catalog.json"), "the snapshot is not rewritten")

	// A crash now: the log has them.
	crashed := fs.CrashClone(rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, db.Close())
	db2, err := Open("/db", &Options{FS: crashed})
	require.NoError(t, err)
	c2, err := db2.Default().GetCollection("coll")
	require.NoError(t, err)
	require.Equal(t, ModelPin{Name: "m", Version: "1", Dimension: 4}, c2.Config().EmbeddingModel)
	row, _ := db2.mu.state.Collection(c2.ID())
	require.Equal(t, 33, row.EfSearch)
	require.NoError(t, db2.Close())

	// The clean close snapshotted: the log is empty.
	db, err = Open("/db", opts)
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, int64(0), db.cat.logged)
	st, _, err := catalog.DecodeSnapshot(readMemFile(t, fs, "/db/catalog.json"))
	require.NoError(t, err)
	require.Equal(t, db.mu.state.Applied(), st.Applied())
}

// TestCatalogSnapshotWhenLogGrows: past catalogSnapshotBytes of records a
// command takes a snapshot and the covered segments go.
func TestCatalogSnapshotWhenLogGrows(t *testing.T) {
	defer func(n int64) { catalogSnapshotBytes = n }(catalogSnapshotBytes)
	catalogSnapshotBytes = 100
	fs := vfs.NewMem()
	db, err := Open("/db", &Options{FS: fs})
	require.NoError(t, err)
	defer db.Close()
	for i := range 20 {
		require.NoError(t, db.CreateTenant(fmt.Sprintf("tenant-%02d", i)))
	}
	require.Less(t, db.cat.logged, int64(100))
	st, _, err := catalog.DecodeSnapshot(readMemFile(t, fs, "/db/catalog.json"))
	require.NoError(t, err)
	require.Greater(t, st.Applied(), uint64(10))
	require.Len(t, catalogSegments(t, fs, "/db"), 1)
}

// TestCatalogCorruptLog: a damaged record in the middle of the log fails
// Open with a corruption error instead of dropping commands.
func TestCatalogCorruptLog(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("/db", &Options{FS: fs})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, db.CreateTenant(fmt.Sprintf("t%d", i)))
	}
	crashed := fs.CrashClone(rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, db.Close())
	seg := path.Join("/db", catalogLogDir, catalogSegments(t, crashed, "/db")[0])
	b := readMemFile(t, crashed, seg)
	b[10] ^= 0xff // inside the first record's payload
	f, err := crashed.Create(seg)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open("/db", &Options{FS: crashed})
	require.Error(t, err)
	require.True(t, wal.IsCorruption(err), "%v", err)
}

// catModel is what the test expects the catalog to hold: tenants,
// databases, and per collection (tenant/database/name) its ef_search.
type catModel struct {
	tenants map[string]bool
	dbs     map[string]bool
	colls   map[string]int
}

func (m catModel) clone() catModel {
	return catModel{maps.Clone(m.tenants), maps.Clone(m.dbs), maps.Clone(m.colls)}
}

func (m catModel) String() string {
	return fmt.Sprint(slices.Sorted(maps.Keys(m.tenants)), slices.Sorted(maps.Keys(m.dbs)), m.colls)
}

func catModelOf(t *testing.T, db *DB) catModel {
	t.Helper()
	st := db.mu.state
	require.NoError(t, st.Check())
	m := catModel{map[string]bool{}, map[string]bool{}, map[string]int{}}
	for _, tn := range st.Tenants() {
		m.tenants[tn] = true
	}
	for _, d := range st.Databases("") {
		m.dbs[d.Tenant+"/"+d.Name] = true
	}
	for _, c := range st.Collections("", "") {
		m.colls[c.Tenant+"/"+c.Database+"/"+c.Name] = c.EfSearch
		_, err := db.opts.FS.Stat(db.collDir(c.ID))
		require.NoError(t, err, "collection %s has no directory", c.Name)
	}
	dirs, err := db.opts.FS.List(path.Join(db.dir, "collections"))
	require.NoError(t, err)
	require.Len(t, dirs, len(m.colls), "directories of collections not in the catalog")
	return m
}

// TestCatalogCrash creates, renames and drops collections and databases and
// sets ef_search, fails a random file operation (a full disk, a crash in
// the middle), then crashes (the crashable in-memory FS keeps what was
// synced and a random part of the rest) and reopens: the catalog is what
// was acknowledged, plus possibly the one change whose call failed.
func TestCatalogCrash(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	defer func(n int64) { catalogSnapshotBytes = n }(catalogSnapshotBytes)
	catalogSnapshotBytes = 400 // snapshots (and their crashes) every few commands
	rng := rand.New(rand.NewPCG(12, 12))
	mem := vfs.NewMem()
	injected := errors.New("injected")
	model := catModel{map[string]bool{DefaultTenant: true}, map[string]bool{DefaultTenant + "/" + DefaultDatabase: true}, map[string]int{}}
	acked, failed := 0, 0
	for round := range rounds {
		cd := vfs.NewCountdown(injected, vfs.OpWrite|vfs.OpSync|vfs.OpRename|vfs.OpCreate|vfs.OpRemove|vfs.OpMkdir, "", rng.IntN(150))
		cd.SetEnabled(false)
		db, err := Open("/db", &Options{FS: vfs.WithErrors(mem, cd), Workers: 1})
		require.NoError(t, err, "round %d", round)
		require.Equal(t, model.String(), catModelOf(t, db).String(), "round %d: reopened catalog", round)
		cd.SetEnabled(true)
		var pending *catModel // the change of the call that failed
		for range 1 + rng.IntN(25) {
			next := model.clone()
			tn := []string{DefaultTenant, "acme"}[rng.IntN(2)]
			dn := []string{DefaultDatabase, "prod"}[rng.IntN(2)]
			d := db.Database(tn, dn)
			name := fmt.Sprintf("col%d", rng.IntN(4))
			key := tn + "/" + dn + "/"
			var err error
			switch op := rng.IntN(10); {
			case op == 0:
				err = db.CreateTenant(tn)
				next.tenants[tn] = true
			case op == 1:
				err = db.CreateDatabase(tn, dn)
				next.dbs[tn+"/"+dn] = true
			case op == 2 && rng.IntN(3) == 0:
				err = db.DeleteDatabase(tn, dn)
				delete(next.dbs, tn+"/"+dn)
				for k := range next.colls {
					if len(k) > len(key) && k[:len(key)] == key {
						delete(next.colls, k)
					}
				}
			case op <= 4:
				_, err = d.CreateCollection(name, &CollectionConfig{Dimension: 2, EfSearch: 50})
				next.colls[key+name] = 50
			case op == 5:
				to := fmt.Sprintf("col%d", rng.IntN(4))
				err = d.RenameCollection(name, to)
				if ef, ok := next.colls[key+name]; ok && to != name {
					delete(next.colls, key+name)
					next.colls[key+to] = ef
				}
			case op == 6:
				err = d.DeleteCollection(name)
				delete(next.colls, key+name)
			default:
				var c *Collection
				if c, err = d.GetCollection(name); err == nil {
					ef := 1 + rng.IntN(500)
					err = c.SetEfSearch(ef)
					next.colls[key+name] = ef
				}
			}
			if err == nil {
				model = next
				acked++
				continue
			}
			if errors.Is(err, injected) {
				pending = &next
				failed++
				break
			}
			// Refused (exists, not found): nothing changed.
			require.True(t, errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyExists), "round %d: %v", round, err)
		}
		crashed := mem.CrashClone(rng)
		cd.SetEnabled(false)
		_ = db.Close()
		mem = crashed
		if pending != nil {
			// The failed call may have reached the log: find out which.
			probe, err := Open("/db", &Options{FS: mem.CrashClone(rng), Workers: 1})
			require.NoError(t, err, "round %d", round)
			got := catModelOf(t, probe).String()
			require.NoError(t, probe.Close())
			require.Contains(t, []string{model.String(), pending.String()}, got, "round %d", round)
			if got == pending.String() {
				model = *pending
			}
		}
	}
	t.Logf("%d rounds, %d acknowledged changes, %d failed calls", rounds, acked, failed)
}

// TestCatalogConcurrentChangesAndLookups: lookups, listings and hot
// settings run while collections are created, renamed and dropped (run it
// with -race); at the end the state checks out and a reopen sees the same
// catalog.
func TestCatalogConcurrentChangesAndLookups(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("/db", &Options{FS: fs, Workers: 1})
	require.NoError(t, err)
	d := db.Default()
	keep, err := d.CreateCollection("keep", &CollectionConfig{Dimension: 2})
	require.NoError(t, err)
	done := make(chan struct{})
	errc := make(chan error, 3)
	go func() { // changes
		defer close(done)
		for i := range 30 {
			name := fmt.Sprintf("tmp%d", i%3)
			if _, err := d.GetOrCreateCollection(name, &CollectionConfig{Dimension: 2}); err != nil {
				errc <- err
				return
			}
			_ = d.RenameCollection(name, name+"x")
			_ = d.DeleteCollection(name + "x")
		}
	}()
	for _, f := range []func(i int) error{
		func(int) error {
			_, err := d.GetCollection("keep")
			if err == nil {
				_, err = d.ListCollections(0, 0)
			}
			return err
		},
		func(i int) error { return keep.SetEfSearch(10 + i%50) },
	} {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errc <- nil
					return
				default:
				}
				if err := f(i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for range 2 {
		require.NoError(t, <-errc)
	}
	<-done
	select {
	case err := <-errc:
		require.NoError(t, err)
	default:
	}
	want := catModelOf(t, db)
	require.NoError(t, db.Close())
	db, err = Open("/db", &Options{FS: fs, Workers: 1})
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, want.String(), catModelOf(t, db).String())
}

package sextant

import (
	"fmt"
	"path"
	"testing"

	"github.com/sextantdb/sextant/internal/catalog"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/stretchr/testify/require"
)

// BenchmarkSetEfSearch measures a hot setting in a catalog of 100
// collections, on the OS file system. SetEfSearch is the whole call (the
// catalog change plus the engine's guardrail write); the sub-benchmarks
// split it: the catalog's part now (one SetConfig record, fsynced), what
// the catalog's part was before (catalog.json rewritten whole, atomically),
// and the engine's part.
func BenchmarkSetEfSearch(b *testing.B) {
	db, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer db.Close()
	var c *Collection
	for i := range 100 {
		c, err = db.Default().CreateCollection(fmt.Sprintf("c%03d", i), &CollectionConfig{Dimension: 4, Metadata: Metadata{"owner": "bench", "i": i}})
		require.NoError(b, err)
	}
	b.Run("SetEfSearch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			require.NoError(b, c.SetEfSearch(10+i%100))
		}
	})
	b.Run("catalog-log-record", func(b *testing.B) {
		b.ReportAllocs()
		before, n := db.cat.logged, 0
		for i := 0; b.Loop(); i++ {
			n++
			db.cat.Lock()
			err := db.proposeLocked(&catalog.SetConfig{ID: c.id, Set: catalog.SetEfSearch, EfSearch: 10 + i%100}, nil)
			db.cat.Unlock()
			require.NoError(b, err)
		}
		if db.cat.logged > before {
			b.ReportMetric(float64(db.cat.logged-before)/float64(n), "written-B/op")
		}
	})
	b.Run("catalog-whole-file-before", func(b *testing.B) {
		b.ReportAllocs()
		name := path.Join(db.dir, "bench-catalog.json")
		for b.Loop() {
			require.NoError(b, vfs.WriteFileAtomic(db.opts.FS, name, catalog.EncodeSnapshot(db.mu.state)))
		}
		b.ReportMetric(float64(len(catalog.EncodeSnapshot(db.mu.state))), "written-B/op")
	})
	b.Run("engine-guardrails", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c.eng.SetEfSearch(10 + i%100)
			require.NoError(b, c.eng.PersistGuardrails())
		}
	})
}

package sextant

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkSetEfSearch measures a hot setting in a catalog of 100
// collections: one durable catalog change per op.
func BenchmarkSetEfSearch(b *testing.B) {
	db, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer db.Close()
	var c *Collection
	for i := range 100 {
		c, err = db.Default().CreateCollection(fmt.Sprintf("c%03d", i), &CollectionConfig{Dimension: 4, Metadata: Metadata{"owner": "bench", "i": i}})
		require.NoError(b, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		require.NoError(b, c.SetEfSearch(10+i%100))
	}
}

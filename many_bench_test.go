package sextant

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// processCPU returns the CPU time (user + system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkManyCollections: a database of 1,000 small collections (20
// vectors of 32 dimensions each) is reopened; it reports the seconds the
// open took and the CPU share the idle database uses, measured from 15 s to
// 20 s after the open (once the monitor rounds have backed off), as
// open-s and idle-cpu-% (of one core). Run with -benchtime 1x.
func BenchmarkManyCollections(b *testing.B) {
	if testing.Short() {
		b.Skip("takes ~30 s")
	}
	const colls, recs, dim = 1000, 20, 32
	dir := b.TempDir()
	db, err := Open(dir, &Options{NoSync: true})
	require.NoError(b, err)
	for i := range colls {
		c, err := db.Default().CreateCollection(fmt.Sprintf("coll-%04d", i), &CollectionConfig{Metric: Cosine})
		require.NoError(b, err)
		rs := make([]Record, recs)
		for j := range rs {
			v := make([]float32, dim)
			for k := range v {
				v[k] = float32((i*31+j*7+k)%13) + 1
			}
			rs[j] = Record{ID: fmt.Sprint(j), Embedding: v}
		}
		require.NoError(b, c.Add(ctx, rs))
	}
	require.NoError(b, db.Close())
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		db, err := Open(dir, nil)
		require.NoError(b, err)
		opened := time.Since(start)
		time.Sleep(15 * time.Second)
		cpu0, wall0 := processCPU(b), time.Now()
		time.Sleep(5 * time.Second)
		idle := float64(processCPU(b)-cpu0) / float64(time.Since(wall0))
		require.NoError(b, db.Close())
		b.ReportMetric(opened.Seconds(), "open-s")
		b.ReportMetric(100*idle, "idle-cpu-%")
	}
}

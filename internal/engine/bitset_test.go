package engine

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/stretchr/testify/require"
)

func randomSet(n uint32, p float64) *roaring.Bitmap {
	r := rand.New(rand.NewPCG(1, 2))
	m := roaring.New()
	for s := uint32(0); s < n; s++ {
		if r.Float64() < p {
			m.Add(s)
		}
	}
	return m
}

func TestBitsetMatchesRoaring(t *testing.T) {
	var b bitset
	var buf []uint32
	// Reused: each fill after a reset holds exactly its own set, the
	// collection growing in between.
	for i, tc := range []struct {
		n uint32
		m *roaring.Bitmap
	}{
		{70_000, randomSet(70_000, 0.1)},
		{70_000, roaring.BitmapOf(5, 64, 69_999)},
		{200_000, randomSet(200_000, 0.01)},
		{200_000, roaring.New()},
		{1000, randomSet(1000, 0.9)},
	} {
		buf = b.fill(context.Background(), tc.m, tc.n, buf)
		for s := uint32(0); s < 200_100; s++ {
			require.Equal(t, tc.m.Contains(s), b.Contains(s), "set %d slot %d", i, s)
		}
		b.reset()
		for _, w := range b.words {
			require.Zero(t, w, "set %d: reset left bits", i)
		}
	}
}

func TestBitsetCancelled(t *testing.T) {
	var b bitset
	ctx, cancel := context.WithCancel(context.Background())
	b.fill(ctx, roaring.BitmapOf(1), 100, nil)
	require.False(t, b.Contains(2))
	cancel()
	for range cancelCheck {
		b.Contains(2)
	}
	require.True(t, b.cancelled())
	require.True(t, b.Contains(2), "a cancelled allow-list lets everything through")
	b.reset()
	require.False(t, b.cancelled())
	require.False(t, b.Contains(2))
}

// BenchmarkAllowListContains compares the membership test a filtered graph
// traversal makes for every neighbour: roaring vs the dense bitset.
func BenchmarkAllowListContains(b *testing.B) {
	const n = 50_000
	m := randomSet(n, 0.1)
	probes := make([]uint32, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range probes {
		probes[i] = r.Uint32N(n)
	}
	b.Run("roaring", func(b *testing.B) {
		hits := 0
		for i := 0; i < b.N; i++ {
			if m.Contains(probes[i&4095]) {
				hits++
			}
		}
		_ = hits
	})
	b.Run("bitset", func(b *testing.B) {
		var bs bitset
		bs.fill(context.Background(), m, n, nil)
		hits := 0
		for i := 0; i < b.N; i++ {
			if bs.Contains(probes[i&4095]) {
				hits++
			}
		}
		_ = hits
	})
	// Through the interface, as the traversal calls it: the plain dense
	// slice type of the old allow-list, and the pooled bitset without and
	// with a cancellable context.
	contains := func(b *testing.B, f hnsw.Filter) {
		hits := 0
		for i := 0; i < b.N; i++ {
			if f.Contains(probes[i&4095]) {
				hits++
			}
		}
		_ = hits
	}
	b.Run("iface-dense-slice", func(b *testing.B) {
		d := make(denseSlice, (n+63)/64)
		for _, s := range m.ToArray() {
			d[s>>6] |= 1 << (s & 63)
		}
		contains(b, d)
	})
	b.Run("iface-bitset", func(b *testing.B) {
		var bs bitset
		bs.fill(context.Background(), m, n, nil)
		contains(b, &bs)
	})
	b.Run("iface-bitset-ctx", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var bs bitset
		bs.fill(ctx, m, n, nil)
		contains(b, &bs)
	})
	b.Run("fill-reset", func(b *testing.B) {
		var bs bitset
		var buf []uint32
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf = bs.fill(context.Background(), m, n, buf)
			bs.reset()
		}
	})
}

// denseSlice is the allow-list as it was: a dense []uint64 made per query.
type denseSlice []uint64

func (d denseSlice) Contains(slot uint32) bool {
	i := int(slot >> 6)
	return i < len(d) && d[i]&(1<<(slot&63)) != 0
}

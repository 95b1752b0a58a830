package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
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
	m := randomSet(70_000, 0.1)
	b := newBitset(m, 70_000)
	for s := uint32(0); s < 70_100; s++ {
		require.Equal(t, m.Contains(s), b.Contains(s), "slot %d", s)
	}
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
		bs := newBitset(m, n)
		hits := 0
		for i := 0; i < b.N; i++ {
			if bs.Contains(probes[i&4095]) {
				hits++
			}
		}
		_ = hits
	})
	b.Run("build-bitset", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = newBitset(m, n)
		}
	})
}

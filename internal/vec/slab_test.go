package vec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func slabVec(slot uint32, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(slot)*1000 + float32(i)
	}
	return v
}

// Growth never moves a vector: a slice from At stays the slot's storage.
func TestSlabGrowKeepsVectors(t *testing.T) {
	const dim = 3
	s := NewSlab(dim)
	s.Set(5, slabVec(5, dim))
	held := s.At(5)
	for slot := uint32(0); slot < 3*chunkSize+7; slot++ {
		s.Set(slot, slabVec(slot, dim))
	}
	require.Equal(t, 4*chunkSize, s.Cap())
	held[0] = -1 // writes through to the slab's own storage
	require.Equal(t, float32(-1), s.At(5)[0])
	for slot := uint32(6); slot < 3*chunkSize+7; slot++ {
		require.Equal(t, slabVec(slot, dim), s.At(slot), "slot %d", slot)
		require.Len(t, s.At(slot), dim)
		require.Equal(t, dim, cap(s.At(slot)), "a vector's slice must not reach into the next one")
	}
}

// A view reads what Slab.At reads, including slots of chunks added after it
// was made.
func TestSlabViewSeesGrowth(t *testing.T) {
	const dim = 4
	s := NewSlab(dim)
	for slot := range uint32(10) {
		s.Set(slot, slabVec(slot, dim))
	}
	v := s.View()
	require.Equal(t, slabVec(9, dim), v.At(9))
	far := uint32(5*chunkSize + 3)
	s.Set(far, slabVec(far, dim))
	require.Equal(t, slabVec(far, dim), v.At(far))
	require.Equal(t, slabVec(2, dim), v.At(2))
	require.Equal(t, dim, cap(v.At(far)))
}

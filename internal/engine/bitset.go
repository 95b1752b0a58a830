package engine

import "github.com/RoaringBitmap/roaring/v2"

// bitset is a dense set of slots: the allow-list a filtered graph traversal
// tests for every neighbour it meets, where a roaring bitmap's container
// search would dominate the cost.
type bitset []uint64

// newBitset returns the slots of m as a dense bitset covering [0, n).
func newBitset(m *roaring.Bitmap, n uint32) bitset {
	b := make(bitset, (int(n)+63)/64)
	it := m.ManyIterator()
	buf := make([]uint32, 256)
	for {
		k := it.NextMany(buf)
		if k == 0 {
			return b
		}
		for _, s := range buf[:k] {
			b[s>>6] |= 1 << (s & 63)
		}
	}
}

// Contains reports whether slot is in the set.
func (b bitset) Contains(slot uint32) bool {
	i := int(slot >> 6)
	return i < len(b) && b[i]&(1<<(slot&63)) != 0
}

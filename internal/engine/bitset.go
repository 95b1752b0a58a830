package engine

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2"
)

// bitset is a dense set of slots: the allow-list a filtered graph traversal
// tests for every neighbour it meets, where a roaring bitmap's container
// search would dominate the cost (BenchmarkAllowListContains: 28 ns vs 3 ns
// a test).
//
// A bitset is reused across queries (it lives in the pooled searchBuf): fill
// sets the bits of a match set, growing words only when the collection has
// grown, and reset clears just the words fill touched. A filtered query
// therefore allocates nothing in proportion to the collection's slots.
//
// A bitset also carries the query's context: Contains checks it every
// cancelCheck tests and, once it is done, answers true for every slot, so
// that the traversal behaves like an unfiltered one and ends within ef
// expansions; the caller then discards the results (see Search).
//
// A bitset is not safe for concurrent use.
type bitset struct {
	words  []uint64
	lo, hi int             // words[lo:hi] may hold set bits
	ctx    context.Context // checked when check is set
	check  bool
	done   bool // ctx was found done
	tests  uint32
}

// cancelCheck is how many Contains calls (or exact-scan candidates) pass
// between checks of the context: a power of two.
const cancelCheck = 4096

// fill makes b the set of slots of m (below n), with ctx checked by
// Contains (a context that is never done: no checks). buf is the
// scratch of the bitmap iteration; fill returns it, grown as needed.
// REQUIRES: b is empty (new, or reset).
func (b *bitset) fill(ctx context.Context, m *roaring.Bitmap, n uint32, buf []uint32) []uint32 {
	if need := (int(n) + 63) / 64; len(b.words) < need {
		b.words = make([]uint64, need+need/4) // the collection grew: room for more
	}
	if ctx != nil && ctx.Done() != nil {
		b.ctx, b.check = ctx, true
	}
	if cap(buf) < 256 {
		buf = make([]uint32, 256)
	}
	buf = buf[:cap(buf)]
	it := m.ManyIterator()
	lo, hi := len(b.words), 0
	for {
		k := it.NextMany(buf)
		if k == 0 {
			break
		}
		for _, s := range buf[:k] {
			if int(s) >= int(n) {
				continue
			}
			b.words[s>>6] |= 1 << (s & 63)
		}
		lo = min(lo, int(buf[0]>>6))
		hi = max(hi, min(int(buf[k-1]>>6)+1, len(b.words)))
	}
	b.lo, b.hi = min(lo, hi), hi
	return buf
}

// reset empties b for its next fill, clearing only the words fill touched.
func (b *bitset) reset() {
	clear(b.words[b.lo:b.hi])
	b.lo, b.hi = 0, 0
	b.ctx, b.check, b.done, b.tests = nil, false, false, 0
}

// Contains reports whether slot is in the set (every slot, once the
// context is done).
func (b *bitset) Contains(slot uint32) bool {
	if b.check {
		if b.done {
			return true
		}
		if b.tests++; b.tests&(cancelCheck-1) == 0 && b.poll() {
			return true
		}
	}
	i := int(slot >> 6)
	return i < len(b.words) && b.words[i]&(1<<(slot&63)) != 0
}

// poll checks the context and reports whether it is done.
func (b *bitset) poll() bool {
	b.done = b.ctx.Err() != nil
	return b.done
}

// cancelled reports whether Contains found the context done.
func (b *bitset) cancelled() bool { return b.done }

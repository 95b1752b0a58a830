package filter

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/sextantdb/sextant/internal/invariants"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/stretchr/testify/require"
)

// TestEvalRangeOrdered checks ranges against Match on keys of high and low
// cardinality while records are added, updated and removed in batches (so
// that the ordered index is queried with and without pending delta and dead
// pairs, before and after merges), with dense slots (bitset path) and sparse
// ones (sorted-slots path), and after round trips through the encoding.
func TestEvalRangeOrdered(t *testing.T) {
	for _, spacing := range []uint32{1, 100_003} {
		t.Run(fmt.Sprint("spacing=", spacing), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, uint64(spacing)))
			const n = 3000
			randMeta := func() payload.Map {
				m := payload.Map{}
				switch r.IntN(10) {
				case 0: // no number
				case 1:
					m["x"] = "str"
				case 2:
					m["x"] = []float64{r.Float64() * 1000}
				case 3, 4:
					m["x"] = int64(r.IntN(1000))
				default:
					m["x"] = r.Float64() * 1000
				}
				if r.IntN(8) != 0 {
					m["lo"] = int64(r.IntN(8))
				}
				m["tag"] = int64(r.IntN(3))
				return m
			}
			recs := map[uint32]payload.Map{}
			live := roaring.New()
			ix := NewIndex(IndexOptions{})
			slotOf := func(i int) uint32 { return uint32(i) * spacing }
			lookup := func(s uint32) (payload.Map, *string) { return recs[s], nil }
			update := func(k int) {
				for range k {
					s := slotOf(r.IntN(n))
					if live.Contains(s) {
						ix.Remove(s, recs[s], nil)
						live.Remove(s)
						delete(recs, s)
						if r.IntN(3) == 0 {
							continue
						}
					}
					recs[s] = randMeta()
					ix.Add(s, recs[s], nil)
					live.Add(s)
				}
			}
			bound := func(key string) any {
				if key == "lo" {
					return float64(r.IntN(10)) - 1
				}
				if r.IntN(3) == 0 { // an existing value, to test ties
					it := live.Iterator()
					for it.HasNext() {
						if x, ok := recs[it.Next()]["x"]; ok && r.IntN(50) == 0 {
							switch x := x.(type) {
							case int64:
								return float64(x)
							case float64:
								return x
							}
						}
					}
				}
				return r.Float64()*1100 - 50
			}
			ops := []string{"$gt", "$gte", "$lt", "$lte"}
			rng := func(key string) map[string]any {
				return map[string]any{key: map[string]any{ops[r.IntN(4)]: bound(key)}}
			}
			randWhere := func() map[string]any {
				key := "x"
				if r.IntN(4) == 0 {
					key = "lo"
				}
				switch r.IntN(5) {
				case 0:
					return map[string]any{"$and": []any{rng(key), rng(key)}}
				case 1:
					return map[string]any{"$and": []any{map[string]any{"tag": float64(r.IntN(3))}, rng(key)}}
				case 2:
					return map[string]any{"$or": []any{rng("x"), rng("lo")}}
				}
				return rng(key)
			}
			check := func(ix *Index, nf int) {
				t.Helper()
				for range nf {
					f, err := Parse(randWhere(), nil)
					require.NoError(t, err)
					want := roaring.New()
					for it := live.Iterator(); it.HasNext(); {
						s := it.Next()
						if f.Match(recs[s], nil) {
							want.Add(s)
						}
					}
					got := ix.Eval(f, live, lookup)
					require.True(t, want.Equals(got), "filter %s: want %d slots, got %d", f, want.GetCardinality(), got.GetCardinality())
				}
			}
			update(n)
			check(ix, 100)
			for round := range 12 {
				update([]int{10, 300, 1500}[round%3])
				check(ix, 60)
				if round%4 == 3 {
					dec, err := DecodeIndex(ix.AppendBinary(nil), IndexOptions{})
					require.NoError(t, err)
					check(dec, 30)
					ix = dec
				}
			}
			for s := range recs {
				ix.Remove(s, recs[s], nil)
			}
			require.Empty(t, ix.fields)
		})
	}
}

// TestDecodeIndexTwoNumbers checks that an encoding where one slot holds two
// scalar numbers of a key is refused.
func TestDecodeIndexTwoNumbers(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.Add(1, payload.Map{"n": int64(1)}, nil)
	ix.Add(2, payload.Map{"n": int64(2)}, nil)
	ix.fields["n"].scalar[vkey{k: kNumber, f: 2}].Add(1) // corrupt: slot 1 holds 1 and 2
	_, err := DecodeIndex(ix.AppendBinary(nil), IndexOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestOrderedCheckBaseUnderInvariants checks that, with invariants compiled in
// (the invariants and race tags), a merge that leaves the base unsorted or
// holding a slot twice panics with a BUG.
func TestOrderedCheckBaseUnderInvariants(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs -tags invariants (or -race)")
	}
	o := newOrdered()
	o.vals, o.slots = []float64{2, 1}, []uint32{1, 2}
	require.PanicsWithValue(t, "BUG: filter: ordered index not sorted after merge at 1: (2, 1) then (1, 2)", o.merge)
	o.vals, o.slots = []float64{1, 2}, []uint32{5, 5}
	require.PanicsWithValue(t, "BUG: filter: ordered index holds slot 5 twice", o.merge)
	o.vals, o.slots = nil, nil
	o.add(3, 1)
	o.add(3, 2)
	o.merge()
	require.Equal(t, []uint32{1, 2}, o.slots)
}

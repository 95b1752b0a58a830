package filter

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/invariants"
)

// ordered is the ordered index of the scalar numbers of one key: one
// (value, slot) pair per slot holding a scalar number (a slot has at most one
// scalar value per key).
//
// The pairs are a sorted base plus an unsorted delta. The valid pairs are the
// base pairs whose slot is not in dead, and all the delta pairs: Add appends
// to the delta; Remove drops the slot's delta pair if it has one, else marks
// its base pair dead. When the delta and the dead pairs outgrow a fraction of
// the base, they are merged into the base. The delta is kept in two lists:
// pairs whose value is in the base (dead pairs included) and novel ones, so
// that a range answered from the value bitmaps only scans the novel pairs.
// Every change happens in Add / Remove, which have exclusive access to the
// Index, so Eval only reads.
type ordered struct {
	vals  []float64 // base values, ascending (ties by slot)
	slots []uint32  // slots[i] holds vals[i]

	dead  *roaring.Bitmap // slots whose base pair is no longer valid
	ndead int             // cardinality of dead

	known, novel delta            // the delta pairs whose value is / is not in vals
	dpos         map[uint32]int32 // slot → i, its pair's index in known, or ^i in novel

	scratch []pair // merge buffer
}

// delta is a list of pairs, in no particular order.
type delta struct {
	vals  []float64
	slots []uint32 // slots[i] holds vals[i]
}

func (d *delta) len() int { return len(d.vals) }

func newOrdered() *ordered {
	return &ordered{dead: roaring.New(), dpos: make(map[uint32]int32)}
}

// ndelta returns the number of delta pairs.
func (o *ordered) ndelta() int { return o.known.len() + o.novel.len() }

// len returns the number of valid pairs.
func (o *ordered) len() int { return len(o.vals) - o.ndead + o.ndelta() }

// add records that slot now holds x. REQUIRES: slot holds no scalar number.
func (o *ordered) add(x float64, slot uint32) {
	d, pos := &o.known, int32(o.known.len())
	if _, found := slices.BinarySearch(o.vals, x); !found {
		d, pos = &o.novel, ^int32(o.novel.len())
	}
	o.dpos[slot] = pos
	d.vals = append(d.vals, x)
	d.slots = append(d.slots, slot)
	o.maybeMerge()
}

// remove records that slot no longer holds a scalar number.
// REQUIRES: slot holds one.
func (o *ordered) remove(slot uint32) {
	if pos, ok := o.dpos[slot]; ok {
		d, i, enc := &o.known, pos, int32(0)
		if pos < 0 {
			d, i, enc = &o.novel, ^pos, -1
		}
		last := int32(d.len() - 1)
		if i != last {
			d.vals[i], d.slots[i] = d.vals[last], d.slots[last]
			o.dpos[d.slots[i]] = i ^ enc
		}
		d.vals, d.slots = d.vals[:last], d.slots[:last]
		delete(o.dpos, slot)
	} else if o.dead.CheckedAdd(slot) {
		o.ndead++
	}
	o.maybeMerge()
}

// maybeMerge merges when the delta and the dead pairs exceed 1024 + 1/32 of
// the base: a range query then scans at most that many delta pairs, and the
// merges cost O(32 + log) pair moves per update, amortized.
func (o *ordered) maybeMerge() {
	if o.ndelta()+o.ndead > 1024+len(o.vals)/32 {
		o.merge()
	}
}

type pair struct {
	v float64
	s uint32
}

func comparePairs(a, b pair) int {
	if c := cmp.Compare(a.v, b.v); c != 0 {
		return c
	}
	return cmp.Compare(a.s, b.s)
}

// merge folds the delta into the base and drops the dead pairs, in place.
func (o *ordered) merge() {
	// Drop the dead pairs.
	n := 0
	if o.ndead > 0 {
		for i, s := range o.slots {
			if !o.dead.Contains(s) {
				o.vals[n], o.slots[n] = o.vals[i], s
				n++
			}
		}
		o.vals, o.slots = o.vals[:n], o.slots[:n]
		o.dead.Clear()
		o.ndead = 0
	}
	n = len(o.vals)
	// Sort the delta, then merge it in from the back.
	ps := o.scratch[:0]
	for _, d := range []*delta{&o.known, &o.novel} {
		for i, x := range d.vals {
			ps = append(ps, pair{x, d.slots[i]})
		}
		d.vals, d.slots = d.vals[:0], d.slots[:0]
	}
	clear(o.dpos)
	slices.SortFunc(ps, comparePairs)
	o.vals = slices.Grow(o.vals, len(ps))[:n+len(ps)]
	o.slots = slices.Grow(o.slots, len(ps))[:n+len(ps)]
	i, j := n-1, len(ps)-1
	for k := len(o.vals) - 1; j >= 0; k-- {
		if i >= 0 && comparePairs(pair{o.vals[i], o.slots[i]}, ps[j]) > 0 {
			o.vals[k], o.slots[k] = o.vals[i], o.slots[i]
			i--
		} else {
			o.vals[k], o.slots[k] = ps[j].v, ps[j].s
			j--
		}
	}
	o.scratch = ps[:0]
	o.checkBase()
}

// checkBase panics, when invariants are compiled in, unless the base is
// sorted with one pair per slot and nothing else is left: O(base) per merge,
// O(32) per update amortized (see maybeMerge).
func (o *ordered) checkBase() {
	if !invariants.Enabled {
		return
	}
	if len(o.vals) != len(o.slots) || o.ndelta() != 0 || o.ndead != 0 || len(o.dpos) != 0 {
		panic(fmt.Sprintf("BUG: filter: ordered index after merge: %d values, %d slots, %d delta, %d dead, %d delta positions",
			len(o.vals), len(o.slots), o.ndelta(), o.ndead, len(o.dpos)))
	}
	seen := roaring.New()
	for i, s := range o.slots {
		if i > 0 && comparePairs(pair{o.vals[i-1], o.slots[i-1]}, pair{o.vals[i], s}) >= 0 {
			panic(fmt.Sprintf("BUG: filter: ordered index not sorted after merge at %d: (%v, %d) then (%v, %d)",
				i, o.vals[i-1], o.slots[i-1], o.vals[i], s))
		}
		if !seen.CheckedAdd(s) {
			panic(fmt.Sprintf("BUG: filter: ordered index holds slot %d twice", s))
		}
	}
}

// setBase replaces the whole index with the given pairs, which need not be
// sorted. REQUIRES: one pair per slot.
func (o *ordered) setBase(ps []pair) {
	if !slices.IsSortedFunc(ps, comparePairs) {
		slices.SortFunc(ps, comparePairs)
	}
	o.vals, o.slots = make([]float64, len(ps)), make([]uint32, len(ps))
	for i, p := range ps {
		o.vals[i], o.slots[i] = p.v, p.s
	}
	o.dead, o.ndead = roaring.New(), 0
	o.known, o.novel, o.scratch = delta{}, delta{}, nil
	clear(o.dpos)
	o.checkBase()
}

// bounds returns the base positions [lo, hi) of the values x with x o bound.
func (o *ordered) bounds(op op, bound float64) (lo, hi int) {
	vals := o.vals
	lo, hi = 0, len(vals)
	switch op {
	case opGt:
		lo = sort.Search(len(vals), func(i int) bool { return vals[i] > bound })
	case opGte:
		lo = sort.Search(len(vals), func(i int) bool { return vals[i] >= bound })
	case opLt:
		hi = sort.Search(len(vals), func(i int) bool { return vals[i] >= bound })
	case opLte:
		hi = sort.Search(len(vals), func(i int) bool { return vals[i] > bound })
	}
	return lo, hi
}

// estimate returns roughly how many slots hold a number x with x o bound.
func (o *ordered) estimate(op op, bound float64) uint64 {
	lo, hi := o.bounds(op, bound)
	return uint64(hi - lo)
}

// maxRunValues is the most distinct values a range side may hold to be
// answered by unioning their bitmaps rather than from the pairs.
const maxRunValues = 64

// rangeSet returns the slots of cand whose scalar number x in f has
// x o bound. It works on the smaller side of the bound in the base: the
// pairs in range, or those out of range subtracted from f.nums. When that
// side holds few distinct values (a low-cardinality key), it unions their
// bitmaps; otherwise it sets the side's slots in a dense bitset.
func (ix *Index) rangeSet(f *field, op op, bound float64, cand *roaring.Bitmap) *roaring.Bitmap {
	o := f.ord
	if cand.IsEmpty() || o.len() == 0 {
		return roaring.New()
	}
	lo, hi := o.bounds(op, bound)
	inside := 2*(hi-lo) <= len(o.vals)
	// The side's base segments, and whether a delta value is on the side.
	segs := [2][2]int{{lo, hi}, {hi, hi}}
	if !inside {
		segs = [2][2]int{{0, lo}, {hi, len(o.vals)}}
	}
	onSide := func(x float64) bool { return inRange(op, x, bound) == inside }

	var side *roaring.Bitmap
	if vals, ok := o.distinct(segs); ok {
		bms, extra := o.valueBitmaps(f, vals, onSide)
		if inside && len(bms) == 1 && len(extra) == 0 {
			return roaring.And(bms[0], cand)
		}
		side = union(bms, extra)
	} else {
		side = o.pairsSet(segs, onSide, cand.Maximum())
	}
	if inside {
		side.And(cand)
		return side
	}
	out := roaring.And(f.nums, cand)
	out.AndNot(side)
	return out
}

// distinct returns the distinct base values in segs, ascending, or false if
// there are more than maxRunValues.
func (o *ordered) distinct(segs [2][2]int) ([]float64, bool) {
	var out []float64
	for _, sg := range segs {
		for i, end := sg[0], sg[1]; i < end; {
			if len(out) == maxRunValues {
				return nil, false
			}
			x := o.vals[i]
			out = append(out, x)
			// Gallop to the end of x's run, then binary-search it.
			step := 1
			for i+step < end && o.vals[i+step] == x {
				step *= 2
			}
			base := i + step/2 + 1
			top := min(i+step, end)
			i = base + sort.Search(top-base, func(k int) bool { return o.vals[base+k] != x })
		}
	}
	return out, true
}

// valueBitmaps returns the bitmaps of vals (all the distinct base values on
// a side) and the slots of the novel delta pairs on the side: together, the
// slots holding a number on the side. The value bitmaps are authoritative, so
// the dead pairs need no care, and all the slots of a value that is not in
// the base are novel delta pairs.
func (o *ordered) valueBitmaps(f *field, vals []float64, onSide func(float64) bool) ([]*roaring.Bitmap, []uint32) {
	bms := make([]*roaring.Bitmap, 0, len(vals))
	for _, x := range vals {
		if bm := f.scalar[vkey{k: kNumber, f: x}]; bm != nil {
			bms = append(bms, bm)
		}
	}
	var extra []uint32
	for i, x := range o.novel.vals {
		if onSide(x) {
			extra = append(extra, o.novel.slots[i])
		}
	}
	return bms, extra
}

// union returns the union of bms and of the slots in extra, as a new bitmap.
func union(bms []*roaring.Bitmap, extra []uint32) *roaring.Bitmap {
	var out *roaring.Bitmap
	switch len(bms) {
	case 0:
		out = roaring.New()
	case 1:
		out = bms[0].Clone()
	default:
		out = roaring.FastOr(bms...)
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		out.AddMany(extra)
	}
	return out
}

// pairsSet returns the slots of the valid pairs on a side (base segs, minus
// dead, plus the delta pairs on the side), ignoring slots above limit.
func (o *ordered) pairsSet(segs [2][2]int, onSide func(float64) bool, limit uint32) *roaring.Bitmap {
	m := segs[0][1] - segs[0][0] + segs[1][1] - segs[1][0] + o.ndelta()
	words := int(limit/64) + 1
	if words > 1024+8*m {
		// Sparse slots: a dense bitset would be mostly empty.
		buf := make([]uint32, 0, m)
		for _, sg := range segs {
			for _, s := range o.slots[sg[0]:sg[1]] {
				if s <= limit && (o.ndead == 0 || !o.dead.Contains(s)) {
					buf = append(buf, s)
				}
			}
		}
		for _, d := range []*delta{&o.known, &o.novel} {
			for i, x := range d.vals {
				if s := d.slots[i]; s <= limit && onSide(x) {
					buf = append(buf, s)
				}
			}
		}
		slices.Sort(buf)
		return roaring.BitmapOf(buf...)
	}
	w := make([]uint64, words)
	for _, sg := range segs {
		for _, s := range o.slots[sg[0]:sg[1]] {
			if s <= limit {
				w[s/64] |= 1 << (s % 64)
			}
		}
	}
	if o.ndead > 0 {
		// A dead slot's base pair is invalid; if the slot holds a number
		// again, its delta pair sets it back below.
		o.dead.Iterate(func(s uint32) bool {
			if s > limit {
				return false
			}
			w[s/64] &^= 1 << (s % 64)
			return true
		})
	}
	for _, d := range []*delta{&o.known, &o.novel} {
		for i, x := range d.vals {
			if s := d.slots[i]; s <= limit && onSide(x) {
				w[s/64] |= 1 << (s % 64)
			}
		}
	}
	return roaring.FromDense(w, false)
}

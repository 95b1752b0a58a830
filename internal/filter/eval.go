package filter

import (
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/sextantdb/sextant/internal/payload"
)

// Eval returns the exact set of slots in live that match f, using the
// indexes where it can and calling lookup (which returns a live slot's
// metadata and document) for the records it must check one by one: filters
// on skipped keys, $regex / $not_regex, and the verification of trigram
// candidates for document $contains. live is not modified; the returned
// bitmap belongs to the caller. f == nil returns a clone of live.
//
// Eval does not modify the index except for its lazily merged ordered
// indexes, which it guards itself, so concurrent Evals are safe.
func (ix *Index) Eval(f *Filter, live *roaring.Bitmap, lookup func(slot uint32) (payload.Map, *string)) *roaring.Bitmap {
	if live == nil {
		return roaring.New()
	}
	if f == nil || f.root == nil {
		return live.Clone()
	}
	if lookup == nil {
		lookup = func(uint32) (payload.Map, *string) { return nil, nil }
	}
	e := evaluator{ix: ix, lookup: lookup}
	return e.eval(f.root, live)
}

type evaluator struct {
	ix     *Index
	lookup func(slot uint32) (payload.Map, *string)
}

// Cost classes of a node, cheapest first.
const (
	costIndex   = iota // bitmaps only
	costTrigram        // trigram candidates, then verification of each
	costScan           // checks every candidate with lookup
)

func (e *evaluator) cost(n *node) int {
	switch n.op {
	case opAnd, opOr:
		c := costIndex
		for _, k := range n.kids {
			c = max(c, e.cost(k))
		}
		return c
	}
	if n.doc {
		if (n.op == opContains || n.op == opNotContains) && (len(n.val.s) == 0 || len(n.val.s) >= 3) {
			return costTrigram
		}
		return costScan
	}
	if e.ix.skipped(n.key) {
		return costScan
	}
	return costIndex
}

// estimate guesses the number of slots of cand (whose cardinality is c) that
// match n; it only orders the children of $and and $or.
func (e *evaluator) estimate(n *node, c uint64) uint64 {
	if pos, ok := n.op.negated(); ok {
		p := e.estimatePositive(n, pos, c)
		return c - min(p, c)
	}
	switch n.op {
	case opAnd:
		m := c
		for _, k := range n.kids {
			m = min(m, e.estimate(k, c))
		}
		return m
	case opOr:
		var s uint64
		for _, k := range n.kids {
			s += e.estimate(k, c)
		}
		return min(s, c)
	}
	return e.estimatePositive(n, n.op, c)
}

func (e *evaluator) estimatePositive(n *node, o op, c uint64) uint64 {
	if n.doc {
		if o == opContains && len(n.val.s) >= 3 {
			m := c
			for i := 0; i+3 <= len(n.val.s); i++ {
				bm := e.ix.trigrams[trigram(n.val.s[i:])]
				if bm == nil {
					return 0
				}
				m = min(m, bm.GetCardinality())
			}
			return m
		}
		return c
	}
	if e.ix.skipped(n.key) {
		return c
	}
	f := e.ix.fields[n.key]
	if f == nil {
		return 0
	}
	var s uint64
	switch o {
	case opEq:
		if bm := f.scalar[n.val.key()]; bm != nil {
			s = bm.GetCardinality()
		}
	case opIn:
		for _, v := range n.vals {
			if bm := f.scalar[v.key()]; bm != nil {
				s += bm.GetCardinality()
			}
		}
	case opContains:
		if bm := f.elem[n.val.key()]; bm != nil {
			s = bm.GetCardinality()
		}
	default: // a range: no cheap estimate
		s = c / 3
	}
	return min(s, c)
}

// order returns n's children sorted cheapest and most selective first.
func (e *evaluator) order(kids []*node, c uint64) []*node {
	type ranked struct {
		n    *node
		cost int
		est  uint64
	}
	r := make([]ranked, len(kids))
	for i, k := range kids {
		r[i] = ranked{k, e.cost(k), e.estimate(k, c)}
	}
	sort.SliceStable(r, func(i, j int) bool {
		if r[i].cost != r[j].cost {
			return r[i].cost < r[j].cost
		}
		return r[i].est < r[j].est
	})
	out := make([]*node, len(r))
	for i := range r {
		out[i] = r[i].n
	}
	return out
}

// eval returns the slots of cand that match n, as a new bitmap.
func (e *evaluator) eval(n *node, cand *roaring.Bitmap) *roaring.Bitmap {
	if pos, ok := n.op.negated(); ok {
		return roaring.AndNot(cand, e.positive(n, pos, cand))
	}
	switch n.op {
	case opAnd:
		cur := cand
		for _, k := range e.order(n.kids, cand.GetCardinality()) {
			cur = e.eval(k, cur)
			if cur.IsEmpty() {
				break
			}
		}
		if cur == cand {
			return cand.Clone()
		}
		return cur
	case opOr:
		out := roaring.New()
		rest := cand
		kids := e.order(n.kids, cand.GetCardinality())
		for i, k := range kids {
			r := e.eval(k, rest)
			out.Or(r)
			if i+1 < len(kids) {
				rest = roaring.AndNot(rest, r)
				if rest.IsEmpty() {
					break
				}
			}
		}
		return out
	}
	return e.positive(n, n.op, cand)
}

// positive returns the slots of cand that match the positive operator o
// with n's key and operands.
func (e *evaluator) positive(n *node, o op, cand *roaring.Bitmap) *roaring.Bitmap {
	if n.doc {
		return e.document(n, o, cand)
	}
	if e.ix.skipped(n.key) {
		return e.scan(n, o, cand)
	}
	f := e.ix.fields[n.key]
	if f == nil {
		return roaring.New()
	}
	switch o {
	case opEq:
		return andOrEmpty(f.scalar[n.val.key()], cand)
	case opContains:
		return andOrEmpty(f.elem[n.val.key()], cand)
	case opIn:
		bms := make([]*roaring.Bitmap, 0, len(n.vals))
		for _, v := range n.vals {
			if bm := f.scalar[v.key()]; bm != nil {
				bms = append(bms, bm)
			}
		}
		return andUnion(bms, cand)
	case opGt, opGte, opLt, opLte:
		return e.ix.rangeSet(f, o, n.val.f, cand)
	}
	return roaring.New()
}

func andOrEmpty(bm, cand *roaring.Bitmap) *roaring.Bitmap {
	if bm == nil {
		return roaring.New()
	}
	return roaring.And(bm, cand)
}

func andUnion(bms []*roaring.Bitmap, cand *roaring.Bitmap) *roaring.Bitmap {
	switch len(bms) {
	case 0:
		return roaring.New()
	case 1:
		return roaring.And(bms[0], cand)
	}
	u := roaring.FastOr(bms...)
	u.And(cand)
	return u
}

// rangeSet returns the slots of cand whose scalar number x in f has
// x o bound. It unions the bitmaps of the smaller side of the bound: the
// values in range, or those out of range, subtracted from f.nums.
func (ix *Index) rangeSet(f *field, o op, bound float64, cand *roaring.Bitmap) *roaring.Bitmap {
	ix.mu.Lock()
	if len(f.pending) > 0 || f.stale > len(f.sorted)/4 {
		f.merge()
	}
	sorted, bms := f.sorted, f.sortedBms
	ix.mu.Unlock()
	// The slices are never modified in place (merge builds new ones), and the
	// bitmaps change only under exclusive access, so the rest runs unlocked.
	lo, hi := 0, len(sorted)
	switch o {
	case opGt:
		lo = sort.Search(len(sorted), func(i int) bool { return sorted[i] > bound })
	case opGte:
		lo = sort.Search(len(sorted), func(i int) bool { return sorted[i] >= bound })
	case opLt:
		hi = sort.Search(len(sorted), func(i int) bool { return sorted[i] >= bound })
	case opLte:
		hi = sort.Search(len(sorted), func(i int) bool { return sorted[i] > bound })
	}
	if 2*(hi-lo) <= len(sorted) {
		return unionIn(bms[lo:hi], cand)
	}
	out := roaring.And(f.nums, cand)
	out.AndNot(unionIn(append(bms[:lo:lo], bms[hi:]...), cand))
	return out
}

// unionIn returns the union of bms, intersected with cand.
func unionIn(bms []*roaring.Bitmap, cand *roaring.Bitmap) *roaring.Bitmap {
	if len(bms) <= 32 || cand.IsEmpty() {
		return andUnion(bms, cand)
	}
	// Many (typically tiny) bitmaps: OR them into a dense bitset up to cand's
	// maximum, which is far faster than a roaring union of thousands.
	limit := cand.Maximum()
	words := make([]uint64, limit/64+1)
	for _, bm := range bms {
		if bm.GetCardinality() == 1 { // the common case for float keys; Iterate costs more
			if x := bm.Minimum(); x <= limit {
				words[x/64] |= 1 << (x % 64)
			}
			continue
		}
		bm.Iterate(func(x uint32) bool {
			if x > limit {
				return false
			}
			words[x/64] |= 1 << (x % 64)
			return true
		})
	}
	out := roaring.FromDense(words, false)
	out.And(cand)
	return out
}

// document evaluates a positive document operator on cand.
func (e *evaluator) document(n *node, o op, cand *roaring.Bitmap) *roaring.Bitmap {
	c := roaring.And(e.ix.docs, cand)
	var needle string
	if o == opContains {
		needle = n.val.s
	} else if prefix, _ := n.re.LiteralPrefix(); len(prefix) >= 3 {
		needle = prefix // every match contains its literal prefix
	}
	if len(needle) >= 3 {
		for i := 0; i+3 <= len(needle) && !c.IsEmpty(); i++ {
			bm := e.ix.trigrams[trigram(needle[i:])]
			if bm == nil {
				return roaring.New()
			}
			c.And(bm)
		}
	}
	if o == opContains && (len(needle) == 0 || len(needle) == 3) {
		return c // exact: every document contains "", and a 3-byte needle is its trigram
	}
	return e.scan(n, o, c)
}

// scan checks every slot of cand with lookup.
func (e *evaluator) scan(n *node, o op, cand *roaring.Bitmap) *roaring.Bitmap {
	var hits []uint32
	it := cand.Iterator()
	for it.HasNext() {
		slot := it.Next()
		meta, doc := e.lookup(slot)
		if n.matchPositive(o, meta, doc) {
			hits = append(hits, slot)
		}
	}
	return roaring.BitmapOf(hits...)
}

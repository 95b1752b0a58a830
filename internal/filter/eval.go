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
// Eval does not modify the index, so concurrent Evals are safe.
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
	case opGt, opGte, opLt, opLte:
		s = f.ord.estimate(o, n.val.f)
	default:
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

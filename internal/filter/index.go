package filter

import (
	"math"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/sextantdb/sextant/internal/payload"
)

// IndexOptions configures an Index.
type IndexOptions struct {
	// SkipKeys are metadata keys not to index. Filters on them still work:
	// Eval scans the candidate records with lookup.
	SkipKeys []string
}

// Index holds the payload indexes of one collection: an inverted index per
// metadata key, an ordered index of numeric values per key, and a trigram
// index of documents.
//
// Index is not safe for concurrent use: Add and Remove need exclusive access,
// Eval, MemoryBytes and AppendBinary may run concurrently with each other
// (none of them modifies the index).
type Index struct {
	skip     map[string]struct{}
	skipKeys []string // sorted, deduplicated
	fields   map[string]*field
	trigrams map[uint32]*roaring.Bitmap // trigram (b0<<16|b1<<8|b2) → slots whose document holds it
	docs     *roaring.Bitmap            // slots that have a document
	scratch  []uint32                   // trigram buffer for Add / Remove
}

// vkey is a canonical indexed value: numbers are float64 (int 3 and float
// 3.0 are the same key), -0 is folded into 0.
type vkey struct {
	k kind
	s string
	f float64
	b bool
}

func (v value) key() vkey { return vkey(v) }

// field is the index of one metadata key.
type field struct {
	scalar map[vkey]*roaring.Bitmap // scalar value → slots
	elem   map[vkey]*roaring.Bitmap // list element → slots whose list holds it

	ord  *ordered        // (number, slot) pairs of the scalar numbers
	nums *roaring.Bitmap // slots with a scalar number (any value)
}

func newField() *field {
	return &field{
		scalar: make(map[vkey]*roaring.Bitmap),
		elem:   make(map[vkey]*roaring.Bitmap),
		ord:    newOrdered(),
		nums:   roaring.New(),
	}
}

// NewIndex returns an empty Index.
func NewIndex(opts IndexOptions) *Index {
	ix := &Index{
		skip:     make(map[string]struct{}, len(opts.SkipKeys)),
		fields:   make(map[string]*field),
		trigrams: make(map[uint32]*roaring.Bitmap),
		docs:     roaring.New(),
	}
	for _, k := range opts.SkipKeys {
		ix.skip[k] = struct{}{}
	}
	for k := range ix.skip {
		ix.skipKeys = append(ix.skipKeys, k)
	}
	sort.Strings(ix.skipKeys)
	return ix
}

func (ix *Index) skipped(key string) bool {
	_, ok := ix.skip[key]
	return ok
}

// Add indexes the record in slot. The slot must not be indexed already.
func (ix *Index) Add(slot uint32, meta payload.Map, doc *string) {
	for k, v := range meta {
		if ix.skipped(k) {
			continue
		}
		f := ix.fields[k]
		if f == nil {
			f = newField()
			ix.fields[k] = f
		}
		forEachValue(v, func(key vkey, elem bool) {
			f.add(key, elem, slot)
		})
	}
	if doc != nil {
		ix.docs.Add(slot)
		ix.scratch = trigramsOf(ix.scratch[:0], *doc)
		for _, t := range ix.scratch {
			bm := ix.trigrams[t]
			if bm == nil {
				bm = roaring.New()
				ix.trigrams[t] = bm
			}
			bm.Add(slot)
		}
	}
}

// Remove unindexes the record in slot; meta and doc must be exactly the
// values given to Add.
func (ix *Index) Remove(slot uint32, meta payload.Map, doc *string) {
	for k, v := range meta {
		f := ix.fields[k]
		if f == nil {
			continue
		}
		forEachValue(v, func(key vkey, elem bool) {
			f.remove(key, elem, slot)
		})
		if len(f.scalar) == 0 && len(f.elem) == 0 {
			delete(ix.fields, k)
		}
	}
	if doc != nil {
		ix.docs.Remove(slot)
		ix.scratch = trigramsOf(ix.scratch[:0], *doc)
		for _, t := range ix.scratch {
			if bm := ix.trigrams[t]; bm != nil {
				bm.Remove(slot)
				if bm.IsEmpty() {
					delete(ix.trigrams, t)
				}
			}
		}
	}
}

func (f *field) add(key vkey, elem bool, slot uint32) {
	m := f.scalar
	if elem {
		m = f.elem
	}
	bm := m[key]
	if bm == nil {
		bm = roaring.New()
		m[key] = bm
	}
	if bm.CheckedAdd(slot) && !elem && key.k == kNumber && f.nums.CheckedAdd(slot) {
		f.ord.add(key.f, slot)
	}
}

func (f *field) remove(key vkey, elem bool, slot uint32) {
	m := f.scalar
	if elem {
		m = f.elem
	}
	bm := m[key]
	if bm == nil {
		return
	}
	if bm.CheckedRemove(slot) && !elem && key.k == kNumber && f.nums.CheckedRemove(slot) {
		f.ord.remove(slot)
	}
	if bm.IsEmpty() {
		delete(m, key)
	}
}

// forEachValue calls fn for every indexable value of a canonical metadata
// value: a scalar once, a list once per element. NaN is not indexed (it
// equals nothing and is in no range).
func forEachValue(v any, fn func(key vkey, elem bool)) {
	num := func(x float64, elem bool) {
		if !math.IsNaN(x) {
			fn(vkey{k: kNumber, f: x + 0}, elem)
		}
	}
	switch x := v.(type) {
	case string:
		fn(vkey{k: kString, s: x}, false)
	case bool:
		fn(vkey{k: kBool, b: x}, false)
	case int64:
		num(float64(x), false)
	case float64:
		num(x, false)
	case []string:
		for _, e := range x {
			fn(vkey{k: kString, s: e}, true)
		}
	case []bool:
		for _, e := range x {
			fn(vkey{k: kBool, b: e}, true)
		}
	case []int64:
		for _, e := range x {
			num(float64(e), true)
		}
	case []float64:
		for _, e := range x {
			num(e, true)
		}
	}
}

// trigramsOf appends the distinct byte trigrams of s to dst, sorted.
func trigramsOf(dst []uint32, s string) []uint32 {
	for i := 0; i+3 <= len(s); i++ {
		dst = append(dst, trigram(s[i:]))
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

func trigram(s string) uint32 { return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]) }

// MemoryBytes estimates the heap memory held by the index. It walks every
// bitmap, so it costs time proportional to their number.
func (ix *Index) MemoryBytes() int64 {
	const entry = 64 // map entry + bitmap header, roughly
	n := int64(ix.docs.GetSizeInBytes())
	for k, f := range ix.fields {
		o := f.ord
		n += int64(len(k)) + 128 + int64(f.nums.GetSizeInBytes()) + int64(o.dead.GetSizeInBytes()) +
			12*int64(cap(o.vals)+cap(o.known.vals)+cap(o.novel.vals)) + 16*int64(cap(o.scratch)+len(o.dpos))
		for _, m := range []map[vkey]*roaring.Bitmap{f.scalar, f.elem} {
			for key, bm := range m {
				n += entry + int64(len(key.s)) + int64(bm.GetSizeInBytes())
			}
		}
	}
	for _, bm := range ix.trigrams {
		n += entry + int64(bm.GetSizeInBytes())
	}
	return n + 4*int64(cap(ix.scratch))
}

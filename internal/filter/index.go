package filter

import (
	"math"
	"slices"
	"sort"
	"sync"

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
// (Eval guards its lazily maintained ordered indexes with an internal mutex).
type Index struct {
	skip     map[string]struct{}
	skipKeys []string // sorted, deduplicated
	fields   map[string]*field
	trigrams map[uint32]*roaring.Bitmap // trigram (b0<<16|b1<<8|b2) → slots whose document holds it
	docs     *roaring.Bitmap            // slots that have a document
	scratch  []uint32                   // trigram buffer for Add / Remove

	mu sync.Mutex // guards field.sorted, field.pending and field.stale during Eval
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

	// Ordered index of the scalar numbers. sorted holds distinct numbers in
	// ascending order, possibly with stale ones whose bitmap has since been
	// removed from scalar (stale counts them); pending holds numbers that got
	// a bitmap since the last merge. REQUIRES: Index.mu held, or exclusive
	// access to the Index.
	sorted    []float64
	sortedBms []*roaring.Bitmap // sortedBms[i] is the bitmap of sorted[i] (empty when stale)
	pending   []float64
	stale     int

	nums *roaring.Bitmap // slots with a scalar number (any value)
}

func newField() *field {
	return &field{
		scalar: make(map[vkey]*roaring.Bitmap),
		elem:   make(map[vkey]*roaring.Bitmap),
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
		if !elem && key.k == kNumber {
			f.pending = append(f.pending, key.f)
			if len(f.pending) > 1024 && len(f.pending) > len(f.sorted)/4 {
				f.merge()
			}
		}
	}
	bm.Add(slot)
	if !elem && key.k == kNumber {
		f.nums.Add(slot)
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
	bm.Remove(slot)
	if !elem && key.k == kNumber {
		f.nums.Remove(slot)
	}
	if bm.IsEmpty() {
		delete(m, key)
		if !elem && key.k == kNumber {
			f.stale++
		}
	}
}

// merge folds pending into sorted and drops stale numbers. It builds new
// slices, so a reader holding the old ones is unaffected, and it only reads
// the maps. A stale entry (its value's bitmap emptied and deleted by Remove)
// keeps pointing at that empty bitmap until the next merge; a value re-added
// since gets a new bitmap and is pending, so it is merged before any range
// query reads sortedBms.
// REQUIRES: Index.mu held, or exclusive access.
func (f *field) merge() {
	all := make([]float64, 0, len(f.sorted)+len(f.pending))
	all = append(all, f.sorted...)
	all = append(all, f.pending...)
	slices.Sort(all)
	out := all[:0]
	var bms []*roaring.Bitmap
	for i, x := range all {
		if i > 0 && x == all[i-1] {
			continue
		}
		if bm, ok := f.scalar[vkey{k: kNumber, f: x}]; ok {
			out = append(out, x)
			bms = append(bms, bm)
		}
	}
	f.sorted = slices.Clip(out)
	f.sortedBms = bms
	f.pending = nil
	f.stale = 0
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
	ix.mu.Lock()     // a concurrent Eval may be merging an ordered index
	defer ix.mu.Unlock()
	n := int64(ix.docs.GetSizeInBytes())
	for k, f := range ix.fields {
		n += int64(len(k)) + 128 + 8*int64(cap(f.sorted)+cap(f.sortedBms)+cap(f.pending)) + int64(f.nums.GetSizeInBytes())
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

package filter

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/stretchr/testify/require"
)

type record struct {
	meta payload.Map
	doc  *string
}

var (
	testKeys  = []string{"s", "n", "f", "b", "ls", "ln", "lb", "mix"}
	testWords = []string{"red", "green", "blue", "abc", "abcd", "xyz", "a", "ab", "Red", "zz"}
)

func randWord(r *rand.Rand) string { return testWords[r.IntN(len(testWords))] }

// randNumber returns a small int64 or float64, often integral so that ints
// and floats collide.
func randNumber(r *rand.Rand) any {
	switch r.IntN(4) {
	case 0:
		return float64(r.IntN(10) - 2)
	case 1:
		return float64(r.IntN(20))/4 - 1
	}
	return int64(r.IntN(10) - 2)
}

func randScalar(r *rand.Rand) any {
	switch r.IntN(4) {
	case 0:
		return randWord(r)
	case 1:
		return r.IntN(2) == 0
	}
	return randNumber(r)
}

func randList(r *rand.Rand) any {
	n := 1 + r.IntN(3)
	switch r.IntN(4) {
	case 0:
		out := make([]string, n)
		for i := range out {
			out[i] = randWord(r)
		}
		return out
	case 1:
		out := make([]bool, n)
		for i := range out {
			out[i] = r.IntN(2) == 0
		}
		return out
	case 2:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(r.IntN(8) - 2)
		}
		return out
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(r.IntN(16))/2 - 2
	}
	return out
}

func randRecord(r *rand.Rand) record {
	m := payload.Map{}
	for _, k := range testKeys {
		if r.IntN(4) == 0 {
			continue // missing key
		}
		switch k {
		case "s":
			m[k] = randWord(r)
		case "n":
			m[k] = int64(r.IntN(50) - 10)
		case "f":
			m[k] = float64(r.IntN(80))/4 - 5
		case "b":
			m[k] = r.IntN(2) == 0
		case "ls":
			m[k] = randList(r)
		case "ln":
			if r.IntN(2) == 0 {
				m[k] = randList(r)
			} else {
				m[k] = randNumber(r)
			}
		case "lb":
			m[k] = []bool{r.IntN(2) == 0}
		case "mix":
			if r.IntN(2) == 0 {
				m[k] = randList(r)
			} else {
				m[k] = randScalar(r)
			}
		}
	}
	if len(m) == 0 {
		m = nil
	}
	rec := record{meta: m}
	if r.IntN(5) != 0 {
		var sb strings.Builder
		for i := range r.IntN(6) {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(randWord(r))
		}
		s := sb.String()
		rec.doc = &s
	}
	return rec
}

// asJSON returns v as encoding/json would decode it: int64 becomes float64.
func asJSON(v any) any {
	switch v := v.(type) {
	case int64:
		return float64(v)
	default:
		return v
	}
}

func randWhere(r *rand.Rand, depth int) map[string]any {
	if depth < 3 && r.IntN(4) == 0 {
		n := 1 + r.IntN(3)
		kids := make([]any, n)
		for i := range kids {
			kids[i] = randWhere(r, depth+1)
		}
		if r.IntN(2) == 0 {
			return map[string]any{"$and": kids}
		}
		return map[string]any{"$or": kids}
	}
	if r.IntN(6) == 0 {
		ops := []string{"$contains", "$not_contains", "$regex", "$not_regex"}
		o := ops[r.IntN(len(ops))]
		arg := randNeedle(r)
		if o == "$regex" || o == "$not_regex" {
			arg = randRegex(r)
		}
		return map[string]any{"#document": map[string]any{o: arg}}
	}
	k := testKeys[r.IntN(len(testKeys))]
	if r.IntN(10) == 0 {
		k = "absent"
	}
	operand := func() any {
		if r.IntN(5) > 0 { // mostly the key's own type
			switch k {
			case "s", "ls":
				return randWord(r)
			case "n", "f", "ln":
				return asJSON(randNumber(r))
			case "b", "lb":
				return r.IntN(2) == 0
			}
		}
		return asJSON(randScalar(r))
	}
	ops := []string{"", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains", "$not_contains"}
	o := ops[r.IntN(len(ops))]
	switch o {
	case "":
		return map[string]any{k: operand()}
	case "$gt", "$gte", "$lt", "$lte":
		v := randNumber(r)
		if i, ok := v.(int64); ok {
			v = float64(i)
		}
		return map[string]any{k: map[string]any{o: v}}
	case "$in", "$nin":
		first := operand()
		list := []any{first}
		for range r.IntN(3) {
			v := operand()
			if fmt.Sprintf("%T", v) == fmt.Sprintf("%T", first) {
				list = append(list, v)
			}
		}
		return map[string]any{k: map[string]any{o: list}}
	}
	return map[string]any{k: map[string]any{o: operand()}}
}

// randNeedle returns a non-empty substring pattern (Parse refuses "").
func randNeedle(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0:
		return randWord(r)[:1]
	case 1:
		return randWord(r) + " " + randWord(r)
	case 2:
		w := randWord(r)
		return w[:1+r.IntN(len(w))]
	}
	return randWord(r)
}

func randRegex(r *rand.Rand) string {
	res := []string{"^red", "blue$", "a.c", "(?i)red", "gre+n", "abc|xyz", "^$", "b", "redd?", "abcd?"}
	return res[r.IntN(len(res))]
}

func randDocument(r *rand.Rand, depth int) map[string]any {
	if depth < 2 && r.IntN(3) == 0 {
		kids := []any{randDocument(r, depth+1), randDocument(r, depth+1)}
		if r.IntN(2) == 0 {
			return map[string]any{"$and": kids}
		}
		return map[string]any{"$or": kids}
	}
	switch r.IntN(4) {
	case 0:
		return map[string]any{"$contains": randNeedle(r)}
	case 1:
		return map[string]any{"$not_contains": randNeedle(r)}
	case 2:
		return map[string]any{"$regex": randRegex(r)}
	}
	return map[string]any{"$not_regex": randRegex(r)}
}

func randFilter(t *testing.T, r *rand.Rand) *Filter {
	t.Helper()
	var w, d map[string]any
	if r.IntN(5) != 0 {
		w = randWhere(r, 0)
	}
	if r.IntN(3) == 0 {
		d = randDocument(r, 0)
	}
	f, err := Parse(w, d)
	require.NoError(t, err, "where %v where_document %v", w, d)
	return f
}

// corpus is the records, the live set and the index under test.
type corpus struct {
	recs []record
	live *roaring.Bitmap
	ix   *Index
}

func newCorpus(r *rand.Rand, n int, opts IndexOptions) *corpus {
	c := &corpus{live: roaring.New(), ix: NewIndex(opts)}
	for i := range n {
		rec := randRecord(r)
		c.recs = append(c.recs, rec)
		if r.IntN(10) == 0 {
			continue // a free slot, never added
		}
		c.ix.Add(uint32(i), rec.meta, rec.doc)
		c.live.Add(uint32(i))
	}
	return c
}

func (c *corpus) lookup(slot uint32) (payload.Map, *string) {
	return c.recs[slot].meta, c.recs[slot].doc
}

func (c *corpus) oracle(f *Filter) *roaring.Bitmap {
	out := roaring.New()
	it := c.live.Iterator()
	for it.HasNext() {
		s := it.Next()
		if f.Match(c.recs[s].meta, c.recs[s].doc) {
			out.Add(s)
		}
	}
	return out
}

// churn updates, deletes and re-adds random records.
func (c *corpus) churn(r *rand.Rand, n int) {
	for range n {
		s := uint32(r.IntN(len(c.recs)))
		if c.live.Contains(s) {
			rec := c.recs[s]
			c.ix.Remove(s, rec.meta, rec.doc)
			c.live.Remove(s)
			if r.IntN(3) == 0 {
				continue // deleted
			}
		}
		rec := randRecord(r)
		c.recs[s] = rec
		c.ix.Add(s, rec.meta, rec.doc)
		c.live.Add(s)
	}
}

func (c *corpus) check(t *testing.T, r *rand.Rand, nfilters int) {
	t.Helper()
	liveBefore := c.live.Clone()
	nontrivial := 0
	for range nfilters {
		f := randFilter(t, r)
		got := c.ix.Eval(f, c.live, c.lookup)
		want := c.oracle(f)
		require.True(t, want.Equals(got), "filter %s: want %d slots, got %d (missing %v, extra %v)",
			f, want.GetCardinality(), got.GetCardinality(),
			roaring.AndNot(want, got).ToArray(), roaring.AndNot(got, want).ToArray())
		if n := want.GetCardinality(); n > 0 && n < c.live.GetCardinality() {
			nontrivial++
		}
	}
	require.Greater(t, nontrivial, nfilters*2/5, "too many filters match nothing or everything")
	require.True(t, liveBefore.Equals(c.live), "Eval modified live")
}

func TestEvalOracle(t *testing.T) {
	for _, opts := range []IndexOptions{{}, {SkipKeys: []string{"n", "ls", "mix"}}} {
		t.Run(fmt.Sprint(opts.SkipKeys), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			c := newCorpus(r, 2000, opts)
			c.check(t, r, 400)
			for round := range 3 {
				c.churn(r, 700)
				c.check(t, r, 200)
				// The encoded index evaluates identically, and re-encodes to the same bytes.
				enc := c.ix.AppendBinary(nil)
				dec, err := DecodeIndex(enc, opts)
				require.NoError(t, err, "round %d", round)
				require.Equal(t, enc, dec.AppendBinary(nil))
				for range 100 {
					f := randFilter(t, r)
					require.True(t, c.ix.Eval(f, c.live, c.lookup).Equals(dec.Eval(f, c.live, c.lookup)), "filter %s", f)
				}
				c.ix = dec
			}
			// Removing everything leaves an empty index.
			it := c.live.Iterator()
			for it.HasNext() {
				s := it.Next()
				c.ix.Remove(s, c.recs[s].meta, c.recs[s].doc)
			}
			require.Empty(t, c.ix.fields)
			require.Empty(t, c.ix.trigrams)
			require.True(t, c.ix.docs.IsEmpty())
		})
	}
}

func TestEvalSemantics(t *testing.T) {
	doc := func(s string) *string { return &s }
	recs := []record{
		0: {meta: payload.Map{"n": int64(3), "s": "red", "tags": []string{"a", "b"}}, doc: doc("hello world")},
		1: {meta: payload.Map{"n": 3.0, "s": "3", "tags": []int64{1, 3}}, doc: doc("Hello")},
		2: {meta: payload.Map{"n": 3.5, "b": true, "tags": []float64{3.0}}},
		3: {meta: nil, doc: doc("")},
		4: {meta: payload.Map{"n": "3", "b": false, "tags": "a"}, doc: doc("worldly")},
	}
	c := &corpus{recs: recs, live: roaring.New(), ix: NewIndex(IndexOptions{})}
	for i, rec := range recs {
		c.ix.Add(uint32(i), rec.meta, rec.doc)
		c.live.Add(uint32(i))
	}
	tests := []struct {
		where, doc string
		want       []uint32
	}{
		{`{"n":3}`, "", []uint32{0, 1}},
		{`{"n":3.0}`, "", []uint32{0, 1}},
		{`{"n":"3"}`, "", []uint32{4}},
		{`{"s":3}`, "", nil},
		{`{"n":{"$ne":3}}`, "", []uint32{2, 3, 4}}, // missing key and other types match $ne
		{`{"n":{"$gte":3}}`, "", []uint32{0, 1, 2}},
		{`{"n":{"$gt":3}}`, "", []uint32{2}},
		{`{"n":{"$lt":3.5}}`, "", []uint32{0, 1}},
		{`{"n":{"$in":[3.5,"3"]}}`, "", nil}, // invalid: mixed types (checked below)
		{`{"n":{"$in":[3.5,7]}}`, "", []uint32{2}},
		{`{"n":{"$nin":[3]}}`, "", []uint32{2, 3, 4}},
		{`{"b":true}`, "", []uint32{2}},
		{`{"b":{"$ne":true}}`, "", []uint32{0, 1, 3, 4}},
		{`{"tags":{"$contains":"a"}}`, "", []uint32{0}}, // a scalar is not a list
		{`{"tags":{"$contains":3}}`, "", []uint32{1, 2}},
		{`{"tags":{"$not_contains":3}}`, "", []uint32{0, 3, 4}},
		{`{"tags":"a"}`, "", []uint32{4}}, // $eq never matches a list
		{`{"tags":{"$gt":0}}`, "", nil},
		{`{"#document":{"$contains":"world"}}`, "", []uint32{0, 4}},
		{`{"#document":{"$not_contains":"o"}}`, "", []uint32{2, 3}},
		{"", `{"$not_contains":"ell"}`, []uint32{2, 3, 4}}, // no document matches $not_contains
		{"", `{"$contains":"ell"}`, []uint32{0, 1}},
		{"", `{"$regex":"^[Hh]ello"}`, []uint32{0, 1}},
		{"", `{"$not_regex":"world"}`, []uint32{1, 2, 3}},
		{"", `{"$contains":"hello"}`, []uint32{0}}, // case-sensitive
		{`{"$or":[{"s":"red"},{"b":false}]}`, `{"$contains":"o"}`, []uint32{0, 4}},
	}
	for _, tt := range tests {
		f, err := Parse(obj(t, tt.where, false), obj(t, tt.doc, false))
		if strings.Contains(tt.where, `[3.5,"3"]`) {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		got := c.ix.Eval(f, c.live, c.lookup)
		want := roaring.BitmapOf(tt.want...)
		require.Equal(t, want.ToArray(), got.ToArray(), "%s %s", tt.where, tt.doc)
		require.Equal(t, want.ToArray(), c.oracle(f).ToArray(), "Match: %s %s", tt.where, tt.doc)
	}
	// nil filter: a clone of live.
	got := c.ix.Eval(nil, c.live, c.lookup)
	require.True(t, got.Equals(c.live))
	got.Add(99)
	require.False(t, c.live.Contains(99))
	require.True(t, (*Filter)(nil).Match(nil, nil))
	require.Positive(t, c.ix.MemoryBytes())
}

func TestEvalConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := newCorpus(r, 500, IndexOptions{})
	c.churn(r, 200) // leaves delta and dead pairs in the ordered indexes
	filters := make([]*Filter, 50)
	for i := range filters {
		filters[i] = randFilter(t, r)
	}
	want := make([]*roaring.Bitmap, len(filters))
	for i, f := range filters {
		want[i] = c.oracle(f)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, f := range filters {
				c.ix.MemoryBytes()
				if !c.ix.Eval(f, c.live, c.lookup).Equals(want[i]) {
					t.Errorf("filter %s differs", f)
				}
			}
		})
	}
	wg.Wait()
}

func TestDecodeIndexErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	c := newCorpus(r, 200, IndexOptions{SkipKeys: []string{"s"}})
	enc := c.ix.AppendBinary(nil)

	// More skipped keys than at encoding: fine, their indexes are dropped.
	dec, err := DecodeIndex(enc, IndexOptions{SkipKeys: []string{"s", "n"}})
	require.NoError(t, err)
	require.NotContains(t, dec.fields, "n")
	f, err := Parse(map[string]any{"n": map[string]any{"$gt": 5.0}}, nil)
	require.NoError(t, err)
	require.True(t, c.oracle(f).Equals(dec.Eval(f, c.live, c.lookup)))

	// A key that was skipped must now be indexed: refused.
	_, err = DecodeIndex(enc, IndexOptions{})
	require.ErrorIs(t, err, ErrSkipKeysChanged)

	// Every truncation and every single-byte corruption is refused.
	for i := range len(enc) {
		_, err := DecodeIndex(enc[:i], IndexOptions{SkipKeys: []string{"s"}})
		require.ErrorIs(t, err, ErrCorrupt, "truncated at %d", i)
	}
	for i := 0; i < len(enc); i += 7 {
		b := append([]byte(nil), enc...)
		b[i] ^= 0x41
		_, err := DecodeIndex(b, IndexOptions{SkipKeys: []string{"s"}})
		require.Error(t, err, "corrupted at %d", i)
	}
}

func FuzzDecodeIndex(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	c := newCorpus(r, 30, IndexOptions{})
	f.Add(c.ix.AppendBinary(nil))
	f.Add(NewIndex(IndexOptions{}).AppendBinary(nil))
	f.Add([]byte("SXFI\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Also try the input with a valid checksum, so that the fuzzer
		// reaches the decoder behind it.
		if len(b) >= 4 {
			fixed := append([]byte(nil), b...)
			body := fixed[:len(fixed)-4]
			binary.LittleEndian.PutUint32(fixed[len(body):], crc32.Checksum(body, castagnoli))
			fuzzDecode(t, fixed)
		}
		fuzzDecode(t, b)
	})
}

func fuzzDecode(t *testing.T, b []byte) {
	t.Helper()
	ix, err := DecodeIndex(b, IndexOptions{})
	if err != nil {
		return
	}
	ix.MemoryBytes()
	live := roaring.BitmapOf(0, 1, 2, 3, 100, 70000)
	for _, w := range []string{`{"n":{"$gt":1}}`, `{"s":"red"}`, `{"ls":{"$nin":["a"]}}`} {
		flt, err := Parse(obj(t, w, false), map[string]any{"$contains": "abcd"})
		if err != nil {
			t.Fatal(err)
		}
		ix.Eval(flt, live, func(uint32) (payload.Map, *string) { return nil, nil })
	}
	// Re-encoding a decoded index decodes again.
	if _, err := DecodeIndex(ix.AppendBinary(nil), IndexOptions{}); err != nil {
		t.Fatalf("re-encoded index does not decode: %v", err)
	}
}

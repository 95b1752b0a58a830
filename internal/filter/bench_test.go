package filter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/stretchr/testify/require"
)

// benchCorpus builds n records: "color" one of 10 strings, "price" an int in
// [0, 1000), "score" a float, and a document of random words.
func benchCorpus(n int) *corpus {
	r := rand.New(rand.NewPCG(11, 12))
	colors := []string{"red", "green", "blue", "cyan", "magenta", "yellow", "black", "white", "gray", "pink"}
	words := strings.Fields("the quick brown fox jumps over lazy dog vector database filter index query search " +
		"recall graph neighbor distance metric embedding payload roaring bitmap trigram")
	c := &corpus{live: roaring.New(), ix: NewIndex(IndexOptions{})}
	for i := range n {
		var sb strings.Builder
		for j := range 12 {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[r.IntN(len(words))])
		}
		fmt.Fprintf(&sb, " id%d", i)
		doc := sb.String()
		rec := record{
			meta: payload.Map{"color": colors[r.IntN(len(colors))], "price": int64(r.IntN(1000)), "score": r.Float64()},
			doc:  &doc,
		}
		c.recs = append(c.recs, rec)
		c.ix.Add(uint32(i), rec.meta, rec.doc)
		c.live.Add(uint32(i))
	}
	return c
}

func benchEval(b *testing.B, c *corpus, where, doc string) {
	f, err := Parse(obj(b, where, false), obj(b, doc, false))
	require.NoError(b, err)
	want := c.oracle(f)
	require.True(b, want.Equals(c.ix.Eval(f, c.live, c.lookup)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.ix.Eval(f, c.live, c.lookup)
	}
	b.ReportMetric(float64(want.GetCardinality()), "matches")
}

func BenchmarkEval(b *testing.B) {
	c := benchCorpus(100_000)
	b.Run("eq+range", func(b *testing.B) {
		benchEval(b, c, `{"$and":[{"color":"red"},{"price":{"$lt":300}}]}`, "")
	})
	b.Run("range-float", func(b *testing.B) {
		benchEval(b, c, `{"score":{"$gt":0.25}}`, "")
	})
	b.Run("doc-contains", func(b *testing.B) {
		benchEval(b, c, "", `{"$contains":"fox jumps"}`)
	})
	b.Run("doc-contains-rare", func(b *testing.B) {
		benchEval(b, c, "", `{"$contains":"id4242"}`)
	})
	b.Run("scan-baseline", func(b *testing.B) {
		// The same eq+range filter, answered by Match on every record.
		f, err := Parse(obj(b, `{"$and":[{"color":"red"},{"price":{"$lt":300}}]}`, false), nil)
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			c.oracle(f)
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	c := benchCorpus(1)
	b.ReportAllocs()
	ix := NewIndex(IndexOptions{})
	i := uint32(0)
	for b.Loop() {
		ix.Add(i, c.recs[0].meta, c.recs[0].doc)
		i++
	}
}

// rangeCorpus builds n records with one numeric key "u": a uniform int in
// [0, distinct) when distinct < n, otherwise a random permutation of [0, n)
// (n distinct values).
func rangeCorpus(n, distinct int) *corpus {
	r := rand.New(rand.NewPCG(13, 14))
	perm := r.Perm(n)
	c := &corpus{live: roaring.New(), ix: NewIndex(IndexOptions{})}
	for i := range n {
		u := perm[i]
		if distinct < n {
			u = r.IntN(distinct)
		}
		rec := record{meta: payload.Map{"u": int64(u)}}
		c.recs = append(c.recs, rec)
		c.ix.Add(uint32(i), rec.meta, nil)
		c.live.Add(uint32(i))
	}
	return c
}

// BenchmarkEvalRange evaluates {"u": {"$lt": P*distinct}} on 50k records,
// alone and ANDed with the live set, for low and high cardinality keys.
func BenchmarkEvalRange(b *testing.B) {
	const n = 50_000
	for _, distinct := range []int{100, n} {
		c := rangeCorpus(n, distinct)
		for _, pct := range []int{1, 10, 60} {
			b.Run(fmt.Sprintf("distinct=%d/sel=%d%%", distinct, pct), func(b *testing.B) {
				benchEval(b, c, fmt.Sprintf(`{"u":{"$lt":%d}}`, pct*distinct/100), "")
			})
		}
	}
}

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

package sextant

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sextantdb/sextant/internal/testutil"
)

// BenchmarkGuardrailDetection measures, at the default monitor budget, how
// long each finding kind takes to be raised on wordnet-use512 and
// glove-twitter-25 (cosine), live and after a crash (the data directory
// copied while the DB is open, then opened: what kill -9 leaves), and the
// monitor's CPU share with the metric check on. It is a measurement, not a
// test: figures go to the log and to ReportMetric.
//
//	go test -run '^$' -bench GuardrailDetection -benchtime 1x -timeout 30m .
func BenchmarkGuardrailDetection(b *testing.B) {
	if testing.Short() {
		b.Skip("a long measurement (minutes); run without -short")
	}
	for _, name := range []string{"wordnet-use512", "glove-twitter-25"} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				measureGuardrails(b, name)
			}
		})
	}
}

func measureGuardrails(b *testing.B, name string) {
	ds, err := testutil.LoadDataset(name, 0)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	db, err := Open(dir, nil) // the default budget: 4.5% of a core
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	coll := func(cname string, cfg *CollectionConfig, base [][]float32) *Collection {
		c, err := db.Default().CreateCollection(cname, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(base); i += 1000 {
			recs := make([]Record, 0, 1000)
			for j := i; j < min(i+1000, len(base)); j++ {
				recs = append(recs, Record{ID: "r" + strconv.Itoa(j), Embedding: base[j]})
			}
			if err := c.Add(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.WaitIndexed(); err != nil {
			b.Fatal(err)
		}
		return c
	}
	hold := len(ds.Base) / 10 // rows kept out of the build, for the batches below
	// HNSW from 1,000 records (GloVe's 9,833 would be served exactly, and
	// exact queries are not sampled: recall 1 by construction).
	main := coll("main", &CollectionConfig{Metric: Cosine, ExactThreshold: 1000}, ds.Base[:len(ds.Base)-hold])
	spare := ds.Base[len(ds.Base)-hold:]

	// The monitor's CPU share while queries run at a fixed rate, with the
	// metric check taking its first samples (its busiest phase).
	{
		h0, _ := main.Health()
		start := time.Now()
		const rate, dur = 200, 20 * time.Second
		tick := time.NewTicker(time.Second / rate)
		n := 0
		for time.Since(start) < dur {
			<-tick.C
			if _, err := main.Query(ctx, QueryOptions{Embeddings: [][]float32{ds.Queries[n%len(ds.Queries)]}, K: 10, Include: IncludeNone}); err != nil {
				b.Fatal(err)
			}
			n++
		}
		tick.Stop()
		el := time.Since(start)
		h1, _ := main.Health()
		spent := h1.Sampler.Spent - h0.Sampler.Spent
		share := spent.Seconds() / el.Seconds()
		b.Logf("%s: monitor CPU %.2f%% of one core over %v at %d q/s (%d exact re-runs, %d stored probes, %d metric-check passes; metric check %d samples, verdict %q)",
			name, 100*share, el.Round(time.Millisecond), rate, h1.Sampler.Live-h0.Sampler.Live, h1.Sampler.Stored-h0.Sampler.Stored,
			h1.Sampler.Other-h0.Sampler.Other, h1.Metric.Samples, h1.Metric.Verdict)
		b.ReportMetric(100*share, "monitor-cpu-%")
	}

	// rotated returns vs under a seeded random rotation ("another model").
	d := len(ds.Base[0])
	perm := rng.Perm(d)
	signs := make([]float32, d)
	for i := range signs {
		signs[i] = float32(1 - 2*rng.IntN(2))
	}
	rotate := func(v []float32) []float32 { // a signed permutation: orthogonal, cheap
		out := make([]float32, d)
		for i, j := range perm {
			out[i] = signs[i] * v[j]
		}
		return out
	}
	scale := func(v []float32, f float32) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = x * f
		}
		return out
	}
	batch := func(from, n int, f func(i int, v []float32) []float32) []Record {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{ID: fmt.Sprintf("x%d-%d", from, i), Embedding: f(i, spare[(from+i)%len(spare)])}
		}
		return recs
	}
	open := func(c *Collection, code string) bool {
		h, _ := c.Health()
		return slices.ContainsFunc(h.Findings, func(f OpenFinding) bool { return f.Code == code })
	}
	type result struct {
		code   string
		detect time.Duration
		units  string
	}
	var results []result
	// waitFor generates traffic with step until code is open in c (or the
	// bound passes), and reports the time from the first step.
	waitFor := func(c *Collection, code, unit string, step func(i int)) {
		start := time.Now()
		i := 0
		for ; !open(c, code) && time.Since(start) < 20*time.Second; i++ {
			step(i)
		}
		r := result{code: code, detect: time.Since(start), units: fmt.Sprintf("%d %s", i, unit)}
		if !open(c, code) {
			r.units += " (NOT RAISED)"
		}
		results = append(results, r)
	}
	off := 0
	write := func(c *Collection, f func(i int, v []float32) []float32) func(int) {
		return func(int) {
			if err := c.Add(ctx, batch(off, 100, f)); err != nil {
				b.Fatal(err)
			}
			off += 100
		}
	}
	if h, _ := main.Health(); h.Drift.UnitShare >= 0.99 {
		waitFor(main, "not_normalized", "batches of 100", write(main, func(_ int, v []float32) []float32 {
			return scale(v, float32(0.3+12.4*rng.Float64()))
		}))
	} else {
		waitFor(main, "norm_shift", "batches of 100", write(main, func(_ int, v []float32) []float32 { return scale(v, 3) }))
	}
	waitFor(main, "direction_shift", "batches of 100", write(main, func(_ int, v []float32) []float32 { return rotate(v) }))
	query := func(c *Collection, f func(q []float32) []float32) func(int) {
		return func(i int) {
			if _, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{f(ds.Queries[i%len(ds.Queries)])}, K: 10, Include: IncludeNone}); err != nil {
				b.Fatal(err)
			}
		}
	}

	// The wrong metric: the same vectors in an ip collection, each scaled
	// by a random norm (wordnet's are unit; GloVe's vary already).
	ipBase := make([][]float32, len(ds.Base)/5)
	for i := range ipBase {
		ipBase[i] = scale(ds.Base[i], float32(1+3*rng.Float64()))
	}
	ipc := coll("ip-unnormalized", &CollectionConfig{Metric: IP}, ipBase)
	waitFor(ipc, "metric_mismatch", "polls of 10 ms", func(int) { time.Sleep(10 * time.Millisecond) })

	// Recall below target with auto_ef off: degraded.
	if err := main.Modify(ModifyOptions{EfSearch: 10}); err != nil {
		b.Fatal(err)
	}
	if err := main.SetAutoEf(false); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	nq := 0
	for ; time.Since(start) < 3*time.Minute; nq++ {
		if h, _ := main.Health(); h.Status == "degraded" {
			break
		}
		query(main, func(q []float32) []float32 { return q })(nq)
	}
	h, _ := main.Health()
	deg := result{code: "degraded (ef 10, auto_ef off)", detect: time.Since(start), units: fmt.Sprintf("%d queries", nq)}
	if h.Status != "degraded" {
		deg.units += fmt.Sprintf(" (NOT REACHED: recall %.3f over %d samples)", h.Recall.Recall, h.Recall.Samples)
	}
	results = append(results, deg)

	// Queries from elsewhere (each kind's traffic is clean evidence for the
	// others, which it resolves: hence the last, combined window).
	waitFor(main, "query_norm_outlier", "queries", query(main, func(q []float32) []float32 { return scale(q, 10) }))
	waitFor(main, "query_direction_outlier", "queries", query(main, rotate))
	waitFor(main, "nearest_distance_shift", "queries", query(main, rotate))
	waitFor(main, "result_distance_high", "queries", query(main, func(q []float32) []float32 { return scale(q, -1) }))
	for i := range 400 {
		query(main, func(q []float32) []float32 { return scale(rotate(q), 10) })(i)
	}
	before := map[string][]string{}
	for _, c := range []*Collection{main, ipc} {
		h, _ := c.Health()
		for _, f := range h.Findings {
			before[c.Name()] = append(before[c.Name()], f.Code)
		}
	}

	// kill -9: the files as they are now, opened elsewhere.
	crash := b.TempDir()
	if err := copyTree(dir, crash); err != nil {
		b.Fatal(err)
	}
	ostart := time.Now()
	db2, err := Open(crash, nil)
	if err != nil {
		b.Fatal(err)
	}
	openTime := time.Since(ostart)
	defer db2.Close()
	for _, r := range results {
		b.Logf("%s: %-30s raised after %8v (%s)", name, r.code, r.detect.Round(time.Millisecond), r.units)
		b.ReportMetric(r.detect.Seconds(), strings.Fields(r.code)[0]+"-s")
	}
	for _, cn := range []string{"main", "ip-unnormalized"} {
		c, err := db2.Default().GetCollection(cn)
		if err != nil {
			b.Fatal(err)
		}
		h, _ := c.Health()
		var after []string
		for _, f := range h.Findings {
			after = append(after, f.Code)
		}
		b.Logf("%s: after the crash image opened (%v), %s: findings %v (before %v), status %s, ef %d, auto_ef %v, %d recall samples",
			name, openTime.Round(time.Millisecond), cn, after, before[cn], h.Status, h.EffectiveEf, h.AutoEf, h.Recall.Samples)
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

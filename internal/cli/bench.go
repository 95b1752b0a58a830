package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vec"
	"github.com/sextantdb/sextant/internal/vecio"
)

// benchFlags are sextant bench's flags.
type benchFlags struct {
	base, query, gt string
	metric          string
	k               int
	m               int
	efConstruction  int
	efs             []int
	threads         int
	queries         int
	runs            int
	json            bool
	dataDir         string
	reopen          bool
	pauses          bool
	// Filtered search.
	meta           string  // metadata JSON lines, one per base row
	where          string  // where clause (JSON) applied to every query
	selectivity    float64 // synthetic metadata and where matching this fraction
	selectivitySet bool    // --selectivity was given
	seed           uint64  // seed of the synthetic metadata
}

const (
	benchBatch   = 1000 // records per Upsert during the build
	benchWarmup  = 100  // warm-up queries before each measured pass
	benchGTWorks = 2    // goroutines computing exact ground truth
)

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench --base B.fvecs --query Q.fvecs [--gt G.ivecs] --metric cosine|l2|ip [flags]",
		Short: "Measure build time, memory, recall, QPS and latency on .fvecs data",
		Long: `Bench builds a fresh database (in a temporary directory, removed afterwards, or in
--data-dir) with one collection of the given metric, M and ef_construction, inserts every
base vector (ids "0".."N-1", in batches of 1,000 from --threads concurrent writers, with
--threads index workers, WAL without fsync and no checkpoint during the build) and times it
until the HNSW index is complete.

bytes_per_vector is the Go heap in use after the build (after runtime.GC) minus the heap in
use before it, divided by the number of vectors: vectors, graph, ids and records. It is the
figure to set against hnswlib-native's, which measures the process RSS the same way.

Then, for each --ef, it runs queries one at a time on one goroutine: 100 warm-up queries,
then --runs passes over the first --queries queries (0: all), and reports, for the fastest
pass, recall@k against the ground truth (the first k ids of each --gt row; without --gt the
exact neighbours are computed by brute force first), queries per second and p50/p99
latency. Without --ef it queries once at the collection's default ef_search.

Filtered search: --meta stores one JSON metadata object per base row (line i: row i) and
--where applies a Chroma where clause to every query; --selectivity P instead gives each row
synthetic metadata {"u": uniform int in [0, 1e6) (seeded by --seed), "side": "pos"|"neg"} and
filters on {"u": {"$lt": round(P×1e6)}}, so that the fraction P of the rows matches. The exact
ground truth is then the filtered one (brute force over the matching rows; --gt is refused),
and each query line also reports the matches, the fewest results a query returned, the plan
and the distance computations per query.

--pauses then measures query latency beside maintenance: one goroutine queries back to back
while 6% of the records (random rows) are deleted and written again (graph repair) and a
checkpoint runs; it reports the longest query, p99.9 and p99, and the same loop's figures
before, with nothing else running.

--json prints one JSON object per line, the format of shared/bench/hnswlib-native that
compare.py reads (docs/bench.md).`,
		Example: `  sextant bench --base ../shared/data/glove-twitter-25.base.fvecs \
    --query ../shared/data/glove-twitter-25.query.fvecs \
    --gt ../shared/data/glove-twitter-25.gt.ivecs --metric cosine --ef 10,20,40,80,160 --json
  sextant bench --base ../shared/data/wordnet-use512.base.fvecs \
    --query ../shared/data/wordnet-use512.query.fvecs --metric cosine --selectivity 0.01 --ef 40,100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.selectivitySet = cmd.Flags().Changed("selectivity")
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.base, "base", "", "base vectors (.fvecs), required")
	fl.StringVar(&f.query, "query", "", "query vectors (.fvecs), required")
	fl.StringVar(&f.gt, "gt", "", "ground truth (.ivecs): per query, its nearest base rows, nearest first; computed exactly when absent")
	fl.StringVar(&f.metric, "metric", "", "distance: cosine, l2 or ip, required")
	fl.IntVar(&f.k, "k", 10, "neighbours per query (recall@k)")
	fl.IntVar(&f.m, "m", sextant.DefaultM, "HNSW M")
	fl.IntVar(&f.efConstruction, "ef-construction", sextant.DefaultEfConstruction, "HNSW ef_construction")
	fl.IntSliceVar(&f.efs, "ef", nil, "comma-separated ef values to sweep (default: the collection's ef_search)")
	fl.IntVar(&f.threads, "threads", 0, "index build workers (default GOMAXPROCS)")
	fl.IntVar(&f.queries, "queries", 0, "queries measured per ef: the first N (0: all)")
	fl.IntVar(&f.runs, "runs", 1, "measured passes over the queries per ef; the fastest is reported (as hnswlib-native's --runs)")
	fl.BoolVar(&f.json, "json", false, "print JSON lines instead of a table")
	fl.BoolVar(&f.reopen, "reopen", false, "after the queries, close the database (final checkpoint) and time reopening it")
	fl.BoolVar(&f.pauses, "pauses", false, "after the queries, query without pause while 6% of the records are deleted and written again (graph repair) and a checkpoint runs, and report the longest query pauses")
	fl.StringVar(&f.dataDir, "data-dir", "", "build the database here and keep it (must be empty or absent; default: a temporary directory)")
	fl.StringVar(&f.meta, "meta", "", "metadata (.jsonl): one JSON object per base vector, line i for row i")
	fl.StringVar(&f.where, "where", "", `where clause (JSON) applied to every query, e.g. '{"c": {"$in": ["a","b"]}}'`)
	fl.Float64Var(&f.selectivity, "selectivity", 0, `synthetic metadata and a where clause matching this fraction P of the rows, 0 < P <= 1 (excludes --meta, --where)`)
	fl.Uint64Var(&f.seed, "seed", 1, "seed of --selectivity's synthetic metadata")
	for _, name := range []string{"base", "query", "metric"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// buildLine and queryLine are the JSON lines; field order is the format's.
type buildLine struct {
	Phase          string  `json:"phase"`
	Engine         string  `json:"engine"`
	Vectors        int     `json:"vectors"`
	Dim            int     `json:"dim"`
	Seconds        float64 `json:"seconds"`
	VectorsPerS    float64 `json:"vectors_per_s"`
	Threads        int     `json:"threads"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	// Extra keys (allowed after the format's).
	Metric         string `json:"metric"`
	M              int    `json:"m"`
	EfConstruction int    `json:"ef_construction"`
}

type queryLine struct {
	Phase   string  `json:"phase"`
	Engine  string  `json:"engine"`
	Ef      int     `json:"ef"`
	K       int     `json:"k"`
	Recall  float64 `json:"recall"`
	QPS     float64 `json:"qps"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	Threads int     `json:"threads"`
	// Extra keys.
	Queries              int            `json:"queries"`
	Matches              int            `json:"matches"`     // records matching the filter (all without one)
	MinResults           int            `json:"min_results"` // fewest results of a measured query
	Plan                 string         `json:"plan"`        // the plan kind used (the most frequent)
	Plans                map[string]int `json:"plans,omitempty"`
	DistanceComputations float64        `json:"distance_computations"` // mean per query
	Fallbacks            int            `json:"fallbacks,omitempty"`   // queries where exact search took over
}

func (f *benchFlags) validate() (vec.Metric, error) {
	m, err := vec.ParseMetric(f.metric)
	if err != nil {
		return 0, fmt.Errorf("--metric: %w", err)
	}
	switch {
	case f.k < 1 || f.k > 4096:
		return 0, fmt.Errorf("--k %d out of range [1, 4096]", f.k)
	case f.m < 2 || f.m > 256:
		return 0, fmt.Errorf("--m %d out of range [2, 256]", f.m)
	case f.efConstruction < 1 || f.efConstruction > 4096:
		return 0, fmt.Errorf("--ef-construction %d out of range [1, 4096]", f.efConstruction)
	case f.threads < 0:
		return 0, fmt.Errorf("--threads %d < 0", f.threads)
	case f.queries < 0:
		return 0, fmt.Errorf("--queries %d < 0", f.queries)
	case f.runs < 1 || f.runs > 100:
		return 0, fmt.Errorf("--runs %d out of range [1, 100]", f.runs)
	}
	for _, ef := range f.efs {
		if ef < 1 || ef > 4096 {
			return 0, fmt.Errorf("--ef %d out of range [1, 4096]", ef)
		}
	}
	switch {
	case f.selectivitySet && !(f.selectivity > 0 && f.selectivity <= 1):
		return 0, fmt.Errorf("--selectivity %v out of range (0, 1]", f.selectivity)
	case f.selectivitySet && (f.meta != "" || f.where != ""):
		return 0, errors.New("--selectivity generates the metadata and the where clause: it excludes --meta and --where")
	case f.gt != "" && (f.where != "" || f.selectivitySet):
		return 0, errors.New("--gt is unfiltered ground truth: it cannot be used with --where or --selectivity (without --gt the filtered ground truth is computed)")
	}
	if f.threads == 0 {
		f.threads = runtime.GOMAXPROCS(0)
	}
	return m, nil
}

// benchData is the input of a run, loaded and checked.
type benchData struct {
	base, queries *vecio.Matrix[float32] // queries: only those measured
	allQueries    *vecio.Matrix[float32] // for the warm-up
	gt            *vecio.Matrix[int32]   // one row per measured query: ≥ k ids, or all matches when fewer
	filter        *benchFilter
}

func loadBenchData(f *benchFlags, metric vec.Metric, stderr io.Writer) (*benchData, error) {
	base, err := vecio.ReadFvecsFile(f.base, 0)
	if err != nil {
		return nil, fmt.Errorf("--base: %w", err)
	}
	qs, err := vecio.ReadFvecsFile(f.query, 0)
	if err != nil {
		return nil, fmt.Errorf("--query: %w", err)
	}
	if qs.Dim != base.Dim {
		return nil, fmt.Errorf("dimension mismatch: base vectors (%s) have %d dimensions, queries (%s) have %d",
			f.base, base.Dim, f.query, qs.Dim)
	}
	if f.k > base.Len() {
		return nil, fmt.Errorf("--k %d is more than the %d base vectors", f.k, base.Len())
	}
	d := &benchData{base: base, allQueries: qs, queries: qs.Head(f.queries)}
	if d.filter, err = loadBenchFilter(f, base); err != nil {
		return nil, err
	}
	nq := d.queries.Len()
	if f.gt == "" {
		if d.filter.f != nil {
			fmt.Fprintf(stderr, "computing exact filtered ground truth (%d queries × %d matching of %d vectors, %s)...\n",
				nq, len(d.filter.rows), base.Len(), metric)
			d.gt = exactKNNRows(base, d.queries, metric, f.k, benchGTWorks, d.filter.rows)
			return d, nil
		}
		fmt.Fprintf(stderr, "computing exact ground truth (%d queries × %d vectors, %s)...\n", nq, base.Len(), metric)
		d.gt = exactKNN(base, d.queries, metric, f.k, benchGTWorks)
		return d, nil
	}
	gt, err := vecio.ReadIvecsFile(f.gt, nq)
	if err != nil {
		return nil, fmt.Errorf("--gt: %w", err)
	}
	switch {
	case gt.Len() < nq:
		return nil, fmt.Errorf("--gt %s has %d rows, fewer than the %d queries measured", f.gt, gt.Len(), nq)
	case gt.Dim < f.k:
		return nil, fmt.Errorf("--gt %s has %d ids per query, fewer than --k %d", f.gt, gt.Dim, f.k)
	}
	for i := range nq {
		for _, id := range gt.Row(i)[:f.k] {
			if id < 0 || int(id) >= base.Len() {
				return nil, fmt.Errorf("--gt %s row %d: id %d is not a base row (the base has %d vectors; wrong --gt?)", f.gt, i, id, base.Len())
			}
		}
	}
	d.gt = gt
	return d, nil
}

func runBench(ctx context.Context, stdout, stderr io.Writer, f benchFlags) (retErr error) {
	if ctx == nil {
		ctx = context.Background()
	}
	metric, err := f.validate()
	if err != nil {
		return err
	}
	data, err := loadBenchData(&f, metric, stderr)
	if err != nil {
		return err
	}

	dir := f.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sextant-bench-"); err != nil {
			return err
		}
		defer func() { retErr = errors.Join(retErr, os.RemoveAll(dir)) }()
	} else if names, err := os.ReadDir(dir); err == nil && len(names) > 0 {
		return fmt.Errorf("--data-dir %s is not empty; bench needs a fresh database", dir)
	}
	opts := &sextant.Options{
		Logger:          slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ExactThreshold:  1, // build the HNSW index from the first record on
		NoSync:          true,
		Workers:         f.threads,
		CheckpointBytes: math.MaxInt64, // no checkpoint during the build
	}
	db, err := sextant.Open(dir, opts)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		if db != nil {
			retErr = errors.Join(retErr, db.Close())
		}
	}()
	coll, err := db.Default().CreateCollection("bench", &sextant.CollectionConfig{
		Dimension: data.base.Dim, Metric: sextant.Metric(metric.String()),
		M: f.m, EfConstruction: f.efConstruction, ExactThreshold: 1,
	})
	if err != nil {
		return fmt.Errorf("create collection: %w", err)
	}

	build, err := benchBuild(ctx, coll, data.base, data.filter.metas, f.threads, !f.json && isTerminal(stderr), stderr)
	if err != nil {
		return err
	}
	build.Metric, build.M, build.EfConstruction = metric.String(), f.m, f.efConstruction

	out := newBenchPrinter(stdout, f.json)
	if err := out.build(build); err != nil {
		return err
	}
	efs := f.efs
	if len(efs) == 0 {
		efs = []int{0}
	}
	for _, ef := range efs {
		q, err := benchQueries(ctx, coll, data, ef, f.k, f.runs)
		if err != nil {
			return err
		}
		if err := out.query(q); err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	if f.pauses {
		line, err := benchPauses(ctx, coll, data, f.k, f.seed)
		if err != nil {
			return err
		}
		if f.json {
			if err := json.NewEncoder(stdout).Encode(line); err != nil {
				return err
			}
		} else if _, err := fmt.Fprintf(stdout, "\nquery pauses beside maintenance (%d queries): max %.2f ms, p99.9 %.2f ms, p99 %.2f ms; quiet: max %.2f ms, p99 %.2f ms\n"+
			"  delete %d + rewrite (repairs %d, last repair's pause %.2f ms): %.2f s; checkpoint: %.2f s\n",
			line.Queries, line.MaxMs, line.P999Ms, line.P99Ms, line.QuietMaxMs, line.QuietP99Ms,
			line.Churned, line.Repairs, line.RepairPauseMs, line.ChurnSeconds, line.CheckpointSeconds); err != nil {
			return err
		}
	}
	if !f.reopen {
		return nil
	}
	// Close (writes the final checkpoint), then time a reopen and a first query.
	start := time.Now()
	err = db.Close()
	db = nil
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	closeSecs := time.Since(start).Seconds()
	start = time.Now()
	if db, err = sextant.Open(dir, opts); err != nil {
		return fmt.Errorf("reopen database: %w", err)
	}
	coll, err = db.Default().GetCollection("bench")
	if err != nil {
		return err
	}
	res, err := coll.Query(ctx, sextant.QueryOptions{Embeddings: [][]float32{data.queries.Row(0)}, K: f.k, Explain: true})
	if err != nil {
		return fmt.Errorf("query after reopen: %w", err)
	}
	openSecs := time.Since(start).Seconds()
	if n, _ := coll.Count(ctx); n != data.base.Len() || res.Plans[0].Kind != "hnsw" {
		return fmt.Errorf("after reopen: %d records, plan %q; want %d and hnsw", n, res.Plans[0].Kind, data.base.Len())
	}
	line := reopenLine{Phase: "reopen", Engine: "sextant", Vectors: data.base.Len(), Dim: data.base.Dim,
		Seconds: round(openSecs, 3), CloseSeconds: round(closeSecs, 3)}
	if f.json {
		return json.NewEncoder(stdout).Encode(line)
	}
	_, err = fmt.Fprintf(stdout, "\nclose with final checkpoint: %.3f s; reopen + first query: %.3f s (index loaded from the checkpoint)\n", closeSecs, openSecs)
	return err
}

// pausesLine is printed with --pauses (compare.py ignores its phase).
type pausesLine struct {
	Phase             string  `json:"phase"`
	Engine            string  `json:"engine"`
	Vectors           int     `json:"vectors"`
	Queries           int     `json:"queries"` // measured beside the maintenance
	MaxMs             float64 `json:"max_ms"`
	P999Ms            float64 `json:"p999_ms"`
	P99Ms             float64 `json:"p99_ms"`
	QuietMaxMs        float64 `json:"quiet_max_ms"` // the same queries before, nothing else running
	QuietP99Ms        float64 `json:"quiet_p99_ms"`
	Churned           int     `json:"churned"`
	Repairs           int64   `json:"repairs"`
	RepairPauseMs     float64 `json:"repair_pause_ms"` // the last repair's exclusive pass
	ChurnSeconds      float64 `json:"churn_seconds"`
	CheckpointSeconds float64 `json:"checkpoint_seconds"`
	// The longest query of each part: the deletes and rewrites with the
	// indexer and the repair beside them, then the checkpoint alone.
	ChurnMaxMs      float64 `json:"churn_max_ms"`
	CheckpointMaxMs float64 `json:"checkpoint_max_ms"`
}

// benchPauses measures the query latencies while maintenance runs: one
// goroutine queries back to back (the query set in a loop, at the
// collection's ef) while the main one deletes 6% of the records (random
// rows, in batches of 1,000), writes them again (the first write after the
// deletes waits for graph repair), waits for the indexer, and writes a
// checkpoint. The same loop without maintenance gives the quiet figures.
func benchPauses(ctx context.Context, coll *sextant.Collection, data *benchData, k int, seed uint64) (pausesLine, error) {
	n := data.base.Len()
	line := pausesLine{Phase: "pauses", Engine: "sextant", Vectors: n}
	// query runs queries until stop, which sees each one's latency (0
	// before the first).
	query := func(stop func(last time.Duration) bool) ([]time.Duration, error) {
		var lat []time.Duration
		for i := 0; ; i++ {
			last := time.Duration(0)
			if len(lat) > 0 {
				last = lat[len(lat)-1]
			}
			if stop(last) {
				break
			}
			q := data.queries.Row(i % data.queries.Len())
			start := time.Now()
			if _, err := coll.Query(ctx, sextant.QueryOptions{Embeddings: [][]float32{q}, K: k, Include: sextant.IncludeNone}); err != nil {
				return lat, err
			}
			lat = append(lat, time.Since(start))
		}
		return lat, nil
	}
	quietEnd := time.Now().Add(2 * time.Second)
	quiet, err := query(func(time.Duration) bool { return time.Now().After(quietEnd) })
	if err != nil {
		return line, err
	}
	slices.Sort(quiet)
	line.QuietMaxMs, line.QuietP99Ms = round(ms(quiet[len(quiet)-1]), 3), round(percentile(quiet, 0.99)/1000, 3)

	var done, inCheckpoint atomic.Bool
	var lat []time.Duration
	var churnMax, ckptMax time.Duration
	var qerr error
	var wg sync.WaitGroup
	wg.Go(func() {
		lat, qerr = query(func(last time.Duration) bool {
			m := &churnMax
			if inCheckpoint.Load() {
				m = &ckptMax // (a query that began before it counts here)
			}
			*m = max(*m, last)
			return done.Load()
		})
	})
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := rng.Perm(n)[:n*6/100]
	before, _ := coll.Stats()
	start := time.Now()
	err = func() error {
		for i := 0; i < len(rows); i += benchBatch {
			ids := make([]string, 0, benchBatch)
			for _, r := range rows[i:min(i+benchBatch, len(rows))] {
				ids = append(ids, strconv.Itoa(r))
			}
			if _, err := coll.Delete(ctx, ids); err != nil {
				return err
			}
		}
		for i := 0; i < len(rows); i += benchBatch {
			recs := make([]sextant.Record, 0, benchBatch)
			for _, r := range rows[i:min(i+benchBatch, len(rows))] {
				recs = append(recs, sextant.Record{ID: strconv.Itoa(r), Embedding: data.base.Row(r)})
			}
			if err := coll.Upsert(ctx, recs); err != nil {
				return err
			}
		}
		if err := coll.WaitIndexed(); err != nil {
			return err
		}
		line.ChurnSeconds = round(time.Since(start).Seconds(), 3)
		ck := time.Now()
		inCheckpoint.Store(true)
		if err := coll.Checkpoint(); err != nil {
			return err
		}
		line.CheckpointSeconds = round(time.Since(ck).Seconds(), 3)
		return nil
	}()
	done.Store(true)
	wg.Wait()
	if err != nil {
		return line, fmt.Errorf("maintenance: %w", err)
	}
	if qerr != nil {
		return line, fmt.Errorf("query beside maintenance: %w", qerr)
	}
	after, _ := coll.Stats()
	slices.Sort(lat)
	line.Queries, line.Churned = len(lat), len(rows)
	line.Repairs, line.RepairPauseMs = after.Repairs-before.Repairs, round(after.LastRepairPauseSecs*1000, 3)
	if len(lat) > 0 {
		line.MaxMs = round(ms(lat[len(lat)-1]), 3)
		line.P999Ms = round(percentile(lat, 0.999)/1000, 3)
		line.P99Ms = round(percentile(lat, 0.99)/1000, 3)
	}
	line.ChurnMaxMs, line.CheckpointMaxMs = round(ms(churnMax), 3), round(ms(ckptMax), 3)
	return line, nil
}

// reopenLine is printed with --reopen (compare.py ignores its phase).
type reopenLine struct {
	Phase        string  `json:"phase"`
	Engine       string  `json:"engine"`
	Vectors      int     `json:"vectors"`
	Dim          int     `json:"dim"`
	Seconds      float64 `json:"seconds"`
	CloseSeconds float64 `json:"close_seconds"`
}

// benchBuild inserts base as ids "0".."N-1", with metas[i] (when metas is
// not nil) as row i's metadata, and waits for the index.
func benchBuild(ctx context.Context, coll *sextant.Collection, base *vecio.Matrix[float32], metas []payload.Map, threads int, progress bool, stderr io.Writer) (buildLine, error) {
	n := base.Len()
	heapBefore := heapInUse()
	bar := progressBar{w: stderr, on: progress, total: n}
	start := time.Now()
	// threads writers take batches in turn: one's WAL append and apply
	// overlap another's graph inserts, as with concurrent clients (with one
	// writer a core sat idle during each WAL append; fashion-mnist-784
	// builds ~7% faster with two).
	var (
		mu       sync.Mutex // guards next, written, firstErr and bar
		next     int
		written  int
		firstErr error
		wg       sync.WaitGroup
	)
	for range max(1, threads) {
		wg.Go(func() {
			recs := make([]sextant.Record, 0, benchBatch)
			for {
				mu.Lock()
				i := next
				next += benchBatch
				stop := firstErr != nil
				mu.Unlock()
				if stop || i >= n {
					return
				}
				recs = recs[:0]
				for j := i; j < min(i+benchBatch, n); j++ {
					r := sextant.Record{ID: strconv.Itoa(j), Embedding: base.Row(j)}
					if metas != nil {
						r.Metadata = metas[j]
					}
					recs = append(recs, r)
				}
				err := coll.Upsert(ctx, recs)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("insert base rows %d..%d: %w", i, i+len(recs)-1, err)
				}
				written += len(recs)
				bar.set(written)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		bar.done()
		return buildLine{}, firstErr
	}
	bar.waiting()
	if err := coll.WaitIndexed(); err != nil {
		bar.done()
		return buildLine{}, fmt.Errorf("build index: %w", err)
	}
	secs := time.Since(start).Seconds()
	bar.done()
	st, err := coll.Stats()
	if err != nil {
		return buildLine{}, err
	}
	if st.Live != n || st.Mode != "hnsw" {
		return buildLine{}, fmt.Errorf("after the build the collection has %d records in mode %q, want %d in mode \"hnsw\"", st.Live, st.Mode, n)
	}
	heapAfter := heapInUse()
	return buildLine{
		Phase: "build", Engine: "sextant", Vectors: n, Dim: base.Dim,
		Seconds: round(secs, 3), VectorsPerS: round(float64(n)/secs, 1), Threads: threads,
		BytesPerVector: round((float64(heapAfter)-float64(heapBefore))/float64(n), 1),
	}, nil
}

// heapInUse returns the Go heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// benchQueries runs the warm-up, then runs measured passes (the fastest one
// is reported), at ef (0: the collection's default), with the run's filter if
// it has one.
func benchQueries(ctx context.Context, coll *sextant.Collection, data *benchData, ef, k, runs int) (queryLine, error) {
	emb := make([][]float32, 1)
	opts := sextant.QueryOptions{Embeddings: emb, K: k, Ef: ef, Include: sextant.IncludeNone, Explain: true}
	filtered := data.filter != nil && data.filter.f != nil
	if filtered {
		opts.Where = data.filter.where
	}
	all := data.allQueries
	for i := range benchWarmup {
		emb[0] = all.Row(i % all.Len())
		res, err := coll.Query(ctx, opts)
		if err != nil {
			return queryLine{}, fmt.Errorf("query %d at ef %d: %w", i%all.Len(), ef, err)
		}
		if i == 0 && !filtered && res.Plans[0].Kind != "hnsw" {
			return queryLine{}, fmt.Errorf("queries at ef %d use the %q plan, not the HNSW index", ef, res.Plans[0].Kind)
		}
	}
	nq := data.queries.Len()
	lat := make([]time.Duration, nq)
	best := make([]time.Duration, nq)
	ids := make([][]string, nq)
	plans := make([]sextant.Plan, nq)
	wall := math.Inf(1)
	for range runs {
		start := time.Now()
		for i := range nq {
			emb[0] = data.queries.Row(i)
			t := time.Now()
			res, err := coll.Query(ctx, opts)
			lat[i] = time.Since(t)
			if err != nil {
				return queryLine{}, fmt.Errorf("query %d at ef %d: %w", i, ef, err)
			}
			ids[i], plans[i] = res.IDs[0], res.Plans[0]
		}
		if w := time.Since(start).Seconds(); w < wall {
			wall = w
			copy(best, lat)
		}
	}
	lat = best

	matches := data.base.Len()
	if filtered {
		matches = len(data.filter.rows)
	}
	var recall float64
	for i, got := range ids {
		if plans[i].Matches != matches {
			return queryLine{}, fmt.Errorf("BUG: query %d at ef %d: the engine counts %d matching records, the brute-force filter %d",
				i, ef, plans[i].Matches, matches)
		}
		truth := data.gt.Row(i)
		truth = truth[:min(k, len(truth))]
		if len(truth) == 0 {
			recall++ // nothing to find
			continue
		}
		hits := 0
		for _, s := range got {
			row, err := strconv.Atoi(s)
			if err != nil {
				return queryLine{}, fmt.Errorf("BUG: query %d returned id %q, not a row number", i, s)
			}
			if slices.Contains(truth, int32(row)) {
				hits++
			}
		}
		recall += float64(hits) / float64(len(truth))
	}
	if ef == 0 {
		ef = coll.Config().EfSearch
	}
	slices.Sort(lat)
	q := queryLine{
		Phase: "query", Engine: "sextant", Ef: ef, K: k,
		Recall: round(recall/float64(max(nq, 1)), 4),
		QPS:    round(float64(nq)/wall, 1),
		P50us:  round(percentile(lat, 0.50), 2), P99us: round(percentile(lat, 0.99), 2),
		Threads: 1, Queries: nq, Matches: matches,
	}
	summarizePlans(&q, ids, plans)
	return q, nil
}

// summarizePlans fills q's min_results, plan, plans, distance_computations
// and fallbacks from the measured queries' results and plans.
func summarizePlans(q *queryLine, ids [][]string, plans []sextant.Plan) {
	counts := map[string]int{}
	var dists int
	q.MinResults = -1
	for i, p := range plans {
		counts[p.Kind]++
		dists += p.DistanceComputations
		if p.Fallback {
			q.Fallbacks++
		}
		if q.MinResults < 0 || len(ids[i]) < q.MinResults {
			q.MinResults = len(ids[i])
		}
	}
	q.MinResults = max(q.MinResults, 0)
	for kind, n := range counts {
		// The most frequent; ties by name, for a stable output.
		if n > counts[q.Plan] || (n == counts[q.Plan] && kind < q.Plan) {
			q.Plan = kind
		}
	}
	if len(counts) > 1 {
		q.Plans = counts
	}
	if len(plans) > 0 {
		q.DistanceComputations = round(float64(dists)/float64(len(plans)), 1)
	}
}

// percentile returns the nearest-rank p-quantile of sorted, in µs.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// benchPrinter writes JSON lines or a table.
type benchPrinter struct {
	json bool
	enc  *json.Encoder
	tw   *tabwriter.Writer
	w    io.Writer
}

func newBenchPrinter(w io.Writer, asJSON bool) *benchPrinter {
	return &benchPrinter{json: asJSON, w: w, enc: json.NewEncoder(w), tw: tabwriter.NewWriter(w, 10, 0, 2, ' ', tabwriter.AlignRight)}
}

func (p *benchPrinter) build(b buildLine) error {
	if p.json {
		return p.enc.Encode(b)
	}
	_, err := fmt.Fprintf(p.w, "build: %d vectors × %d dims, %s, M %d, ef_construction %d, %d threads\n"+
		"       %.3f s (%.0f vectors/s), %.1f bytes/vector (Go heap)\n\n",
		b.Vectors, b.Dim, b.Metric, b.M, b.EfConstruction, b.Threads, b.Seconds, b.VectorsPerS, b.BytesPerVector)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(p.tw, "ef\tk\trecall\tQPS\tp50 µs\tp99 µs\tqueries\tmatches\tmin results\t  plan")
	return err
}

func (p *benchPrinter) query(q queryLine) error {
	if p.json {
		return p.enc.Encode(q)
	}
	plan := q.Plan
	if len(q.Plans) > 1 {
		kinds := slices.Sorted(maps.Keys(q.Plans))
		parts := make([]string, len(kinds))
		for i, kind := range kinds {
			parts[i] = fmt.Sprintf("%s %d", kind, q.Plans[kind])
		}
		plan = strings.Join(parts, ", ")
	}
	// Rows are flushed one at a time, so each is aligned on its own: the
	// min results column is padded to its header's width, and the plan,
	// of varying width, is the line's last cell, outside the columns.
	if _, err := fmt.Fprintf(p.tw, "%d\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%11d\t  %s\n",
		q.Ef, q.K, q.Recall, q.QPS, q.P50us, q.P99us, q.Queries, q.Matches, q.MinResults, plan); err != nil {
		return err
	}
	return p.tw.Flush() // a row at a time: a sweep can take minutes
}

func (p *benchPrinter) flush() error {
	if p.json {
		return nil
	}
	return p.tw.Flush()
}

// progressBar draws the build's progress on a terminal.
type progressBar struct {
	w     io.Writer
	on    bool
	total int
	last  time.Time
}

func (b *progressBar) set(n int) {
	if !b.on || (time.Since(b.last) < 100*time.Millisecond && n < b.total) {
		return
	}
	b.last = time.Now()
	const width = 40
	fill := width * n / max(b.total, 1)
	fmt.Fprintf(b.w, "\rbuild [%s%s] %3d%% %d/%d", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), 100*n/max(b.total, 1), n, b.total)
}

func (b *progressBar) waiting() {
	if b.on {
		fmt.Fprintf(b.w, "\rbuild: waiting for the background index build to finish...%s", strings.Repeat(" ", 20))
	}
}

func (b *progressBar) done() {
	if b.on {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", 80))
	}
}

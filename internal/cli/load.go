package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
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
	"github.com/sextantdb/sextant/internal/vecio"
)

// loadConfig is what runLoad needs; tests fill it directly.
type loadConfig struct {
	url         string // server base URL, no trailing slash
	token       string
	collection  string
	base        [][]float32
	queries     [][]float32
	clients     int
	duration    time.Duration
	upsertRatio float64
	k           int
	batch       int // query vectors per query request, rows per upsert
	serverPID   int // 0: RSS from the server's /metrics
	embedded    bool
	indexWait   time.Duration // longest wait for a background index build
	seed        uint64
	httpClient  *http.Client // nil: one sized for clients
	progress    io.Writer    // nil: no progress lines
}

const (
	loadBatch        = 500 // rows per add while loading the base vectors
	loadErrorSamples = 5
	kindQuery        = "query"
	kindUpsert       = "upsert"
)

// kindReport is the figures of one kind of request.
type kindReport struct {
	Requests int64   `json:"requests"`
	RPS      float64 `json:"requests_per_second"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// runReport is one timed run of the mix, over HTTP or embedded.
type runReport struct {
	Mode          string                `json:"mode"` // http or embedded
	LoadedRows    int                   `json:"loaded_rows"`
	LoadSecs      float64               `json:"load_seconds"`
	IndexWaitSecs float64               `json:"index_wait_seconds"`
	Seconds       float64               `json:"seconds"`
	Requests      int64                 `json:"requests"`
	RPS           float64               `json:"requests_per_second"`
	Kinds         map[string]kindReport `json:"kinds"`
	Errors        int64                 `json:"errors"`
	ErrorSamples  []string              `json:"error_samples,omitempty"`
	RSSStartBytes int64                 `json:"rss_start_bytes"`
	RSSEndBytes   int64                 `json:"rss_end_bytes"`
	RSSSource     string                `json:"rss_source"`
}

// loadReport is sextant load's output.
type loadReport struct {
	URL         string     `json:"url"`
	Collection  string     `json:"collection"`
	BaseRows    int        `json:"base_rows"`
	Queries     int        `json:"queries"`
	Dim         int        `json:"dim"`
	Clients     int        `json:"clients"`
	Duration    float64    `json:"duration_seconds"`
	UpsertRatio float64    `json:"upsert_ratio"`
	K           int        `json:"k"`
	Batch       int        `json:"batch"`
	GOMAXPROCS  int        `json:"gomaxprocs"`
	HTTP        *runReport `json:"http"`
	Embedded    *runReport `json:"embedded,omitempty"`
	// Overhead of HTTP+JSON against the embedded API for the same mix:
	// HTTP p50 / embedded p50 per kind, and embedded requests/s / HTTP's.
	Overhead *overheadReport `json:"overhead,omitempty"`
}

type overheadReport struct {
	QueryP50Ratio   float64 `json:"query_p50_ratio"`
	UpsertP50Ratio  float64 `json:"upsert_p50_ratio,omitempty"`
	ThroughputRatio float64 `json:"throughput_ratio"`
}

func newLoadCmd() *cobra.Command {
	var (
		cfg               loadConfig
		baseFile, qFile   string
		maxBase, maxQuery int
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "load --url URL --base B.fvecs --query Q.fvecs [flags]",
		Short: "Load-test a running sextant serve (or any Chroma v2 server) over HTTP",
		Long: `Load creates (get-or-create) --collection with hnsw:space cosine on the server at --url,
adds the --base vectors in batches of 500 (ids "0".."N-1", metadata {"rev": 0}, embeddings
base64-encoded as the chromadb client sends them) unless the collection already holds that
many records, waits for a background index build to finish (the server's
sextant_collection_index_building metric), then runs --clients goroutines for --duration.
Each request is a query (--batch random query vectors, n_results --k, include metadatas and
distances) with probability 1 − --upsert-ratio, else an upsert of --batch random base rows
with a new metadata value {"rev": n}.

It reports requests/s overall and per kind, p50/p99/max latency per kind, errors (count and
the first few messages) and the server's RSS at start and end: /proc/PID/status VmRSS with
--server-pid, else the process_resident_memory_bytes metric from --url/metrics.

--embedded then runs the same mix in-process against the embedded API (sextant.Open on a
temporary directory, the same vectors loaded and indexed) and reports the HTTP+JSON
overhead: HTTP p50 / embedded p50 per kind and embedded requests/s / HTTP requests/s. The
load generator shares the machine with the server, so HTTP figures include its own CPU.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if baseFile == "" || qFile == "" {
				return errors.New("--base and --query are required")
			}
			if cfg.clients <= 0 || cfg.k <= 0 || cfg.batch <= 0 || cfg.duration <= 0 {
				return errors.New("--clients, --k, --batch and --duration must be > 0")
			}
			if cfg.upsertRatio < 0 || cfg.upsertRatio > 1 {
				return fmt.Errorf("--upsert-ratio %v: want 0..1", cfg.upsertRatio)
			}
			base, err := vecio.ReadFvecsFile(baseFile, maxBase)
			if err != nil {
				return err
			}
			qs, err := vecio.ReadFvecsFile(qFile, maxQuery)
			if err != nil {
				return err
			}
			cfg.base, cfg.queries = rows(base), rows(qs)
			if len(cfg.base) == 0 || len(cfg.queries) == 0 {
				return errors.New("no base or query vectors")
			}
			cfg.url = strings.TrimRight(cfg.url, "/")
			if !asJSON {
				cfg.progress = cmd.ErrOrStderr()
			}
			rep, err := runLoad(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printLoadReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.url, "url", "http://127.0.0.1:8000", "server base URL")
	fl.StringVar(&baseFile, "base", "", "base vectors (.fvecs)")
	fl.StringVar(&qFile, "query", "", "query vectors (.fvecs)")
	fl.IntVar(&maxBase, "max-base", 0, "use only the first N base vectors (0: all)")
	fl.IntVar(&maxQuery, "max-query", 0, "use only the first N query vectors (0: all)")
	fl.StringVar(&cfg.collection, "collection", "load", "collection name (get-or-create)")
	fl.IntVar(&cfg.clients, "clients", 16, "concurrent clients")
	fl.DurationVar(&cfg.duration, "duration", 60*time.Second, "how long to run the mix")
	fl.Float64Var(&cfg.upsertRatio, "upsert-ratio", 0.1, "fraction of requests that are upserts")
	fl.IntVar(&cfg.k, "k", 10, "n_results of each query")
	fl.IntVar(&cfg.batch, "batch", 1, "query vectors per query request and rows per upsert request")
	fl.StringVar(&cfg.token, "token", "", "API key (sent as x-chroma-token)")
	fl.IntVar(&cfg.serverPID, "server-pid", 0, "server process id, to read its RSS from /proc (default: its /metrics)")
	fl.BoolVar(&cfg.embedded, "embedded", false, "also run the mix against the embedded API and report the HTTP overhead")
	fl.DurationVar(&cfg.indexWait, "index-wait", 10*time.Minute, "longest wait for a background index build before the run")
	fl.Uint64Var(&cfg.seed, "seed", 1, "random seed of the request mix")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func rows(m *vecio.Matrix[float32]) [][]float32 {
	out := make([][]float32, m.Len())
	for i := range out {
		out[i] = m.Row(i)
	}
	return out
}

// runLoad runs the HTTP load (and the embedded one with cfg.embedded).
func runLoad(ctx context.Context, cfg loadConfig) (*loadReport, error) {
	if cfg.httpClient == nil {
		cfg.httpClient = &http.Client{
			Timeout: time.Minute,
			Transport: &http.Transport{
				MaxIdleConns: cfg.clients * 2, MaxIdleConnsPerHost: cfg.clients * 2,
				IdleConnTimeout: time.Minute,
			},
		}
		defer cfg.httpClient.CloseIdleConnections()
	}
	if cfg.indexWait <= 0 {
		cfg.indexWait = 10 * time.Minute
	}
	rep := &loadReport{
		URL: cfg.url, Collection: cfg.collection, BaseRows: len(cfg.base), Queries: len(cfg.queries),
		Dim: len(cfg.base[0]), Clients: cfg.clients, Duration: cfg.duration.Seconds(),
		UpsertRatio: cfg.upsertRatio, K: cfg.k, Batch: cfg.batch, GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	hc := &chromaHTTP{url: cfg.url, token: cfg.token, client: cfg.httpClient, tenantDB: "/api/v2/tenants/default_tenant/databases/default_database"}
	run, err := runHTTPLoad(ctx, cfg, hc)
	if err != nil {
		return nil, err
	}
	rep.HTTP = run
	if cfg.embedded {
		emb, err := runEmbeddedLoad(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("embedded run: %w", err)
		}
		rep.Embedded = emb
		o := &overheadReport{}
		if e := emb.Kinds[kindQuery]; e.P50Ms > 0 {
			o.QueryP50Ratio = run.Kinds[kindQuery].P50Ms / e.P50Ms
		}
		if e := emb.Kinds[kindUpsert]; e.P50Ms > 0 {
			o.UpsertP50Ratio = run.Kinds[kindUpsert].P50Ms / e.P50Ms
		}
		if run.RPS > 0 {
			o.ThroughputRatio = emb.RPS / run.RPS
		}
		rep.Overhead = o
	}
	return rep, nil
}

func (cfg *loadConfig) logf(format string, args ...any) {
	if cfg.progress != nil {
		fmt.Fprintf(cfg.progress, "load: "+format+"\n", args...)
	}
}

// chromaHTTP is the few Chroma v2 calls load makes.
type chromaHTTP struct {
	url, token, tenantDB string
	client               *http.Client
	collID               string
}

// call sends body (JSON-encoded unless nil) and decodes a 2xx answer into
// out (add answers 201).
// httpError is a non-2xx answer.
type httpError struct {
	Status int
	Msg    string
}

func (e *httpError) Error() string { return e.Msg }

func (c *chromaHTTP) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("x-chroma-token", c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &httpError{Status: resp.StatusCode, Msg: fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func (c *chromaHTTP) collPath(suffix string) string {
	return c.tenantDB + "/collections/" + c.collID + suffix
}

// b64 encodes v as the chromadb client does: little-endian float32 bytes.
func b64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

type writeBody struct {
	IDs        []string         `json:"ids"`
	Embeddings []string         `json:"embeddings"`
	Metadatas  []map[string]any `json:"metadatas"`
}

func writeBatch(base [][]float32, rowIDs []int, rev int64) writeBody {
	w := writeBody{IDs: make([]string, len(rowIDs)), Embeddings: make([]string, len(rowIDs)),
		Metadatas: make([]map[string]any, len(rowIDs))}
	for i, r := range rowIDs {
		w.IDs[i] = strconv.Itoa(r)
		w.Embeddings[i] = b64(base[r])
		w.Metadatas[i] = map[string]any{"rev": rev}
	}
	return w
}

func runHTTPLoad(ctx context.Context, cfg loadConfig, hc *chromaHTTP) (*runReport, error) {
	rep := &runReport{Mode: "http"}
	var coll struct {
		ID string `json:"id"`
	}
	err := hc.call(ctx, "POST", hc.tenantDB+"/collections", map[string]any{
		"name": cfg.collection, "get_or_create": true,
		"metadata": map[string]any{"hnsw:space": "cosine"},
	}, &coll)
	if err != nil {
		return nil, fmt.Errorf("create collection: %w", err)
	}
	hc.collID = coll.ID
	var count int
	if err := hc.call(ctx, "GET", hc.collPath("/count"), nil, &count); err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	if count < len(cfg.base) {
		cfg.logf("loading %d vectors into %q over HTTP (it holds %d)", len(cfg.base), cfg.collection, count)
		start := time.Now()
		for lo := 0; lo < len(cfg.base); lo += loadBatch {
			ids := make([]int, 0, loadBatch)
			for r := lo; r < min(lo+loadBatch, len(cfg.base)); r++ {
				ids = append(ids, r)
			}
			if err := hc.call(ctx, "POST", hc.collPath("/add"), writeBatch(cfg.base, ids, 0), nil); err != nil {
				return nil, fmt.Errorf("load rows %d..: %w", lo, err)
			}
		}
		rep.LoadedRows = len(cfg.base)
		rep.LoadSecs = time.Since(start).Seconds()
		cfg.logf("loaded in %.1fs", rep.LoadSecs)
	}
	start := time.Now()
	if err := waitIndexedHTTP(ctx, cfg, hc); err != nil {
		return nil, err
	}
	rep.IndexWaitSecs = time.Since(start).Seconds()

	rss := func() (int64, string) {
		if cfg.serverPID > 0 {
			v, err := procRSS(strconv.Itoa(cfg.serverPID))
			if err != nil {
				cfg.logf("server RSS: %v", err)
			}
			return v, "/proc/" + strconv.Itoa(cfg.serverPID) + "/status VmRSS"
		}
		v, err := metricsRSS(ctx, hc)
		if err != nil {
			cfg.logf("server RSS: %v", err)
		}
		return v, "process_resident_memory_bytes from /metrics"
	}
	rep.RSSStartBytes, rep.RSSSource = rss()
	cfg.logf("HTTP run: %d clients, %v, %.0f%% upserts", cfg.clients, cfg.duration, 100*cfg.upsertRatio)
	do := func(ctx context.Context, kind string, rng *rand.Rand, rev int64) error {
		if kind == kindQuery {
			qs := make([][]float32, cfg.batch)
			for i := range qs {
				qs[i] = cfg.queries[rng.IntN(len(cfg.queries))]
			}
			var res struct {
				IDs [][]string `json:"ids"`
			}
			err := hc.call(ctx, "POST", hc.collPath("/query"), map[string]any{
				"query_embeddings": qs, "n_results": cfg.k, "include": []string{"metadatas", "distances"},
			}, &res)
			if err != nil {
				return err
			}
			if len(res.IDs) != len(qs) || len(res.IDs[0]) == 0 {
				return fmt.Errorf("query: %d result lists for %d queries, the first of %d ids", len(res.IDs), len(qs), len(res.IDs[0]))
			}
			return nil
		}
		ids := distinctRows(rng, len(cfg.base), cfg.batch)
		return hc.call(ctx, "POST", hc.collPath("/upsert"), writeBatch(cfg.base, ids, rev), nil)
	}
	runMix(ctx, cfg, rep, do)
	rep.RSSEndBytes, _ = rss()
	return rep, nil
}

// waitIndexedHTTP waits while the server's sextant_collection_index_building
// metric is 1 for the collection (a server without it: no wait).
func waitIndexedHTTP(ctx context.Context, cfg loadConfig, hc *chromaHTTP) error {
	deadline := time.Now().Add(cfg.indexWait)
	want := fmt.Sprintf(`collection=%q,database="default_database",tenant="default_tenant"}`, cfg.collection)
	logged := false
	for {
		text, err := hc.metrics(ctx)
		if err != nil {
			cfg.logf("cannot read /metrics (%v): not waiting for the index build", err)
			return nil
		}
		building := false
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, "sextant_collection_index_building{") && strings.Contains(line, want) {
				building = strings.HasSuffix(strings.TrimSpace(line), " 1")
			}
		}
		if !building {
			return nil
		}
		if !logged {
			cfg.logf("waiting for the background index build")
			logged = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the index build did not finish within --index-wait %v", cfg.indexWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *chromaHTTP) metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url+"/metrics", nil)
	if err != nil {
		return "", err
	}
	if c.token != "" {
		req.Header.Set("x-chroma-token", c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return string(b), nil
}

func metricsRSS(ctx context.Context, hc *chromaHTTP) (int64, error) {
	text, err := hc.metrics(ctx)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}

// procRSS reads VmRSS of /proc/<pid>/status ("self" for this process).
func procRSS(pid string) (int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%s/status", pid)
}

func runEmbeddedLoad(ctx context.Context, cfg loadConfig) (*runReport, error) {
	rep := &runReport{Mode: "embedded", RSSSource: "/proc/self/status VmRSS (the load process)"}
	dir, err := os.MkdirTemp("", "sextant-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := sextant.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	c, err := db.Default().GetOrCreateCollection(cfg.collection, &sextant.CollectionConfig{
		Metadata: sextant.Metadata{"hnsw:space": "cosine"},
	})
	if err != nil {
		return nil, err
	}
	cfg.logf("loading %d vectors into the embedded database in %s", len(cfg.base), dir)
	start := time.Now()
	recs := func(rowIDs []int, rev int64) []sextant.Record {
		out := make([]sextant.Record, len(rowIDs))
		for i, r := range rowIDs {
			out[i] = sextant.Record{ID: strconv.Itoa(r), Embedding: cfg.base[r], Metadata: sextant.Metadata{"rev": rev}}
		}
		return out
	}
	for lo := 0; lo < len(cfg.base); lo += loadBatch {
		ids := make([]int, 0, loadBatch)
		for r := lo; r < min(lo+loadBatch, len(cfg.base)); r++ {
			ids = append(ids, r)
		}
		if err := c.Add(ctx, recs(ids, 0)); err != nil {
			return nil, fmt.Errorf("load rows %d..: %w", lo, err)
		}
	}
	rep.LoadedRows = len(cfg.base)
	rep.LoadSecs = time.Since(start).Seconds()
	start = time.Now()
	if err := c.WaitIndexed(); err != nil {
		return nil, err
	}
	rep.IndexWaitSecs = time.Since(start).Seconds()
	rep.RSSStartBytes, _ = procRSS("self")
	cfg.logf("embedded run: %d clients, %v", cfg.clients, cfg.duration)
	do := func(ctx context.Context, kind string, rng *rand.Rand, rev int64) error {
		if kind == kindQuery {
			qs := make([][]float32, cfg.batch)
			for i := range qs {
				qs[i] = cfg.queries[rng.IntN(len(cfg.queries))]
			}
			res, err := c.Query(ctx, sextant.QueryOptions{Embeddings: qs, K: cfg.k,
				Include: sextant.IncludeMetadatas | sextant.IncludeDistances})
			if err != nil {
				return err
			}
			if len(res.IDs) != len(qs) || len(res.IDs[0]) == 0 {
				return fmt.Errorf("query: %d result lists for %d queries", len(res.IDs), len(qs))
			}
			return nil
		}
		ids := distinctRows(rng, len(cfg.base), cfg.batch)
		return c.Upsert(ctx, recs(ids, rev))
	}
	runMix(ctx, cfg, rep, do)
	rep.RSSEndBytes, _ = procRSS("self")
	return rep, nil
}

// runMix runs cfg.clients goroutines for cfg.duration, each issuing do with
// a query or an upsert, and fills rep's request figures.
func runMix(ctx context.Context, cfg loadConfig, rep *runReport,
	do func(ctx context.Context, kind string, rng *rand.Rand, rev int64) error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var (
		rev     atomic.Int64
		nErr    atomic.Int64
		mu      sync.Mutex
		samples []string
		wg      sync.WaitGroup
	)
	lat := make([]map[string][]time.Duration, cfg.clients)
	start := time.Now()
	for w := range cfg.clients {
		lat[w] = map[string][]time.Duration{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.seed, uint64(w)))
			for ctx.Err() == nil {
				kind := kindQuery
				if rng.Float64() < cfg.upsertRatio {
					kind = kindUpsert
				}
				t0 := time.Now()
				err := do(ctx, kind, rng, rev.Add(1))
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // cut off by the end of the run: not an error
					}
					nErr.Add(1)
					mu.Lock()
					if len(samples) < loadErrorSamples {
						samples = append(samples, kind+": "+err.Error())
					}
					mu.Unlock()
					continue
				}
				lat[w][kind] = append(lat[w][kind], d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	rep.Seconds = elapsed
	rep.Errors = nErr.Load()
	rep.ErrorSamples = samples
	rep.Kinds = map[string]kindReport{}
	for _, kind := range []string{kindQuery, kindUpsert} {
		var all []time.Duration
		for w := range lat {
			all = append(all, lat[w][kind]...)
		}
		slices.Sort(all)
		kr := kindReport{Requests: int64(len(all)), RPS: float64(len(all)) / elapsed}
		if len(all) > 0 {
			kr.P50Ms = ms(all[len(all)/2])
			kr.P99Ms = ms(all[min(len(all)-1, len(all)*99/100)])
			kr.MaxMs = ms(all[len(all)-1])
		}
		rep.Kinds[kind] = kr
		rep.Requests += kr.Requests
	}
	rep.RPS = float64(rep.Requests) / elapsed
}

// distinctRows picks min(k, n) distinct rows of n (a batch may not name an
// id twice).
func distinctRows(rng *rand.Rand, n, k int) []int {
	k = min(k, n)
	out := make([]int, 0, k)
	for len(out) < k {
		if r := rng.IntN(n); !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func printLoadReport(w io.Writer, rep *loadReport) {
	fmt.Fprintf(w, "collection %q: %d base vectors (dim %d), %d queries; %d clients, %.0fs, %.0f%% upserts, k=%d, batch=%d, GOMAXPROCS=%d\n",
		rep.Collection, rep.BaseRows, rep.Dim, rep.Queries, rep.Clients, rep.Duration, 100*rep.UpsertRatio, rep.K, rep.Batch, rep.GOMAXPROCS)
	for _, run := range []*runReport{rep.HTTP, rep.Embedded} {
		if run == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s: %.0f requests/s (%d in %.1fs), errors %d\n", run.Mode, run.RPS, run.Requests, run.Seconds, run.Errors)
		for _, e := range run.ErrorSamples {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
		if run.LoadedRows > 0 {
			fmt.Fprintf(w, "  loaded %d rows in %.1fs; index build wait %.1fs\n", run.LoadedRows, run.LoadSecs, run.IndexWaitSecs)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "kind\trequests\treq/s\tp50 ms\tp99 ms\tmax ms\t")
		for _, kind := range []string{kindQuery, kindUpsert} {
			k := run.Kinds[kind]
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t\n", kind, k.Requests, k.RPS, k.P50Ms, k.P99Ms, k.MaxMs)
		}
		tw.Flush()
		fmt.Fprintf(w, "  RSS %s -> %s (%s)\n", mib(run.RSSStartBytes), mib(run.RSSEndBytes), run.RSSSource)
	}
	if o := rep.Overhead; o != nil {
		fmt.Fprintf(w, "\nHTTP+JSON overhead: query p50 x%.2f, upsert p50 x%.2f, embedded throughput x%.2f of HTTP's\n",
			o.QueryP50Ratio, o.UpsertP50Ratio, o.ThroughputRatio)
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vec"
	"github.com/sextantdb/sextant/internal/vecio"
)

// gloveFiles writes the first nBase base vectors and nQuery queries of
// glove-twitter-25 to a temporary directory and returns their paths.
func gloveFiles(t *testing.T, nBase, nQuery int) (base, query string) {
	t.Helper()
	data, err := testutil.DataDir()
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(src, dst string, n int) string {
		m, err := vecio.ReadFvecsFile(filepath.Join(data, src), n)
		require.NoError(t, err)
		p := filepath.Join(dir, dst)
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, vecio.WriteFvecs(f, m))
		require.NoError(t, f.Close())
		return p
	}
	return write("glove-twitter-25.base.fvecs", "base.fvecs", nBase),
		write("glove-twitter-25.query.fvecs", "query.fvecs", nQuery)
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// keysInOrder returns the keys of a JSON object in the order they appear.
func keysInOrder(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	return keys
}

func TestBenchJSON(t *testing.T) {
	base, query := gloveFiles(t, 2000, 1000)
	stdout, stderr, code := runCLI(t, "bench", "--base", base, "--query", query, "--metric", "cosine",
		"--ef", "10,100", "--threads", "2", "--queries", "300", "--runs", "2", "--json")
	require.Equal(t, 0, code, stderr)

	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	buildKeys := []string{"phase", "engine", "vectors", "dim", "seconds", "vectors_per_s", "threads", "bytes_per_vector"}
	queryKeys := []string{"phase", "engine", "ef", "k", "recall", "qps", "p50_us", "p99_us", "threads"}

	var b map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &b))
	require.Equal(t, buildKeys, keysInOrder(t, lines[0])[:len(buildKeys)])
	require.Equal(t, "build", b["phase"])
	require.Equal(t, "sextant", b["engine"])
	require.EqualValues(t, 2000, b["vectors"])
	require.EqualValues(t, 25, b["dim"])
	require.EqualValues(t, 2, b["threads"])
	require.Greater(t, b["seconds"], 0.0)
	require.Greater(t, b["vectors_per_s"], 0.0)
	// At least the vectors themselves (100 B each at 25 dims).
	require.Greater(t, b["bytes_per_vector"], 100.0)

	recall := map[float64]float64{}
	for _, l := range lines[1:] {
		var q map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &q))
		require.Equal(t, queryKeys, keysInOrder(t, l)[:len(queryKeys)])
		require.Equal(t, "query", q["phase"])
		require.Equal(t, "sextant", q["engine"])
		require.EqualValues(t, 10, q["k"])
		require.EqualValues(t, 1, q["threads"])
		require.Greater(t, q["qps"], 0.0)
		require.LessOrEqual(t, q["p50_us"], q["p99_us"])
		recall[q["ef"].(float64)] = q["recall"].(float64)
	}
	require.Contains(t, recall, 10.0)
	require.GreaterOrEqual(t, recall[100], 0.9, "recall@10 at ef=100")
	require.LessOrEqual(t, recall[100], 1.0)
}

func TestBenchTable(t *testing.T) {
	base, query := gloveFiles(t, 1500, 200)
	gtPath := filepath.Join(t.TempDir(), "gt.ivecs")
	// A ground-truth file: exact, as the data sets' are, but with 20 ids.
	b, err := vecio.ReadFvecsFile(base, 0)
	require.NoError(t, err)
	q, err := vecio.ReadFvecsFile(query, 0)
	require.NoError(t, err)
	f, err := os.Create(gtPath)
	require.NoError(t, err)
	require.NoError(t, vecio.WriteIvecs(f, exactKNN(b, q, vec.Cosine, 20, 2)))
	require.NoError(t, f.Close())

	stdout, stderr, code := runCLI(t, "bench", "--base", base, "--query", query, "--gt", gtPath,
		"--metric", "cosine", "--k", "5", "--m", "8", "--ef-construction", "64")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "1500 vectors × 25 dims, cosine, M 8, ef_construction 64")
	require.Contains(t, stdout, "recall")
	// No --ef: one row, at the collection's default ef_search.
	require.Regexp(t, `(?m)^\s+100\s+5\s+[01]\.\d{4}\s`, stdout)
	require.NotContains(t, stderr, "computing exact ground truth")
}

func TestBenchErrors(t *testing.T) {
	base, query := gloveFiles(t, 300, 20)
	dir := t.TempDir()
	other := filepath.Join(dir, "other.fvecs")
	f, err := os.Create(other)
	require.NoError(t, err)
	require.NoError(t, vecio.WriteFvecs(f, &vecio.Matrix[float32]{Dim: 3, Data: []float32{1, 2, 3}}))
	require.NoError(t, f.Close())
	shortGT := filepath.Join(dir, "short.ivecs")
	f, err = os.Create(shortGT)
	require.NoError(t, err)
	require.NoError(t, vecio.WriteIvecs(f, &vecio.Matrix[int32]{Dim: 3, Data: []int32{1, 2, 3}}))
	require.NoError(t, f.Close())
	garbage := filepath.Join(dir, "garbage.fvecs")
	require.NoError(t, os.WriteFile(garbage, []byte("not an fvecs file"), 0o644))
	nonEmpty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o644))

	ok := []string{"bench", "--base", base, "--query", query}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no base", []string{"bench", "--query", query, "--metric", "l2"}, `required flag(s) "base" not set`},
		{"no metric", ok, `required flag(s) "metric" not set`},
		{"bad metric", append(ok, "--metric", "hamming"), `--metric: unknown metric "hamming"`},
		{"unknown flag", append(ok, "--metric", "l2", "--bogus"), "unknown flag: --bogus"},
		{"bad ef", append(ok, "--metric", "l2", "--ef", "10,x"), `invalid argument "10,x"`},
		{"zero ef", append(ok, "--metric", "l2", "--ef", "10,0"), "--ef 0 out of range"},
		{"zero k", append(ok, "--metric", "l2", "--k", "0"), "--k 0 out of range"},
		{"bad m", append(ok, "--metric", "l2", "--m", "1"), "--m 1 out of range"},
		{"negative threads", append(ok, "--metric", "l2", "--threads", "-1"), "--threads -1 < 0"},
		{"missing file", []string{"bench", "--base", filepath.Join(dir, "nope.fvecs"), "--query", query, "--metric", "l2"}, "--base: open " + filepath.Join(dir, "nope.fvecs") + ": no such file"},
		{"not fvecs", []string{"bench", "--base", garbage, "--query", query, "--metric", "l2"}, "--base: " + garbage + ": row 0 at byte 0: dimension"},
		{"dim mismatch", []string{"bench", "--base", base, "--query", other, "--metric", "l2"}, "dimension mismatch: base vectors (" + base + ") have 25 dimensions, queries (" + other + ") have 3"},
		{"runs zero", append(ok, "--metric", "l2", "--runs", "0"), "--runs 0 out of range [1, 100]"},
		{"gt too short", append(ok, "--metric", "l2", "--gt", shortGT), "has 1 rows, fewer than the 20 queries"},
		{"gt too narrow", append(ok, "--metric", "l2", "--gt", shortGT, "--queries", "1"), "has 3 ids per query, fewer than --k 10"},
		{"data dir not empty", append(ok, "--metric", "l2", "--data-dir", nonEmpty), "is not empty"},
		{"extra arg", append(ok, "--metric", "l2", "extra"), `unknown command "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.args...)
			require.Equal(t, 1, code, stdout)
			require.Contains(t, stderr, "sextant: ")
			require.Contains(t, stderr, tc.want)
			require.Empty(t, stdout)
		})
	}
}

func TestExactKNN(t *testing.T) {
	base := &vecio.Matrix[float32]{Dim: 2, Data: []float32{0, 0, 1, 0, 0, 1, 2, 0, 1, 0}}
	q := &vecio.Matrix[float32]{Dim: 2, Data: []float32{1, 0, 0, 0}}
	got := exactKNN(base, q, vec.L2, 3, 2)
	// Ties (rows 1 and 4 at distance 0) by smaller id.
	require.Equal(t, []int32{1, 4, 0}, got.Row(0))
	require.Equal(t, []int32{0, 1, 2}, got.Row(1))
	// k larger than the base is clipped.
	require.Equal(t, 5, exactKNN(base, q, vec.L2, 9, 1).Dim)
}

func TestBenchReopen(t *testing.T) {
	base, query := gloveFiles(t, 1500, 50)
	stdout, stderr, code := runCLI(t, "bench", "--base", base, "--query", query, "--metric", "cosine",
		"--ef", "50", "--json", "--reopen", "--data-dir", filepath.Join(t.TempDir(), "db"))
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3)
	var r struct {
		Phase   string  `json:"phase"`
		Vectors int     `json:"vectors"`
		Seconds float64 `json:"seconds"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &r))
	require.Equal(t, "reopen", r.Phase)
	require.Equal(t, 1500, r.Vectors)
	require.Greater(t, r.Seconds, 0.0)
}

// TestBenchPauses: --pauses deletes and rewrites 6% of the records (a graph
// repair) and checkpoints while a goroutine queries, and reports it.
func TestBenchPauses(t *testing.T) {
	base, query := gloveFiles(t, 3000, 50)
	stdout, stderr, code := runCLI(t, "bench", "--base", base, "--query", query, "--metric", "cosine",
		"--ef", "50", "--json", "--pauses")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3)
	var p pausesLine
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &p))
	require.Equal(t, "pauses", p.Phase)
	require.Equal(t, 180, p.Churned)
	require.Positive(t, p.Queries)
	require.Positive(t, p.Repairs, "deleting 6%% of the records and writing them again repairs the graph")
	require.GreaterOrEqual(t, p.MaxMs, p.P99Ms)
	require.Positive(t, p.CheckpointSeconds)
	require.Positive(t, p.ChurnMaxMs)
	require.Equal(t, p.MaxMs, max(p.ChurnMaxMs, p.CheckpointMaxMs), "the parts' longest queries are the longest query")
}

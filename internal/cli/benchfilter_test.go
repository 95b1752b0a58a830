package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vec"
	"github.com/sextantdb/sextant/internal/vecio"
)

// filteredQueryLine is the part of a query line the filtered tests read.
type filteredQueryLine struct {
	Phase                string         `json:"phase"`
	Ef                   int            `json:"ef"`
	K                    int            `json:"k"`
	Recall               float64        `json:"recall"`
	Queries              int            `json:"queries"`
	Matches              *int           `json:"matches"`
	MinResults           *int           `json:"min_results"`
	Plan                 string         `json:"plan"`
	Plans                map[string]int `json:"plans"`
	DistanceComputations *float64       `json:"distance_computations"`
}

func queryLines(t *testing.T, stdout string) []filteredQueryLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var out []filteredQueryLine
	for _, l := range lines[1:] {
		var q filteredQueryLine
		require.NoError(t, json.Unmarshal([]byte(l), &q), l)
		require.Equal(t, "query", q.Phase)
		require.NotNil(t, q.Matches, l)
		require.NotNil(t, q.MinResults, l)
		require.NotNil(t, q.DistanceComputations, l)
		require.NotEmpty(t, q.Plan, l)
		// The new keys come after the format's and the existing extras, in order.
		keys := keysInOrder(t, l)
		require.Equal(t, []string{"queries", "matches", "min_results", "plan"}, keys[9:13], l)
		require.Contains(t, keys[13:], "distance_computations")
		out = append(out, q)
	}
	return out
}

func TestBenchSelectivity(t *testing.T) {
	base, query := gloveFiles(t, 3000, 200)
	stdout, stderr, code := runCLI(t, "bench", "--base", base, "--query", query, "--metric", "cosine",
		"--selectivity", "0.02", "--ef", "10,100", "--threads", "2", "--json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "computing exact filtered ground truth")
	qs := queryLines(t, stdout)
	require.Len(t, qs, 2)
	for _, q := range qs {
		require.Equal(t, 200, q.Queries)
		require.InDelta(t, 0.02*3000, *q.Matches, 0.3*0.02*3000, "matches at ef %d", q.Ef)
		require.Equal(t, min(q.K, *q.Matches), *q.MinResults, "min_results at ef %d", q.Ef)
		require.GreaterOrEqual(t, q.Recall, 0.95, "recall at ef %d", q.Ef)
		require.LessOrEqual(t, q.Recall, 1.0)
		require.Greater(t, *q.DistanceComputations, 0.0)
	}
}

func TestBenchMetaWhere(t *testing.T) {
	const n = 600
	base, query := gloveFiles(t, n, 50)
	var sb strings.Builder
	want := 0
	for i := range n {
		switch i % 5 {
		case 0, 1, 2:
			c := string(rune('a' + i%4)) // a, b, c, d
			if c == "a" || c == "b" {
				want++
			}
			fmt.Fprintf(&sb, `{"c": %q, "i": %d, "x": %d.5}`+"\n", c, i, i)
		case 3:
			fmt.Fprintf(&sb, `{"c": ["a", "b"], "i": %d}`+"\n", i) // a list: $in does not match
		case 4:
			sb.WriteString("{}\n")
		}
	}
	meta := filepath.Join(t.TempDir(), "meta.jsonl")
	require.NoError(t, os.WriteFile(meta, []byte(sb.String()), 0o644))

	stdout, stderr, code := runCLI(t, "bench", "--base", base, "--query", query, "--metric", "l2",
		"--meta", meta, "--where", `{"c": {"$in": ["a","b"]}}`, "--ef", "10,200", "--threads", "2", "--json")
	require.Equal(t, 0, code, stderr)
	qs := queryLines(t, stdout)
	require.Len(t, qs, 2)
	for _, q := range qs {
		require.Equal(t, want, *q.Matches)
		require.Equal(t, min(10, want), *q.MinResults)
	}
	require.GreaterOrEqual(t, qs[1].Recall, 0.95, "recall at ef 200")

	// Integers and floats: a range over "i" (int64) and "x" (float64).
	stdout, stderr, code = runCLI(t, "bench", "--base", base, "--query", query, "--metric", "l2",
		"--meta", meta, "--where", `{"$and": [{"i": {"$lt": 100}}, {"x": {"$gte": 50}}]}`, "--ef", "50", "--json")
	require.Equal(t, 0, code, stderr)
	qs = queryLines(t, stdout)
	wantRange := 0
	for i := 50; i < 100; i++ {
		if i%5 < 3 {
			wantRange++
		}
	}
	require.Equal(t, wantRange, *qs[0].Matches)
	require.Equal(t, 1.0, qs[0].Recall)

	// The table gains matches, min results and plan.
	stdout, stderr, code = runCLI(t, "bench", "--base", base, "--query", query, "--metric", "l2",
		"--meta", meta, "--where", `{"c": "zzz"}`, "--ef", "50")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `queries\s+matches\s+min results\s+plan`, stdout)
	// Nothing matches: no results, recall 1 (nothing to find).
	require.Regexp(t, `(?m)^\s+50\s+10\s+1\.0000\s.*\s50\s+0\s+0\s+exact$`, stdout)
}

func TestBenchFilterErrors(t *testing.T) {
	base, query := gloveFiles(t, 300, 20)
	dir := t.TempDir()
	writeMeta := func(name string, lines int, bad string) string {
		var sb strings.Builder
		for i := range lines {
			if i == 4 && bad != "" {
				sb.WriteString(bad + "\n")
				continue
			}
			fmt.Fprintf(&sb, `{"c": "a", "i": %d}`+"\n", i)
		}
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(sb.String()), 0o644))
		return p
	}
	short := writeMeta("short.jsonl", 299, "")
	long := writeMeta("long.jsonl", 301, "")
	badJSON := writeMeta("bad.jsonl", 300, `{"c": `)
	nested := writeMeta("nested.jsonl", 300, `{"c": {"d": 1}}`)
	notObject := writeMeta("array.jsonl", 300, `[1, 2]`)
	gt := filepath.Join(dir, "gt.ivecs")
	f, err := os.Create(gt)
	require.NoError(t, err)
	b, err := vecio.ReadFvecsFile(base, 0)
	require.NoError(t, err)
	q, err := vecio.ReadFvecsFile(query, 0)
	require.NoError(t, err)
	require.NoError(t, vecio.WriteIvecs(f, exactKNN(b, q, vec.L2, 10, 2)))
	require.NoError(t, f.Close())

	ok := []string{"bench", "--base", base, "--query", query, "--metric", "l2"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"where invalid JSON", append(ok, "--where", `{"c": `), "--where: invalid JSON"},
		{"where trailing data", append(ok, "--where", `{"c": 1} x`), "--where: invalid JSON: data after the object"},
		{"where not an object", append(ok, "--where", `[1]`), "--where: want a JSON object"},
		{"where unknown operator", append(ok, "--where", `{"$and": [{"c": "a"}, {"price": {"$foo": 3}}]}`), "where.$and[1].price"},
		{"meta short", append(ok, "--meta", short), "299 metadata lines for 300 base vectors (line 300, for base row 299, is missing)"},
		{"meta long", append(ok, "--meta", long), "--meta " + long + ": line 301: more metadata lines than the 300 base vectors"},
		{"meta bad line", append(ok, "--meta", badJSON), "--meta " + badJSON + ": line 5 (base row 4): invalid JSON"},
		{"meta nested", append(ok, "--meta", nested), `line 5 (base row 4): metadata key "c"`},
		{"meta not an object", append(ok, "--meta", notObject), "line 5 (base row 4): want a JSON object"},
		{"meta missing", append(ok, "--meta", filepath.Join(dir, "nope.jsonl")), "--meta: open "},
		{"selectivity 0", append(ok, "--selectivity", "0"), "--selectivity 0 out of range (0, 1]"},
		{"selectivity 1.5", append(ok, "--selectivity", "1.5"), "--selectivity 1.5 out of range (0, 1]"},
		{"selectivity NaN", append(ok, "--selectivity", "NaN"), "--selectivity NaN out of range (0, 1]"},
		{"selectivity and where", append(ok, "--selectivity", "0.5", "--where", `{"c": "a"}`), "excludes --meta and --where"},
		{"selectivity and meta", append(ok, "--selectivity", "0.5", "--meta", short), "excludes --meta and --where"},
		{"gt and where", append(ok, "--gt", gt, "--where", `{"c": "a"}`), "--gt is unfiltered ground truth: it cannot be used with --where"},
		{"gt and selectivity", append(ok, "--gt", gt, "--selectivity", "0.5"), "--gt is unfiltered ground truth"},
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

func TestReadMeta(t *testing.T) {
	in := `{"i": 3, "f": 2.5, "e": 1e3, "big": 9007199254740993, "l": [1, 2], "lf": [1.5, 2], "s": "x", "b": true}
null

{}`
	_, err := readMeta(strings.NewReader(in), 4)
	require.ErrorContains(t, err, "line 3 (base row 2): empty line")

	in = strings.Replace(in, "\n\n", "\n{}\n", 1)
	got, err := readMeta(strings.NewReader(in), 4) // no final newline
	require.NoError(t, err)
	require.Equal(t, []payload.Map{{
		"i": int64(3), "f": 2.5, "e": 1000.0, "big": int64(9007199254740993),
		"l": []int64{1, 2}, "lf": []float64{1.5, 2}, "s": "x", "b": true,
	}, nil, nil, nil}, got)

	got, err = readMeta(strings.NewReader("{\"a\": 1}\r\n{\"a\": 2}\r\n"), 2)
	require.NoError(t, err)
	require.Equal(t, []payload.Map{{"a": int64(1)}, {"a": int64(2)}}, got)
}

func TestSyntheticMeta(t *testing.T) {
	base := &vecio.Matrix[float32]{Dim: 2, Data: make([]float32, 2*20000)}
	for i := range 20000 {
		base.Data[2*i] = float32(i%2) - 0.5
	}
	a := syntheticMeta(base, 1)
	require.Equal(t, a, syntheticMeta(base, 1), "deterministic")
	require.NotEqual(t, a, syntheticMeta(base, 2), "seeded")
	below := 0
	for i, md := range a {
		u := md["u"].(int64)
		require.True(t, u >= 0 && u < selectivityRange)
		if u < selectivityRange/10 {
			below++
		}
		require.Equal(t, map[bool]string{true: "pos", false: "neg"}[i%2 == 1], md["side"])
	}
	require.InDelta(t, 2000, below, 200)
}

func TestExactKNNRows(t *testing.T) {
	base := &vecio.Matrix[float32]{Dim: 1, Data: []float32{0, 1, 2, 3, 4}}
	q := &vecio.Matrix[float32]{Dim: 1, Data: []float32{1.1, 3.9}}
	got := exactKNNRows(base, q, vec.L2, 3, 2, []int32{0, 3, 4})
	require.Equal(t, []int32{0, 3, 4}, got.Row(0))
	require.Equal(t, []int32{4, 3, 0}, got.Row(1))
	// Fewer candidates than k: all of them.
	got = exactKNNRows(base, q, vec.L2, 3, 1, []int32{2})
	require.Equal(t, 1, got.Dim)
	require.Equal(t, []int32{2}, got.Row(1))
	// None.
	got = exactKNNRows(base, q, vec.L2, 3, 1, []int32{})
	require.Empty(t, got.Row(0))
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/server"
	"github.com/sextantdb/sextant/internal/testutil"
)

// doctorServer starts a server over a temp DB whose monitor samples every
// query, behind the API key "tok".
func doctorServer(t *testing.T) (*sextant.DB, string) {
	t.Helper()
	db, err := sextant.Open(t.TempDir(), &sextant.Options{MonitorBudget: 1, ExactThreshold: 1000})
	require.NoError(t, err)
	srv := server.New(db, server.Config{Logger: slog.New(slog.DiscardHandler), APIKeys: []server.Key{{Token: "tok"}}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		require.NoError(t, srv.Shutdown(context.Background()))
	})
	return db, ts.URL
}

// runDoctorCmd runs sextant doctor with args and returns the exit status
// and the parsed --json report.
func runDoctorCmd(t *testing.T, url string, args ...string) (int, doctorReport) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"doctor", "--url", url, "--api-key", "tok", "--json", "--state-dir", ""}, args...), &out, &errb)
	var rep doctorReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), "stdout %q stderr %q", out.String(), errb.String())
	require.Empty(t, errb.String())
	return code, rep
}

func findingsOf(rep doctorReport, check string) []doctorFinding {
	var out []doctorFinding
	for _, f := range rep.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// unnormalized returns vs scaled to random norms in [0.3, 12.7]: the seed
// incident's batch from a producer that stopped normalizing.
func unnormalized(vs [][]float32) [][]float32 {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([][]float32, 0, len(vs))
	for _, v := range vs {
		f := float32(0.3 + rng.Float64()*12.4)
		s := make([]float32, len(v))
		for j, x := range v {
			s[j] = x * f
		}
		out = append(out, s)
	}
	return out
}

func addRows(t *testing.T, c *sextant.Collection, rows [][]float32, prefix string, batch int) {
	t.Helper()
	for i := 0; i < len(rows); i += batch {
		var recs []sextant.Record
		for j := i; j < min(i+batch, len(rows)); j++ {
			recs = append(recs, sextant.Record{ID: prefix + strconv.Itoa(j), Embedding: rows[j],
				Metadata: sextant.Metadata{"k": j % 4}})
		}
		require.NoError(t, c.Add(context.Background(), recs))
	}
}

// TestDoctorHealthy: a healthy collection exits 0 with a parseable report,
// and --where reports the filter's selectivity and plan.
func TestDoctorHealthy(t *testing.T) {
	ds, err := testutil.LoadDataset("wordnet-use512", 400)
	require.NoError(t, err)
	db, url := doctorServer(t)
	c, err := db.Default().CreateCollection("healthy", &sextant.CollectionConfig{Metric: sextant.Cosine, EmbeddingModel: sextant.ModelPin{Name: "use-512", Version: "4"}})
	require.NoError(t, err)
	addRows(t, c, ds.Base, "h", 100)

	code, rep := runDoctorCmd(t, url, "--where", `{"k": 1}`)
	require.Equal(t, 0, code, "%+v", rep)
	require.Contains(t, []string{"ok", "info"}, rep.Status)
	for _, check := range []string{"drift", "metric", "embedding_model", "index", "recall", "wal", "filter", "memory"} {
		require.NotEmpty(t, findingsOf(rep, check), check)
	}
	f := findingsOf(rep, "filter")[0]
	require.Equal(t, "default_tenant/default_database/healthy", f.Collection)
	require.InDelta(t, 100, f.Figures["matches"], 0)
	require.InDelta(t, 0.25, f.Figures["selectivity"], 1e-9)
	require.Positive(t, findingsOf(rep, "memory")[0].Figures["rss_bytes"])

	// The text form names the status.
	var out bytes.Buffer
	require.Equal(t, 0, Main(context.Background(), []string{"doctor", "--url", url, "--api-key", "tok"}, &out, &out))
	require.Contains(t, out.String(), "status: ")
	require.Contains(t, out.String(), "healthy")

	// A wrong key is a critical finding, not a crash.
	var out2 bytes.Buffer
	require.Equal(t, 2, Main(context.Background(), []string{"doctor", "--url", url, "--api-key", "bad", "--json"}, &out2, &out2))
}

// TestDoctorNotNormalized: the seed incident, a cosine collection of unit
// vectors that receives a batch with norms 0.3–12.7, is critical (exit 2).
func TestDoctorNotNormalized(t *testing.T) {
	ds, err := testutil.LoadDataset("wordnet-use512", 700)
	require.NoError(t, err)
	db, url := doctorServer(t)
	c, err := db.Default().CreateCollection("incident", &sextant.CollectionConfig{Metric: sextant.Cosine, ExactThreshold: 1 << 30})
	require.NoError(t, err)
	addRows(t, c, ds.Base[:600], "u", 100)
	code, rep := runDoctorCmd(t, url, "--collection", "incident")
	require.Equal(t, 0, code, "%+v", rep)

	addRows(t, c, unnormalized(ds.Base[600:700]), "s", 100)
	code, rep = runDoctorCmd(t, url, "--collection", "incident")
	require.Equal(t, 2, code, "%+v", rep)
	require.Equal(t, "critical", rep.Status)
	fs := findingsOf(rep, "normalization")
	require.Len(t, fs, 1)
	require.Equal(t, "critical", fs[0].Severity)
	require.NotEmpty(t, fs[0].Action)
	require.NotEmpty(t, fs[0].Figures)
}

// TestDoctorDegraded: ef forced low with auto_ef off, after enough sampled
// queries, is degraded: a critical recall finding (exit 2). --measure works.
func TestDoctorDegraded(t *testing.T) {
	ds, err := testutil.LoadDataset("glove-twitter-25", 4000)
	require.NoError(t, err)
	db, url := doctorServer(t)
	c, err := db.Default().CreateCollection("lowef", &sextant.CollectionConfig{Metric: sextant.Cosine, M: 8, EfConstruction: 40, ManualEf: true})
	require.NoError(t, err)
	addRows(t, c, ds.Base, "g", 1000)
	require.NoError(t, c.WaitIndexed())
	require.NoError(t, c.SetEfSearch(10))
	degraded := false
	for i := 0; i < 3000 && !degraded; i++ {
		_, err := c.Query(context.Background(), sextant.QueryOptions{Embeddings: [][]float32{ds.Queries[i%len(ds.Queries)]}, K: 10, Include: sextant.IncludeNone})
		require.NoError(t, err)
		if i >= 200 && i%50 == 49 {
			time.Sleep(20 * time.Millisecond) // let the monitor worker drain its queue
			h, err := c.Health()
			require.NoError(t, err)
			degraded = h.Status == "degraded"
		}
	}
	require.True(t, degraded, "ef 10 never reported degraded")

	code, rep := runDoctorCmd(t, url, "--collection", "lowef", "--measure", "50")
	require.Equal(t, 2, code, "%+v", rep)
	fs := findingsOf(rep, "recall")
	require.Len(t, fs, 1)
	require.Equal(t, "critical", fs[0].Severity)
	require.Less(t, fs[0].Figures["estimate"], fs[0].Figures["target"])
	require.Contains(t, fs[0].Action, "auto_ef")
	require.Equal(t, "HNSW", findingsOf(rep, "index")[0].Message[:4])
}

// TestDoctorWarning: an l2 collection whose latest batch has norms three
// times the history's is a norm_shift warning only (exit 1).
func TestDoctorWarning(t *testing.T) {
	db, url := doctorServer(t)
	c, err := db.Default().CreateCollection("shifted", &sextant.CollectionConfig{Metric: sextant.L2, EmbeddingModel: sextant.ModelPin{Name: "m", Version: "1"}, ExactThreshold: 1 << 30})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 3))
	gauss := func(n int, scale float32) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, 16)
			for j := range out[i] {
				out[i][j] = scale * float32(rng.NormFloat64())
			}
		}
		return out
	}
	addRows(t, c, gauss(600, 1), "n", 100)
	addRows(t, c, gauss(50, 3), "x", 50)
	code, rep := runDoctorCmd(t, url, "--collection", "shifted")
	require.Equal(t, 1, code, "%+v", rep)
	require.Equal(t, "warning", rep.Status)
	fs := findingsOf(rep, "model_drift")
	require.NotEmpty(t, fs)
	require.Equal(t, "warning", fs[0].Severity)
	for _, f := range rep.Findings {
		require.NotEqual(t, "critical", f.Severity, "%+v", f)
	}

	// Text output: the warning with its action.
	var out bytes.Buffer
	require.Equal(t, 1, Main(context.Background(), []string{"doctor", "--url", url, "--api-key", "tok", "--collection", "shifted"}, &out, &out))
	require.Contains(t, out.String(), "WARNING")
	require.Contains(t, out.String(), "->")
	require.Contains(t, out.String(), "status: warning")
}

// TestDoctorRepair: a collection whose graph was repaired reports the repair
// (ok while short); a repair of a second or more is a warning with an action,
// and a collection never repaired has no repair finding.
func TestDoctorRepair(t *testing.T) {
	ds, err := testutil.LoadDataset("wordnet-use512", 400)
	require.NoError(t, err)
	db, url := doctorServer(t)
	c, err := db.Default().CreateCollection("churn", &sextant.CollectionConfig{Metric: sextant.Cosine, ExactThreshold: 1})
	require.NoError(t, err)
	addRows(t, c, ds.Base[:300], "r", 100)
	require.NoError(t, c.WaitIndexed())
	code, rep := runDoctorCmd(t, url, "--collection", "churn")
	require.Equal(t, 0, code, "%+v", rep)
	require.Empty(t, findingsOf(rep, "repair"), "no repair yet")

	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "r" + strconv.Itoa(i)
	}
	n, err := c.Delete(context.Background(), ids)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	addRows(t, c, ds.Base[300:310], "n", 10) // the first insert after the deletes repairs
	code, rep = runDoctorCmd(t, url, "--collection", "churn")
	require.Equal(t, 0, code, "%+v", rep)
	fs := findingsOf(rep, "repair")
	require.Len(t, fs, 1)
	require.Equal(t, "ok", fs[0].Severity)
	require.InDelta(t, 1, fs[0].Figures["repairs"], 0)
	require.Positive(t, fs[0].Figures["last_repair_seconds"])
	require.Positive(t, fs[0].Figures["last_repair_pause_seconds"])
	require.LessOrEqual(t, fs[0].Figures["last_repair_pause_seconds"], fs[0].Figures["last_repair_seconds"])

	// A long repair (the figures a large collection would report).
	var h docHealth
	h.Index.Mode, h.Index.Live, h.Index.Repairs = "hnsw", 1_000_000, 2
	h.Index.LastRepairSeconds, h.Index.LastRepairPauseSeconds = 30, 12.5
	var long []doctorFinding
	for _, f := range collectionFindings(h, doctorWALBytes) {
		if f.Check == "repair" {
			long = append(long, f)
		}
	}
	require.Len(t, long, 1)
	require.Equal(t, sevWarning, long[0].Severity)
	require.Contains(t, long[0].Message, "12.5 s")
	require.NotEmpty(t, long[0].Action)
}

package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
)

// newGuardedServer returns a server over a DB whose monitor samples every
// query, with an HNSW collection "guarded" of n random unit vectors (cosine).
func newGuardedServer(t *testing.T, cfg Config, n int) (*Server, *sextant.Collection) {
	t.Helper()
	db, err := sextant.Open(t.TempDir(), &sextant.Options{MonitorBudget: 1})
	require.NoError(t, err)
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := New(db, cfg)
	t.Cleanup(func() {
		if !s.shuttingDown.Load() {
			require.NoError(t, s.Shutdown(context.Background()))
		}
	})
	c, err := db.Default().CreateCollection("guarded", &sextant.CollectionConfig{Metric: sextant.Cosine, ExactThreshold: 100})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]sextant.Record, n)
	for i := range recs {
		recs[i] = sextant.Record{ID: fmt.Sprint(i), Embedding: randUnit(rng, 16), Metadata: sextant.Metadata{"even": i%2 == 0}}
	}
	require.NoError(t, c.Add(context.Background(), recs))
	require.NoError(t, c.WaitIndexed())
	return s, c
}

func randUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		x := rng.NormFloat64()
		v[i] = float32(x)
		n += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// TestGuardrailMetrics: after a few queries the recall guardrail metrics are
// exported with the collection's labels.
func TestGuardrailMetrics(t *testing.T) {
	s, c := newGuardedServer(t, Config{}, 400)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		_, err := c.Query(context.Background(), sextant.QueryOptions{Embeddings: [][]float32{randUnit(rng, 16)}, K: 5})
		require.NoError(t, err)
	}
	_, err := c.MeasureRecall(context.Background(), 20)
	require.NoError(t, err)
	r := do(t, s.Handler(), "GET", "/metrics", nil)
	require.Equal(t, http.StatusOK, r.code)
	m := string(r.body)
	lbl := `{collection="guarded",database="default_database",tenant="default_tenant"}`
	for _, want := range []string{
		"sextant_recall_estimate" + lbl + " ",
		"sextant_recall_estimate_samples" + lbl + " ",
		"sextant_recall_target" + lbl + " 0.95",
		"sextant_effective_ef" + lbl + " ",
		"sextant_collection_degraded" + lbl + " 0",
		"sextant_index_build_seconds" + lbl + " ",
		`sextant_vector_norm_bucket{collection="guarded",database="default_database",tenant="default_tenant",le="+Inf"} 400`,
		`sextant_vector_norm_count` + lbl + " 400",
		`sextant_result_distance_count` + lbl + " ",
		`sextant_query_duration_seconds_count{collection="guarded",database="default_database",plan="`,
	} {
		require.Contains(t, m, want)
	}
}

// TestGuardrailRoutesAuth: the admin routes sit behind the API keys;
// measure and auto_ef are writes for read-only keys, health and explain are
// not.
func TestGuardrailRoutesAuth(t *testing.T) {
	s, _ := newGuardedServer(t, Config{APIKeys: []Key{{Token: "rw"}, {Token: "ro", ReadOnly: true}}}, 200)
	h := s.Handler()
	const coll = "/sextant/v1/tenants/default_tenant/databases/default_database/collections/guarded"
	cases := []struct {
		method, path, body string
		write              bool
	}{
		{"GET", "/sextant/v1/health", "", false},
		{"GET", coll + "/health", "", false},
		{"POST", coll + "/explain", `{}`, false},
		{"POST", coll + "/health/measure", `{"n": 10}`, true},
		{"PUT", coll + "/auto_ef", `{"on": true}`, true},
	}
	for _, tc := range cases {
		body := func() *strings.Reader { return strings.NewReader(tc.body) }
		requireChromaError(t, do(t, h, tc.method, tc.path, body()), http.StatusUnauthorized)
		require.Equal(t, http.StatusOK, do(t, h, tc.method, tc.path, body(), "x-chroma-token", "rw").code, tc.path)
		r := do(t, h, tc.method, tc.path, body(), "Authorization", "Bearer ro")
		if tc.write {
			requireChromaError(t, r, http.StatusForbidden)
		} else {
			require.Equal(t, http.StatusOK, r.code, tc.path)
		}
	}
}

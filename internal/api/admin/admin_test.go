package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
)

const base = "/sextant/v1/tenants/default_tenant/databases/default_database/collections/"

func setup(t *testing.T) (*sextant.DB, http.Handler) {
	t.Helper()
	db, err := sextant.Open(t.TempDir(), &sextant.Options{MonitorBudget: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	c, err := db.Default().CreateCollection("docs", &sextant.CollectionConfig{Metric: sextant.Cosine, ExactThreshold: 100})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([]sextant.Record, 300)
	for i := range recs {
		v := make([]float32, 8)
		var n float64
		for j := range v {
			v[j] = float32(rng.NormFloat64())
			n += float64(v[j] * v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n))
		}
		recs[i] = sextant.Record{ID: fmt.Sprint(i), Embedding: v, Metadata: sextant.Metadata{"k": i % 10}}
	}
	require.NoError(t, c.Add(context.Background(), recs))
	require.NoError(t, c.WaitIndexed())
	mux := http.NewServeMux()
	New(db, Options{}).Register(mux)
	return db, mux
}

func call(t *testing.T, h http.Handler, method, path, body string, out any) int {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	if out != nil {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), out), w.Body.String())
	}
	return w.Code
}

func TestHealthEndpoints(t *testing.T) {
	_, h := setup(t)
	var doc Health
	require.Equal(t, http.StatusOK, call(t, h, "GET", base+"docs/health", "", &doc))
	require.Equal(t, "ok", doc.Status)
	require.Equal(t, "cosine", doc.Config.Metric)
	require.Equal(t, "hnsw", doc.Index.Mode)
	require.Equal(t, 300, doc.Index.Live)
	require.InDelta(t, 0.95, doc.Target, 1e-9)
	require.Positive(t, doc.EffectiveEf)
	require.True(t, doc.AutoEf)
	require.Equal(t, uint64(300), doc.Norms.Count)
	require.InDelta(t, 1, doc.Norms.UnitShare, 1e-9)
	require.Positive(t, doc.Memory.Vectors)

	require.Equal(t, http.StatusOK, call(t, h, "POST", base+"docs/health/measure", `{"n": 50}`, &doc))
	require.NotNil(t, doc.Recall.Estimate)
	require.GreaterOrEqual(t, doc.Recall.Samples, 50)

	require.Equal(t, http.StatusOK, call(t, h, "PUT", base+"docs/auto_ef", `{"on": false}`, &doc))
	require.False(t, doc.AutoEf)
	require.Equal(t, http.StatusOK, call(t, h, "PUT", base+"docs/auto_ef", `{"on": true}`, &doc))
	require.True(t, doc.AutoEf)

	var ov Overview
	require.Equal(t, http.StatusOK, call(t, h, "GET", "/sextant/v1/health", "", &ov))
	require.Equal(t, "ok", ov.Status)
	require.Len(t, ov.Collections, 1)
	require.Equal(t, "docs", ov.Collections[0].Collection)

	var e struct{ Error, Message string }
	require.Equal(t, http.StatusNotFound, call(t, h, "GET", base+"nope/health", "", &e))
	require.NotEmpty(t, e.Error)
	require.Equal(t, http.StatusBadRequest, call(t, h, "POST", base+"docs/health/measure", `{"n": 0}`, &e))
	require.Equal(t, http.StatusBadRequest, call(t, h, "PUT", base+"docs/auto_ef", `{}`, &e))
	require.Equal(t, http.StatusBadRequest, call(t, h, "PUT", base+"docs/auto_ef", `{"bogus": 1}`, &e))
}

func TestExplain(t *testing.T) {
	_, h := setup(t)
	var p Plan
	require.Equal(t, http.StatusOK, call(t, h, "POST", base+"docs/explain", `{"where": {"k": 3}, "n_results": 5}`, &p))
	require.True(t, p.StoredQuery)
	require.Equal(t, 30, p.Matches)
	require.Equal(t, 300, p.Live)
	require.InDelta(t, 0.1, p.Selectivity, 1e-9)
	require.NotEmpty(t, p.Kind)
	require.NotEmpty(t, p.Filter)
	require.Equal(t, 5, p.Results)

	require.Equal(t, http.StatusOK, call(t, h, "POST", base+"docs/explain", `{"query_embedding": [1,0,0,0,0,0,0,0]}`, &p))
	require.False(t, p.StoredQuery)
	require.Equal(t, 300, p.Matches)
	require.Equal(t, 10, p.Results)

	var e struct{ Error, Message string }
	require.Equal(t, http.StatusBadRequest, call(t, h, "POST", base+"docs/explain", `{"where": {"$bogus": 1}}`, &e))
	require.Equal(t, http.StatusBadRequest, call(t, h, "POST", base+"docs/explain", `{"query_embedding": [1,2]}`, &e))
}

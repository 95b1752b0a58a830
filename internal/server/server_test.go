package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
)

// newTestServer opens a DB in a temp dir and returns a server on it. The DB
// is closed by Shutdown in cleanup unless the test shut it down.
func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	db, err := sextant.Open(t.TempDir(), nil)
	require.NoError(t, err)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := New(db, cfg)
	t.Cleanup(func() {
		if !s.shuttingDown.Load() {
			require.NoError(t, s.Shutdown(context.Background()))
		}
	})
	return s
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func do(t *testing.T, h http.Handler, method, path string, body io.Reader, hdr ...string) resp {
	t.Helper()
	r := httptest.NewRequest(method, path, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return resp{w.Code, w.Header(), w.Body.Bytes()}
}

// requireChromaError checks Chroma's error shape.
func requireChromaError(t *testing.T, r resp, code int) {
	t.Helper()
	require.Equal(t, code, r.code, string(r.body))
	var e struct{ Error, Message string }
	require.NoError(t, json.Unmarshal(r.body, &e), string(r.body))
	require.NotEmpty(t, e.Error, string(r.body))
	require.NotEmpty(t, e.Message, string(r.body))
}

const colls = "/api/v2/tenants/default_tenant/databases/default_database/collections"

func TestAuthMatrix(t *testing.T) {
	s := newTestServer(t, Config{APIKeys: []Key{{Token: "rw-key"}, {Token: "ro-key", ReadOnly: true}}})
	h := s.Handler()
	anID := "0b6c1a4e-8a7e-4c39-9a53-0d1d3f1c2b7a"

	type call struct {
		method, path, body string
		write              bool
	}
	calls := []call{
		{"GET", "/api/v2/version", "", false},
		{"GET", colls, "", false},
		{"GET", colls + "_count", "", false},
		{"POST", colls + "/" + anID + "/query", `{"query_embeddings":[[1,2]],"n_results":1}`, false},
		{"POST", colls + "/" + anID + "/get", `{}`, false},
		{"GET", "/metrics", "", false},
		{"GET", "/openapi.json", "", false},
		{"POST", colls, `{"name":"authtest"}`, true},
		{"POST", colls + "/" + anID + "/add", `{"ids":["a"],"embeddings":[[1,2]]}`, true},
		{"POST", colls + "/" + anID + "/upsert", `{"ids":["a"],"embeddings":[[1,2]]}`, true},
		{"POST", colls + "/" + anID + "/delete", `{"ids":["a"]}`, true},
		{"PUT", colls + "/" + anID, `{"new_name":"x"}`, true},
		{"DELETE", colls + "/nothere", "", true},
		{"POST", "/api/v2/tenants", `{"name":"tenant-x"}`, true},
		{"DELETE", "/api/v2/tenants/default_tenant/databases/nodb", "", true},
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			send := func(hdr ...string) resp {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				return do(t, h, c.method, c.path, body, hdr...)
			}
			requireChromaError(t, send(), http.StatusUnauthorized)
			requireChromaError(t, send("X-Chroma-Token", "wrong"), http.StatusUnauthorized)
			requireChromaError(t, send("Authorization", "Bearer wrong"), http.StatusUnauthorized)
			requireChromaError(t, send("Authorization", "rw-key"), http.StatusUnauthorized) // no scheme

			for _, hdr := range [][]string{{"X-Chroma-Token", "rw-key"}, {"Authorization", "Bearer rw-key"}} {
				r := send(hdr...)
				require.NotContains(t, []int{401, 403}, r.code, "%v: %s", hdr, r.body)
			}
			r := send("X-Chroma-Token", "ro-key")
			if c.write {
				requireChromaError(t, r, http.StatusForbidden)
			} else {
				require.NotContains(t, []int{401, 403}, r.code, string(r.body))
			}
		})
	}

	// Heartbeat and health need no key.
	for _, p := range []string{"/api/v2/heartbeat", "/healthz", "/readyz"} {
		r := do(t, h, "GET", p, nil)
		require.Equal(t, http.StatusOK, r.code, "%s: %s", p, r.body)
	}
}

func TestIsWrite(t *testing.T) {
	base := "/api/v2/tenants/{tenant}/databases/{database}/collections"
	for _, tc := range []struct {
		method, route string
		write         bool
	}{
		{"GET", "GET " + base, false},
		{"POST", "POST " + base, true},
		{"POST", "POST " + base + "/{collection_id}/get", false},
		{"POST", "POST " + base + "/{collection_id}/query", false},
		{"POST", "POST " + base + "/{collection_id}/add", true},
		{"POST", "POST " + base + "/{collection_id}/update", true},
		{"POST", "POST " + base + "/{collection_id}/upsert", true},
		{"POST", "POST " + base + "/{collection_id}/delete", true},
		{"PUT", "PUT " + base + "/{collection_id}", true},
		{"DELETE", "DELETE " + base + "/{collection_id}", true},
		{"POST", "POST /api/v2/tenants", true},
		{"POST", "POST /api/v2/reset", true},
		{"POST", "", false}, // no route: 404/405 follows
	} {
		require.Equal(t, tc.write, isWrite(tc.method, tc.route), "%s %s", tc.method, tc.route)
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestServer(t, Config{MaxBodyBytes: 1024})
	h := s.Handler()
	big := `{"name":"` + strings.Repeat("x", 4096) + `"}`

	// Known length: refused before the handler runs.
	r := do(t, h, "POST", colls, strings.NewReader(big))
	requireChromaError(t, r, http.StatusRequestEntityTooLarge)
	require.Contains(t, string(r.body), "1024")

	// Unknown length (chunked): the read fails and the answer is 413 whatever
	// the handler made of it.
	req := httptest.NewRequest("POST", colls, io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	requireChromaError(t, resp{w.Code, w.Header(), w.Body.Bytes()}, http.StatusRequestEntityTooLarge)

	// Under the limit: not 413.
	r = do(t, h, "POST", colls, strings.NewReader(`{"name":"small_one"}`))
	require.NotEqual(t, http.StatusRequestEntityTooLarge, r.code, string(r.body))
}

func TestReadyz(t *testing.T) {
	s := newTestServer(t, Config{})
	h := s.Handler()
	require.Equal(t, http.StatusOK, do(t, h, "GET", "/readyz", nil).code)
	require.Equal(t, http.StatusOK, do(t, h, "GET", "/healthz", nil).code)
	s.ready.Store(false)
	require.Equal(t, http.StatusServiceUnavailable, do(t, h, "GET", "/readyz", nil).code)
	s.ready.Store(true)
	require.NoError(t, s.Shutdown(context.Background()))
	require.Equal(t, http.StatusServiceUnavailable, do(t, h, "GET", "/readyz", nil).code)
	require.Equal(t, http.StatusOK, do(t, h, "GET", "/healthz", nil).code)
}

func TestMetrics(t *testing.T) {
	s := newTestServer(t, Config{})
	h := s.Handler()
	c, err := s.db.Load().Default().CreateCollection("metrics_coll", nil)
	require.NoError(t, err)
	require.NoError(t, c.Add(context.Background(), []sextant.Record{
		{ID: "a", Embedding: []float32{1, 2}}, {ID: "b", Embedding: []float32{3, 4}},
	}))

	require.Equal(t, http.StatusOK, do(t, h, "GET", "/api/v2/heartbeat", nil).code)
	require.Equal(t, http.StatusNotFound, do(t, h, "GET", "/nowhere", nil).code)
	r := do(t, h, "GET", "/metrics", nil)
	require.Equal(t, http.StatusOK, r.code)
	m := string(r.body)
	require.Contains(t, m, `sextant_http_requests_total{code="200",route="GET /api/v2/heartbeat"} 1`)
	require.Contains(t, m, `sextant_http_requests_total{code="404",route="unmatched"} 1`)
	require.Contains(t, m, `sextant_http_request_duration_seconds_bucket{code="200",route="GET /api/v2/heartbeat",le="+Inf"} 1`)
	require.Contains(t, m, `sextant_collection_records{collection="metrics_coll",database="default_database",tenant="default_tenant"} 2`)
	require.Contains(t, m, `sextant_collection_wal_bytes{collection="metrics_coll"`)
	require.Contains(t, m, "go_goroutines ")
	require.Contains(t, m, "process_resident_memory_bytes ")
}

// TestMetricsEveryTenantAndCheckpoints: the collection figures cover every
// tenant of the DB, including one no request has named, and the checkpoint
// count and duration come from the collection's stats.
func TestMetricsEveryTenantAndCheckpoints(t *testing.T) {
	s := newTestServer(t, Config{})
	h := s.Handler()
	db := s.db.Load()
	// Created through the Go API: no HTTP request names this tenant.
	require.NoError(t, db.CreateTenant("quiet_tenant"))
	require.NoError(t, db.CreateDatabase("quiet_tenant", "quiet_db"))
	c, err := db.Database("quiet_tenant", "quiet_db").CreateCollection("quiet_coll", nil)
	require.NoError(t, err)
	require.NoError(t, c.Add(context.Background(), []sextant.Record{
		{ID: "a", Embedding: []float32{1, 2}}, {ID: "b", Embedding: []float32{3, 4}}, {ID: "c", Embedding: []float32{5, 6}},
	}))
	lbl := `{collection="quiet_coll",database="quiet_db",tenant="quiet_tenant"}`

	m := string(do(t, h, "GET", "/metrics", nil).body)
	require.Contains(t, m, "sextant_collection_records"+lbl+" 3")
	require.Contains(t, m, "# TYPE sextant_collection_checkpoints_total counter")
	require.Contains(t, m, "# TYPE sextant_collection_last_checkpoint_seconds gauge")
	require.Contains(t, m, "sextant_collection_checkpoints_total"+lbl+" 0")
	require.Contains(t, m, "sextant_collection_last_checkpoint_seconds"+lbl+" 0")
	require.Contains(t, m, "# TYPE sextant_collection_graph_repairs_total counter")
	require.Contains(t, m, "sextant_collection_graph_repairs_total"+lbl+" 0")
	require.Contains(t, m, "sextant_collection_last_graph_repair_seconds"+lbl+" 0")
	require.Contains(t, m, "sextant_collection_last_graph_repair_pause_seconds"+lbl+" 0")
	require.Contains(t, m, "sextant_collection_index_building"+lbl+" 0")

	require.NoError(t, c.Checkpoint())
	require.NoError(t, c.Add(context.Background(), []sextant.Record{{ID: "d", Embedding: []float32{7, 8}}}))
	require.NoError(t, c.Checkpoint())
	st, err := c.Stats()
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Checkpoints)
	require.Positive(t, st.LastCheckpointSecs)

	m = string(do(t, h, "GET", "/metrics", nil).body)
	require.Contains(t, m, "sextant_collection_checkpoints_total"+lbl+" 2")
	var secs float64
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, "sextant_collection_last_checkpoint_seconds"+lbl+" "); ok {
			_, err := fmt.Sscan(v, &secs)
			require.NoError(t, err)
		}
	}
	require.Positive(t, secs, "last checkpoint duration exported")
}

// TestPendingUntilReady: a server made before its DB is open answers the
// probes, 503 on the API in Chroma's error shape, and serves once Ready.
func TestPendingUntilReady(t *testing.T) {
	s := NewPending(Config{Logger: slog.New(slog.DiscardHandler), APIKeys: []Key{{Token: "k"}}})
	h := s.Handler()
	require.Equal(t, http.StatusOK, do(t, h, "GET", "/healthz", nil).code)
	r := do(t, h, "GET", "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.code)
	require.Equal(t, "recovering\n", string(r.body))
	r = do(t, h, "GET", "/metrics", nil, "x-chroma-token", "k")
	require.Equal(t, http.StatusOK, r.code)
	require.NotContains(t, string(r.body), "sextant_collection_records{")
	require.Equal(t, http.StatusOK, do(t, h, "GET", "/openapi.json", nil, "x-chroma-token", "k").code)
	// The API is gated, after authentication.
	require.Equal(t, http.StatusUnauthorized, do(t, h, "GET", colls, nil).code)
	for _, c := range []struct{ method, path, body string }{
		{"GET", colls, ""},
		{"POST", colls, `{"name":"early"}`},
		{"GET", "/api/v2/version", ""},
		{"GET", "/api/v2/nowhere", ""},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		r := do(t, h, c.method, c.path, body, "x-chroma-token", "k")
		requireChromaError(t, r, http.StatusServiceUnavailable)
		require.JSONEq(t, `{"error":"ServiceUnavailable","message":"database is recovering"}`, string(r.body))
		require.Equal(t, "1", r.hdr.Get("Retry-After"))
	}

	db, err := sextant.Open(t.TempDir(), nil)
	require.NoError(t, err)
	require.NoError(t, s.Ready(db))
	require.Error(t, s.Ready(db), "a second Ready is refused")
	require.Equal(t, http.StatusOK, do(t, h, "GET", "/readyz", nil).code)
	r = do(t, h, "POST", colls, strings.NewReader(`{"name":"later"}`), "x-chroma-token", "k")
	require.Equal(t, http.StatusOK, r.code, string(r.body))
	m := string(do(t, h, "GET", "/metrics", nil, "x-chroma-token", "k").body)
	require.Contains(t, m, `sextant_collection_records{collection="later",database="default_database",tenant="default_tenant"} 0`)
	require.NoError(t, s.Shutdown(context.Background()))
}

// TestPendingShutdown: shutting down before Ready works, and a DB handed
// over afterwards is refused (the caller closes it).
func TestPendingShutdown(t *testing.T) {
	s := NewPending(Config{})
	require.NoError(t, s.Shutdown(context.Background()))
	db, err := sextant.Open(t.TempDir(), nil)
	require.NoError(t, err)
	require.ErrorIs(t, s.Ready(db), ErrShuttingDown)
	require.NoError(t, db.Close())
	require.Equal(t, http.StatusServiceUnavailable, do(t, s.Handler(), "GET", "/readyz", nil).code)
}

func TestPanicRecovery(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	s := newTestServer(t, Config{Logger: slog.New(slog.NewTextHandler(&lockedWriter{&mu, &logs}, nil))})
	s.mux.Load().HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	requireChromaError(t, do(t, s.Handler(), "GET", "/test/panic", nil), http.StatusInternalServerError)
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "boom")
	require.Contains(t, logs.String(), "server_test.go") // the stack
	require.Contains(t, logs.String(), "status=500")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCORS(t *testing.T) {
	s := newTestServer(t, Config{CORSOrigins: []string{"http://app.example"}, APIKeys: []Key{{Token: "k"}}})
	h := s.Handler()
	r := do(t, h, "OPTIONS", colls, nil, "Origin", "http://app.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-chroma-token")
	require.Equal(t, http.StatusNoContent, r.code)
	require.Equal(t, "http://app.example", r.hdr.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.hdr.Get("Access-Control-Allow-Headers"), "x-chroma-token")

	r = do(t, h, "GET", "/api/v2/heartbeat", nil, "Origin", "http://app.example")
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, "http://app.example", r.hdr.Get("Access-Control-Allow-Origin"))

	r = do(t, h, "GET", "/api/v2/heartbeat", nil, "Origin", "http://evil.example")
	require.Empty(t, r.hdr.Get("Access-Control-Allow-Origin"))
}

// TestOpenAPI checks openapi.json against the mux: every operation it lists
// is routed to exactly that pattern, and every route registered is listed.
func TestOpenAPI(t *testing.T) {
	s := newTestServer(t, Config{})
	r := do(t, s.Handler(), "GET", "/openapi.json", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, "application/json", r.hdr.Get("Content-Type"))
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.body, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"), doc.OpenAPI)

	// covered: the mux patterns the documented operations route to.
	covered := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "parameters", "summary", "description":
				continue
			}
			method = strings.ToUpper(method)
			// A concrete request for the template must reach a route of its
			// own: the pattern itself, or a wildcard pattern of the same
			// method that dispatches it (GET .../{collection_id}/{op}), never
			// a catch-all.
			concrete := path
			for strings.Contains(concrete, "{") {
				i := strings.Index(concrete, "{")
				j := strings.Index(concrete[i:], "}")
				concrete = concrete[:i] + "p0123" + concrete[i+j+1:]
			}
			_, got := s.mux.Load().Handler(httptest.NewRequest(method, concrete, nil))
			want := method + " " + path
			if got != want {
				require.True(t, strings.HasPrefix(got, method+" ") && strings.HasSuffix(got, "}"),
					"openapi.json lists %s but the mux routes %s to %q", want, concrete, got)
			}
			covered[got] = true
		}
	}
	for _, p := range append(slices.Clone(ownRoutes), apiPatterns(t)...) {
		require.True(t, covered[p], "route %q is registered but not in openapi.json", p)
	}
}

func TestShutdownDrains(t *testing.T) {
	s := newTestServer(t, Config{})
	started, release := make(chan struct{}), make(chan struct{})
	s.mux.Load().HandleFunc("GET /test/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/test/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// Shutdown waits for the request in flight.
	require.Eventually(t, func() bool { return do(t, s.Handler(), "GET", "/readyz", nil).code == 503 },
		5*time.Second, 5*time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	_, err = s.db.Load().Default().ListCollections(0, 0)
	require.NoError(t, err, "the DB is still open while a request is in flight")

	close(release)
	res := <-got
	require.NoError(t, res.err)
	require.Equal(t, "done", res.body)
	require.NoError(t, <-shut)
	require.NoError(t, <-serveErr)
	_, err = s.db.Load().Default().ListCollections(0, 0)
	require.ErrorIs(t, err, sextant.ErrClosed, "Shutdown closes the DB")
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "no new connections after Shutdown")
}

func TestShutdownTimeout(t *testing.T) {
	s := newTestServer(t, Config{})
	started := make(chan struct{})
	s.mux.Load().HandleFunc("GET /test/stuck", func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/test/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	_, err = s.db.Load().Default().ListCollections(0, 0)
	require.ErrorIs(t, err, sextant.ErrClosed, "the DB is closed even when draining timed out")
}

// TestNoRoute: every path the server answers without a route gets Chroma's
// error shape: 404 NotFoundError, or 405 ChromaError with the Allow header
// and a message naming the method, the path and the allowed methods.
func TestNoRoute(t *testing.T) {
	s := newTestServer(t, Config{})
	h := s.Handler()
	id := "0b6c1a4e-8a7e-4c39-9a53-0d1d3f1c2b7a"
	adminColl := "/sextant/v1/tenants/default_tenant/databases/default_database/collections/c1"
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string // 405: the Allow header
	}{
		{"GET", "/foo", 404, ""},
		{"POST", "/foo/bar", 404, ""},
		{"GET", "/sextant/v1/nope", 404, ""},
		{"GET", adminColl + "/nope", 404, ""},
		{"GET", "/api/v2/nope", 404, ""},
		{"GET", colls + "/" + id + "/nope", 404, ""},
		{"POST", "/healthz", 405, "GET, HEAD"},
		{"DELETE", "/readyz", 405, "GET, HEAD"},
		{"PUT", "/metrics", 405, "GET, HEAD"},
		{"POST", "/openapi.json", 405, "GET, HEAD"},
		{"DELETE", "/api/v2/heartbeat", 405, "GET, HEAD"},
		{"POST", "/api/v2/heartbeat", 405, "GET, HEAD"},
		{"PUT", "/api/v2/tenants", 405, "POST"},
		{"POST", "/sextant/v1/health", 405, "GET, HEAD"},
		{"GET", adminColl + "/explain", 405, "POST"},
		{"DELETE", adminColl + "/auto_ef", 405, "PUT"},
		{"PUT", adminColl + "/health", 405, "GET, HEAD"},
		{"GET", colls + "/" + id + "/add", 405, "POST"},
		{"POST", colls + "/" + id + "/count", 405, "GET, HEAD"},
		{"PATCH", colls + "/" + id, 405, "DELETE, GET, HEAD, PUT"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := do(t, h, tc.method, tc.path, nil)
			requireChromaError(t, r, tc.code)
			require.Equal(t, "application/json", r.hdr.Get("Content-Type"))
			var e struct{ Error, Message string }
			require.NoError(t, json.Unmarshal(r.body, &e))
			if tc.code == 404 {
				require.Equal(t, "NotFoundError", e.Error)
				require.Equal(t, "no route "+tc.method+" "+tc.path, e.Message)
				return
			}
			require.Equal(t, "ChromaError", e.Error)
			require.Equal(t, tc.allow, r.hdr.Get("Allow"))
			require.Equal(t, "method "+tc.method+" is not allowed on "+tc.path+" (allowed: "+tc.allow+")", e.Message)
		})
	}
	// The server's own routes answer as before.
	for _, tc := range []struct{ path, ctype string }{
		{"/healthz", "text/plain; charset=utf-8"},
		{"/readyz", "text/plain; charset=utf-8"},
		{"/metrics", "text/plain"},
		{"/openapi.json", "application/json"},
	} {
		r := do(t, h, "GET", tc.path, nil)
		require.Equal(t, http.StatusOK, r.code, "%s: %s", tc.path, r.body)
		require.True(t, strings.HasPrefix(r.hdr.Get("Content-Type"), tc.ctype), "%s: %s", tc.path, r.hdr.Get("Content-Type"))
	}
	require.Equal(t, http.StatusOK, do(t, h, "HEAD", "/healthz", nil).code)
	// A path that only needs cleaning is still redirected.
	r := do(t, h, "GET", "/api/v2//heartbeat", nil)
	require.Equal(t, http.StatusTemporaryRedirect, r.code, string(r.body))
	// Unmatched requests are still counted as such.
	m := string(do(t, h, "GET", "/metrics", nil).body)
	require.Contains(t, m, `sextant_http_requests_total{code="405",route="unmatched"}`)
}

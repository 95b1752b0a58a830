package chroma

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSystemRoutes(t *testing.T) {
	c := newClient(t, Options{})
	for _, path := range []string{"/api/v2", "/api/v2/heartbeat"} {
		var hb map[string]json.Number
		c.ok(200, "GET", path, nil, &hb)
		ns, err := hb["nanosecond heartbeat"].Int64()
		require.NoError(t, err)
		require.Positive(t, ns)
	}
	_, b := c.do("GET", "/api/v2/version", nil)
	jsonEq(t, `"1.0.0"`, b)
	_, b = c.do("GET", "/api/v2/pre-flight-checks", nil)
	jsonEq(t, `{"max_batch_size": 5461, "supports_base64_encoding": true}`, b)
	code, b := c.do("GET", "/api/v2/healthcheck", nil)
	require.Equal(t, 200, code)
	jsonEq(t, `{"is_executor_ready": true, "is_log_client_ready": true}`, b)
	_, b = c.do("GET", "/api/v2/auth/identity", nil)
	jsonEq(t, `{"user_id": "", "tenant": "default_tenant", "databases": ["default_database"]}`, b)
	c.fails(403, "ChromaError", "Reset is disabled by config", "POST", "/api/v2/reset", nil)
	code, b = c.do("GET", "/api/v1/heartbeat", nil)
	require.Equal(t, http.StatusGone, code)
	jsonEq(t, `{"error":"Unimplemented","message":"The v1 API is deprecated. Please use /v2 apis"}`, b)
}

// TestFallback: unknown /api/v2 paths answer 404 NotFoundError; a path
// routed for other methods answers 405 ChromaError with the Allow header,
// naming the method, the path and the allowed methods.
func TestFallback(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("coll", nil)
	rec := cols + "/" + id
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/api/v2/nope", 404, ""},
		{"DELETE", "/api/v2/tenants/default_tenant/nope", 404, ""},
		{"GET", rec + "/nope", 404, ""},
		{"POST", rec + "/nope", 404, ""},
		{"GET", cols + "/by-id/x/y", 404, ""},
		{"POST", "/api/v2/heartbeat", 405, "GET, HEAD"},
		{"DELETE", "/api/v2/heartbeat", 405, "GET, HEAD"},
		{"GET", "/api/v2/reset", 405, "POST"},
		{"DELETE", "/api/v2/tenants", 405, "POST"},
		{"PUT", "/api/v2/tenants/t1", 405, "GET, HEAD, PATCH"},
		{"GET", rec + "/add", 405, "POST"},
		{"DELETE", rec + "/query", 405, "POST"},
		{"POST", rec + "/count", 405, "GET, HEAD"},
		{"PUT", rec + "/indexing_status", 405, "GET, HEAD"},
		{"POST", cols + "/by-id/" + id, 405, "GET, HEAD"},
		{"PATCH", rec, 405, "DELETE, GET, HEAD, PUT"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, b := serve(c, newRequest(tc.method, tc.path, "{}"))
			var e struct{ Error, Message string }
			require.NoError(t, json.Unmarshal(b, &e), "%s", b)
			require.Equal(t, tc.code, code, "%s", b)
			if tc.code == 404 {
				require.Equal(t, errorBody{"NotFoundError", "no route " + tc.method + " " + tc.path}, errorBody{e.Error, e.Message})
				return
			}
			rec := httptest.NewRecorder()
			c.mux.ServeHTTP(rec, newRequest(tc.method, tc.path, "{}"))
			require.Equal(t, tc.allow, rec.Header().Get("Allow"))
			require.Equal(t, errorBody{"ChromaError", "method " + tc.method + " is not allowed on " + tc.path + " (allowed: " + tc.allow + ")"},
				errorBody{e.Error, e.Message})
		})
	}
}

func TestSystemOptions(t *testing.T) {
	c := newClient(t, Options{MaxBatchSize: 7, Version: "9.9.9"})
	_, b := c.do("GET", "/api/v2/pre-flight-checks", nil)
	jsonEq(t, `{"max_batch_size": 7, "supports_base64_encoding": true}`, b)
	_, b = c.do("GET", "/api/v2/version", nil)
	jsonEq(t, `"9.9.9"`, b)
}

func TestHealthcheckClosed(t *testing.T) {
	c := newClient(t, Options{})
	require.NoError(t, c.db.Close())
	code, b := c.do("GET", "/api/v2/healthcheck", nil)
	require.Equal(t, 503, code)
	jsonEq(t, `{"is_executor_ready": false, "is_log_client_ready": false}`, b)
}

// Routes Chroma's local server does not implement answer 501, never 404.
func TestUnimplementedRoutes(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("coll", nil)
	for _, tc := range []struct{ method, path, name string }{
		{"POST", cols + "/" + id + "/search", "ChromaError"},
		{"POST", cols + "/" + id + "/fork", "ChromaError"},
		{"GET", cols + "/" + id + "/fork_count", "ChromaError"},
		{"POST", cols + "/" + id + "/conditional/get", "TransactionsNotSupported"},
		{"POST", cols + "/" + id + "/conditional/commit", "TransactionsNotSupported"},
		{"POST", cols + "/" + id + "/functions/attach", "ChromaError"},
		{"GET", cols + "/" + id + "/functions/f1", "ChromaError"},
		{"POST", cols + "/" + id + "/attached_functions/f1/add_input", "ChromaError"},
		{"POST", cols + "/" + id + "/attached_functions/f1/detach", "ChromaError"},
		{"PATCH", "/api/v2/tenants/default_tenant", "ChromaError"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			c.fails(501, tc.name, "", tc.method, tc.path, "{}")
		})
	}
}

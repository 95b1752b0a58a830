package chroma

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
)

const (
	base = "/api/v2/tenants/default_tenant/databases/default_database"
	cols = base + "/collections"
)

// tclient drives a Handler through its ServeMux.
type tclient struct {
	t   *testing.T
	mux *http.ServeMux
	db  *sextant.DB
}

func newClient(t *testing.T, opts Options) *tclient {
	t.Helper()
	db, err := sextant.Open(t.TempDir(), &sextant.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	mux := http.NewServeMux()
	New(db, opts).Register(mux)
	return &tclient{t: t, mux: mux, db: db}
}

// do sends body (a string is sent raw, anything else as JSON) and returns
// the status and the response body.
func (c *tclient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		enc, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(enc)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	c.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		require.Equal(c.t, "application/json", rec.Header().Get("Content-Type"), "%s %s: %s", method, path, rec.Body)
	}
	return rec.Code, rec.Body.Bytes()
}

// ok sends a request that must answer want and decodes the body into out
// (when not nil).
func (c *tclient) ok(want int, method, path string, body, out any) {
	c.t.Helper()
	code, b := c.do(method, path, body)
	require.Equal(c.t, want, code, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
	}
}

// fails sends a request that must fail with status, Chroma error name and
// a message containing msg.
func (c *tclient) fails(status int, name, msg, method, path string, body any) {
	c.t.Helper()
	code, b := c.do(method, path, body)
	require.Equal(c.t, status, code, "%s %s: %s", method, path, b)
	var e struct{ Error, Message string }
	require.NoError(c.t, json.Unmarshal(b, &e), "%s", b)
	require.Equal(c.t, name, e.Error, "%s", b)
	require.Contains(c.t, e.Message, msg)
}

// create creates a collection and returns its id.
func (c *tclient) create(name string, extra map[string]any) string {
	c.t.Helper()
	body := map[string]any{"name": name}
	for k, v := range extra {
		body[k] = v
	}
	var coll struct{ ID string }
	c.ok(200, "POST", cols, body, &coll)
	require.NotEmpty(c.t, coll.ID)
	return coll.ID
}

// count returns a collection's record count.
func (c *tclient) count(id string) int {
	c.t.Helper()
	var n int
	c.ok(200, "GET", cols+"/"+id+"/count", nil, &n)
	return n
}

// jsonEq compares a JSON body with the expected JSON text, ignoring layout.
func jsonEq(t *testing.T, want string, got []byte) {
	t.Helper()
	require.JSONEq(t, want, string(got))
}

func replaceID(b []byte, id, with string) []byte {
	return []byte(strings.ReplaceAll(string(b), id, with))
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func newRequest(method, path, body string) *http.Request {
	return httptest.NewRequest(method, path, strings.NewReader(body))
}

func serve(c *tclient, req *http.Request) (int, []byte) {
	rec := httptest.NewRecorder()
	c.mux.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

package chroma

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// withModel sends a JSON request declaring a model in the header.
func (c *tclient) withModel(model, method, path string, body any) (int, []byte) {
	c.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(c.t, err)
	req := newRequest(method, path, string(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ModelHeader, model)
	return serve(c, req)
}

// TestEmbeddingModelPinHTTP: the pin from metadata or embedding_function,
// the x-sextant-embedding-model header (409 naming both on a mismatch, 400
// when malformed), get_or_create naming another model (409, never the old
// collection), and PUT changing the pin through metadata (409). Nothing is
// written by a refused request.
func TestEmbeddingModelPinHTTP(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("pinned", map[string]any{"metadata": map[string]any{"embedding_model": "text-embedding-3-small@2025-01"}})
	add := map[string]any{"ids": []string{"a", "b"}, "embeddings": [][]float32{{1, 0, 0}, {0, 1, 0}}}
	query := map[string]any{"query_embeddings": [][]float32{{1, 0, 0}}, "n_results": 1}

	code, b := c.withModel("text-embedding-3-small@2025-01", "POST", cols+"/"+id+"/add", add)
	require.Equal(t, http.StatusCreated, code, "%s", b)
	for _, tc := range []struct {
		name, model, op string
		body            any
		status          int
		msg             string
	}{
		{"add, other version", "text-embedding-3-small@2025-06", "add", map[string]any{"ids": []string{"c"}, "embeddings": [][]float32{{0, 0, 1}}},
			409, `the request declares embedding model "text-embedding-3-small@2025-06", the collection is pinned to "text-embedding-3-small@2025-01"`},
		{"upsert, other model", "text-embedding-3-large", "upsert", map[string]any{"ids": []string{"c"}, "embeddings": [][]float32{{0, 0, 1}}}, 409, "text-embedding-3-large"},
		{"update, no version", "text-embedding-3-small", "update", map[string]any{"ids": []string{"a"}, "embeddings": [][]float32{{0, 0, 1}}}, 409, "without a version"},
		{"query, other model", "other", "query", query, 409, `"other"`},
		{"other model, other dimension: still 409", "text-embedding-3-large", "add", map[string]any{"ids": []string{"c"}, "embeddings": [][]float32{{0, 0, 1, 0, 0}}}, 409, "text-embedding-3-large"},
		{"query, other dimension, n_results 0", "other", "query", map[string]any{"query_embeddings": [][]float32{{1, 0}}, "n_results": 0}, 409, `"other"`},
		{"malformed header", "model@", "add", map[string]any{"ids": []string{"c"}, "embeddings": [][]float32{{0, 0, 1}}}, 400, "x-sextant-embedding-model"},
	} {
		code, b := c.withModel(tc.model, "POST", cols+"/"+id+"/"+tc.op, tc.body)
		require.Equal(t, tc.status, code, "%s: %s", tc.name, b)
		var e struct{ Error, Message string }
		require.NoError(t, json.Unmarshal(b, &e), "%s", b)
		require.Contains(t, e.Message, tc.msg, tc.name)
	}
	require.Equal(t, 2, c.count(id), "refused writes changed nothing")
	var got struct{ Embeddings [][]float32 }
	c.ok(200, "POST", cols+"/"+id+"/get", map[string]any{"ids": []string{"a"}, "include": []string{"embeddings"}}, &got)
	require.Equal(t, [][]float32{{1, 0, 0}}, got.Embeddings, "the refused update left the vector")
	code, b = c.withModel("text-embedding-3-small@2025-01", "POST", cols+"/"+id+"/query", query)
	require.Equal(t, 200, code, "%s", b)
	// Undeclared requests stay accepted.
	c.ok(200, "POST", cols+"/"+id+"/query", query, nil)

	// get_or_create with another model: 409, not the old collection.
	c.fails(409, "ChromaError", `"text-embedding-3-large"`, "POST", cols,
		map[string]any{"name": "pinned", "get_or_create": true, "metadata": map[string]any{"embedding_model": "text-embedding-3-large"}})
	c.fails(409, "ChromaError", "pinned to", "POST", cols, map[string]any{"name": "pinned", "get_or_create": true,
		"configuration": map[string]any{"embedding_function": map[string]any{"type": "known", "name": "openai", "config": map[string]any{"model_name": "text-embedding-3-large"}}}})
	// The JS client's default embedding function names no model: the
	// existing collection is returned.
	var coll struct{ ID string }
	c.ok(200, "POST", cols, map[string]any{"name": "pinned", "get_or_create": true,
		"configuration": map[string]any{"embedding_function": map[string]any{"type": "known", "name": "default", "config": map[string]any{}}}}, &coll)
	require.Equal(t, id, coll.ID)

	// PUT: the same pin in new_metadata is fine; another is 409.
	c.ok(200, "PUT", cols+"/"+id, map[string]any{"new_metadata": map[string]any{"embedding_model": "text-embedding-3-small@2025-01", "k": "v"}}, nil)
	c.fails(409, "ChromaError", "explicit operation", "PUT", cols+"/"+id, map[string]any{"new_metadata": map[string]any{"embedding_model": "text-embedding-3-large"}})
	c.fails(400, "InvalidArgumentError", "want a string", "PUT", cols+"/"+id, map[string]any{"new_metadata": map[string]any{"embedding_model": 3}})

	// From the embedding function at create: pinned, and echoed as given.
	ef := map[string]any{"type": "known", "name": "openai", "config": map[string]any{"model_name": "text-embedding-3-small"}}
	var obj struct {
		ID                string
		ConfigurationJSON struct {
			EmbeddingFunction map[string]any `json:"embedding_function"`
		} `json:"configuration_json"`
	}
	c.ok(200, "POST", cols, map[string]any{"name": "from-ef", "configuration": map[string]any{"embedding_function": ef}}, &obj)
	require.Equal(t, ef, obj.ConfigurationJSON.EmbeddingFunction)
	code, b = c.withModel("text-embedding-3-large", "POST", cols+"/"+obj.ID+"/add", add)
	require.Equal(t, 409, code, "%s", b)
}

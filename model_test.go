package sextant

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseModelPin(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ModelPin
		err  string
	}{
		{in: "text-embedding-3-small", want: ModelPin{Name: "text-embedding-3-small"}},
		{in: " text-embedding-3-small-2025-01 ", want: ModelPin{Name: "text-embedding-3-small-2025-01"}},
		{in: "all-MiniLM-L6-v2@2.2.0", want: ModelPin{Name: "all-MiniLM-L6-v2", Version: "2.2.0"}},
		{in: "org@team/model@v3", want: ModelPin{Name: "org@team/model", Version: "v3"}},
		{in: "", err: "name is empty"},
		{in: "@v1", want: ModelPin{Name: "@v1"}}, // a leading @ is part of the name
		{in: "@cf/baai/bge-base-en-v1.5@2", want: ModelPin{Name: "@cf/baai/bge-base-en-v1.5", Version: "2"}},
		{in: " @ ", want: ModelPin{Name: "@"}},
		{in: "model@", err: "empty version"},
		{in: "bad\x00name", err: "control characters"},
		{in: strings.Repeat("m", 300), err: "over 256"},
	} {
		got, err := ParseModelPin(tc.in)
		if tc.err != "" {
			require.ErrorIs(t, err, ErrInvalidArgument, "%q", tc.in)
			require.ErrorContains(t, err, tc.err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		require.Equal(t, tc.want, got)
		require.Equal(t, strings.TrimSpace(tc.in), got.String())
	}
}

func TestModelPinAccepts(t *testing.T) {
	pin := func(s string) ModelPin {
		p, err := ParseModelPin(s)
		require.NoError(t, err)
		return p
	}
	for _, tc := range []struct {
		pin, declared string
		ok            bool
	}{
		{"m", "m", true},
		{"m", "m@v2", true}, // a pin without a version accepts any version of its model
		{"m@v1", "m@v1", true},
		{"m@v1", "m@v2", false},
		{"m@v1", "m", false}, // the version must be declared
		{"m", "other", false},
		{"m@v1", "other@v1", false},
	} {
		err := pin(tc.pin).accepts(pin(tc.declared))
		if tc.ok {
			require.NoError(t, err, "pin %s, declared %s", tc.pin, tc.declared)
			continue
		}
		require.ErrorIs(t, err, ErrModelMismatch, "pin %s, declared %s", tc.pin, tc.declared)
		require.Contains(t, err.Error(), tc.pin)
		require.Contains(t, err.Error(), tc.declared)
	}
	require.ErrorIs(t, ModelPin{Name: "m", Dimension: 8}.accepts(ModelPin{Name: "m", Dimension: 16}), ErrModelMismatch)
}

// TestEmbeddingModelPin: a pin set from the metadata key, from Chroma's
// embedding function or from the Go field is enforced on writes and queries
// that declare a model (undeclared ones pass), refused on a get-or-create
// that names another model, changed only explicitly, and durable.
func TestEmbeddingModelPin(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, nil)
	d := db.Default()
	vecs := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}}
	recs := func(prefix string) []Record {
		return []Record{{ID: prefix + "1", Embedding: vecs[0]}, {ID: prefix + "2", Embedding: vecs[1]}}
	}
	declare := func(s string) (context.Context, ModelPin) {
		p, err := ParseModelPin(s)
		require.NoError(t, err)
		return WithEmbeddingModel(ctx, p), p
	}

	// From the metadata key, as the seed's code sets it.
	c, err := d.CreateCollection("pinned", &CollectionConfig{Metric: Cosine,
		Metadata: Metadata{"embedding_model": "text-embedding-3-small-2025-01"}})
	require.NoError(t, err)
	require.Equal(t, ModelPin{Name: "text-embedding-3-small-2025-01"}, c.Config().EmbeddingModel)
	require.NoError(t, c.Add(ctx, recs("u")), "an undeclared write is accepted")
	require.Equal(t, 4, c.Config().EmbeddingModel.Dimension, "the pin takes the dimension of the first write")
	good, _ := declare("text-embedding-3-small-2025-01")
	bad, _ := declare("text-embedding-3-large")
	require.NoError(t, c.Add(good, recs("g")))
	err = c.Add(bad, recs("b"))
	require.ErrorIs(t, err, ErrModelMismatch)
	require.ErrorContains(t, err, `"text-embedding-3-large"`)
	require.ErrorContains(t, err, `"text-embedding-3-small-2025-01"`)
	err = c.Upsert(bad, recs("b"))
	require.ErrorIs(t, err, ErrModelMismatch)
	err = c.UpsertMerge(bad, []UpdateRecord{{ID: "b1", Embedding: vecs[0]}})
	require.ErrorIs(t, err, ErrModelMismatch)
	_, err = c.Query(bad, QueryOptions{Embeddings: vecs[:1], K: 1})
	require.ErrorIs(t, err, ErrModelMismatch)
	_, err = c.Query(good, QueryOptions{Embeddings: vecs[:1], K: 1})
	require.NoError(t, err)
	n, err := c.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n, "refused writes changed nothing")

	// get-or-create naming another model is refused, the same one answers.
	_, err = d.GetOrCreateCollection("pinned", &CollectionConfig{Metadata: Metadata{"embedding_model": "text-embedding-3-large"}})
	require.ErrorIs(t, err, ErrModelMismatch)
	_, err = d.GetOrCreateCollection("pinned", &CollectionConfig{EmbeddingModel: ModelPin{Name: "text-embedding-3-small-2025-01"}})
	require.NoError(t, err)
	_, err = d.GetOrCreateCollection("pinned", nil)
	require.NoError(t, err, "a get-or-create naming no model is not a conflict")

	// Changing the pin: not through metadata, only explicitly.
	err = c.Modify(ModifyOptions{Metadata: Metadata{"embedding_model": "text-embedding-3-large"}})
	require.ErrorIs(t, err, ErrModelMismatch)
	require.ErrorContains(t, err, "explicit")
	require.NoError(t, c.Modify(ModifyOptions{Metadata: Metadata{"embedding_model": "text-embedding-3-small-2025-01", "k": "v"}}))
	require.ErrorIs(t, c.SetEmbeddingModel(ModelPin{Name: "text-embedding-3-large"}, false), ErrModelMismatch)
	require.NoError(t, c.SetEmbeddingModel(ModelPin{Name: "text-embedding-3-large", Version: "v2"}, true))
	require.Equal(t, "text-embedding-3-large@v2", c.Metadata()["embedding_model"], "the metadata key follows the replaced pin")
	require.NoError(t, c.Modify(ModifyOptions{Metadata: c.Metadata()}), "a read-modify-write of the metadata passes")
	err = c.Add(bad, recs("b"))
	require.ErrorIs(t, err, ErrModelMismatch, "the pin has a version: a declaration without one is refused")
	require.ErrorContains(t, err, "without a version")
	v2, _ := declare("text-embedding-3-large@v2")
	require.NoError(t, c.Add(v2, recs("b")))

	// From Chroma's embedding function (name + model_name).
	ef := `{"type":"known","name":"openai","config":{"model_name":"text-embedding-3-small","dimensions":4}}`
	c2, err := d.CreateCollection("from-ef", &CollectionConfig{EmbeddingFunction: ef})
	require.NoError(t, err)
	require.Equal(t, ModelPin{Name: "text-embedding-3-small", Dimension: 4}, c2.Config().EmbeddingModel)
	require.Equal(t, 4, c2.Config().Dimension)
	// The JS client's default embedding function names no model: no pin.
	c3, err := d.CreateCollection("unpinned", &CollectionConfig{EmbeddingFunction: `{"type":"known","name":"default","config":{}}`})
	require.NoError(t, err)
	require.True(t, c3.Config().EmbeddingModel.IsZero())
	require.NoError(t, c3.Add(good, recs("g")), "an unpinned collection accepts any declared model")
	// A get-or-create that names a model pins an unpinned collection.
	_, err = d.GetOrCreateCollection("unpinned", &CollectionConfig{Metadata: Metadata{"embedding_model": "m@1"}})
	require.NoError(t, err)
	require.Equal(t, ModelPin{Name: "m", Version: "1", Dimension: 4}, c3.Config().EmbeddingModel)

	// The metadata key names the model, the embedding function another:
	// the explicit key wins (the function describes the client).
	c4, err := d.CreateCollection("key-wins", &CollectionConfig{Metadata: Metadata{"embedding_model": "text-embedding-3-small-2025-01"},
		EmbeddingFunction: `{"type":"known","name":"openai","config":{"model_name":"text-embedding-3-small"}}`})
	require.NoError(t, err)
	require.Equal(t, "text-embedding-3-small-2025-01", c4.Config().EmbeddingModel.Name)

	// Metadata must name the pin exactly: a version the pin lacks is refused.
	c5, err := d.CreateCollection("exact", &CollectionConfig{EmbeddingModel: ModelPin{Name: "m"}})
	require.NoError(t, err)
	require.ErrorIs(t, c5.Modify(ModifyOptions{Metadata: Metadata{"embedding_model": "m@v2"}}), ErrModelMismatch)
	require.NoError(t, c5.Modify(ModifyOptions{Metadata: Metadata{"embedding_model": "m"}}))
	require.ErrorIs(t, c5.SetEmbeddingModel(ModelPin{Name: "a@b"}, true), ErrInvalidArgument, "ambiguous: would read as NAME@VERSION")

	// Given twice, differently: refused.
	_, err = d.CreateCollection("twice", &CollectionConfig{EmbeddingModel: ModelPin{Name: "a"}, Metadata: Metadata{"embedding_model": "b"}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = d.CreateCollection("typed", &CollectionConfig{Metadata: Metadata{"embedding_model": 3}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = d.CreateCollection("dims", &CollectionConfig{Dimension: 8, EmbeddingFunction: ef})
	require.ErrorIs(t, err, ErrInvalidArgument)

	// Durable.
	closeTest(t, db)
	db = openTest(t, dir, nil)
	defer closeTest(t, db)
	c, err = db.Default().GetCollection("pinned")
	require.NoError(t, err)
	require.Equal(t, ModelPin{Name: "text-embedding-3-large", Version: "v2", Dimension: 4}, c.Config().EmbeddingModel)
	v1, _ := declare("text-embedding-3-large@v1")
	require.ErrorIs(t, c.Add(v1, recs("x")), ErrModelMismatch, "the pin is enforced after a restart")
	c2, err = db.Default().GetCollection("from-ef")
	require.NoError(t, err)
	require.Equal(t, ef, c2.Config().EmbeddingFunction, "Chroma's embedding function is echoed as given")
}

// TestCatalogFirstFormatEmbeddingFunction: a catalog of the first format
// kept Chroma's embedding function JSON in embedding_model; it opens with
// the function kept for Chroma clients and its model_name as the pin.
func TestCatalogFirstFormatEmbeddingFunction(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, nil)
	_, err := db.Default().CreateCollection("old", nil)
	require.NoError(t, err)
	closeTest(t, db)
	p := filepath.Join(dir, "catalog.json")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	old := strings.Replace(string(b), `"ef_construction"`,
		`"embedding_model": "{\"config\":{\"model_name\":\"all-MiniLM-L6-v2\"},\"name\":\"sentence_transformer\",\"type\":\"known\"}", "ef_construction"`, 1)
	require.NotEqual(t, string(b), old)
	require.NoError(t, os.WriteFile(p, []byte(old), 0o644))
	db = openTest(t, dir, nil)
	defer closeTest(t, db)
	c, err := db.Default().GetCollection("old")
	require.NoError(t, err)
	require.Equal(t, ModelPin{Name: "all-MiniLM-L6-v2"}, c.Config().EmbeddingModel)
	require.Contains(t, c.Config().EmbeddingFunction, "sentence_transformer")
}

// FuzzParseModelPin: no input panics; a pin that parses prints to a string
// that parses back to it.
func FuzzParseModelPin(f *testing.F) {
	for _, s := range []string{"m", "m@v", "a@b@c", " x @ y ", "@", "m@", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseModelPin(s)
		if err != nil {
			return
		}
		q, err := ParseModelPin(p.String())
		require.NoError(t, err, "%q -> %q", s, p.String())
		require.Equal(t, p, q)
	})
}

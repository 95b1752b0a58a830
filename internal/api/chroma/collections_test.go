package chroma

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The collection object's shape (§4.1), golden.
func TestCollectionObjectGolden(t *testing.T) {
	c := newClient(t, Options{})
	code, b := c.do("POST", cols, `{
		"name": "docs",
		"configuration": {
			"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 50, "max_neighbors": 32,
			         "num_threads": 4, "resize_factor": 1.2, "sync_threshold": 1000, "batch_size": 100},
			"embedding_function": {"type": "known", "name": "default", "config": {}}
		},
		"metadata": {"owner": "team-a", "rank": 3, "weight": 0.5},
		"get_or_create": false,
		"schema": null
	}`)
	require.Equal(t, 200, code, "%s", b)
	var obj struct{ ID string }
	require.NoError(t, jsonUnmarshal(b, &obj))
	const want = `{
		"id": "ID",
		"name": "docs",
		"configuration_json": {
			"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 50, "max_neighbors": 32,
			         "resize_factor": 1.2, "sync_threshold": 1000},
			"spann": null,
			"embedding_function": {"type": "known", "name": "default", "config": {}}
		},
		"schema": null,
		"metadata": {"owner": "team-a", "rank": 3, "weight": 0.5},
		"dimension": null,
		"tenant": "default_tenant",
		"database": "default_database",
		"log_position": 0,
		"version": 0
	}`
	jsonEq(t, want, replaceID(b, obj.ID, "ID"))

	// Every read of the collection answers the same object.
	for _, path := range []string{cols + "/docs", cols + "/by-id/" + obj.ID, "/api/v2/collections/default_tenant:default_database:docs"} {
		code, b := c.do("GET", path, nil)
		require.Equal(t, 200, code, "%s: %s", path, b)
		jsonEq(t, want, replaceID(b, obj.ID, "ID"))
	}

	// The first write fixes the dimension.
	c.ok(201, "POST", cols+"/"+obj.ID+"/add", `{"ids":["a"],"embeddings":[[1,2,3]]}`, nil)
	var got struct{ Dimension *int }
	c.ok(200, "GET", cols+"/docs", nil, &got)
	require.NotNil(t, got.Dimension)
	require.Equal(t, 3, *got.Dimension)
}

func TestCreateCollectionDefaults(t *testing.T) {
	c := newClient(t, Options{})
	code, b := c.do("POST", cols, `{"name":"plain"}`)
	require.Equal(t, 200, code)
	var obj struct {
		ID                string
		Metadata          map[string]any
		ConfigurationJSON map[string]any `json:"configuration_json"`
	}
	require.NoError(t, jsonUnmarshal(b, &obj))
	require.Nil(t, obj.Metadata)
	require.Equal(t, map[string]any{
		"hnsw": map[string]any{"space": "l2", "ef_construction": 100.0, "ef_search": 100.0, "max_neighbors": 16.0,
			"resize_factor": 1.2, "sync_threshold": 1000.0},
		"spann": nil, "embedding_function": nil,
	}, obj.ConfigurationJSON)
}

func TestCreateCollectionLegacyMetadata(t *testing.T) {
	c := newClient(t, Options{})
	c.create("legacy", map[string]any{"metadata": map[string]any{"hnsw:space": "ip", "hnsw:M": 24, "hnsw:construction_ef": 150}})
	var obj struct {
		ConfigurationJSON struct {
			HNSW struct {
				Space          string
				EfConstruction int `json:"ef_construction"`
				MaxNeighbors   int `json:"max_neighbors"`
			}
		} `json:"configuration_json"`
		Metadata map[string]any
	}
	c.ok(200, "GET", cols+"/legacy", nil, &obj)
	require.Equal(t, "ip", obj.ConfigurationJSON.HNSW.Space)
	require.Equal(t, 24, obj.ConfigurationJSON.HNSW.MaxNeighbors)
	require.Equal(t, 150, obj.ConfigurationJSON.HNSW.EfConstruction)
	require.Equal(t, "ip", obj.Metadata["hnsw:space"])
}

func TestCreateCollectionErrors(t *testing.T) {
	c := newClient(t, Options{})
	c.create("taken", nil)
	for _, tc := range []struct {
		name, body     string
		status         int
		errName, inMsg string
	}{
		{"duplicate", `{"name":"taken"}`, 409, "ChromaError", "Collection [taken] already exists"},
		{"short name", `{"name":"ab"}`, 400, "InvalidArgumentError", "3 to 512"},
		{"ip address name", `{"name":"10.0.0.1"}`, 400, "InvalidArgumentError", "IPv4"},
		{"missing name", `{}`, 422, "ChromaError", "missing field `name`"},
		{"name not a string", `{"name":5}`, 422, "ChromaError", "name: invalid type: number, expected a string"},
		{"malformed JSON", `{"name":"x"`, 400, "InvalidArgumentError", "Failed to parse the request body as JSON"},
		{"trailing data", `{"name":"abc"} {}`, 400, "InvalidArgumentError", "trailing data"},
		{"unknown hnsw key", `{"name":"abc","configuration":{"hnsw":{"M":16}}}`, 422, "ChromaError", `unknown field "M"`},
		{"bad space", `{"name":"abc","configuration":{"hnsw":{"space":"euclid"}}}`, 422, "ChromaError", "unknown variant `euclid`"},
		{"hnsw and spann", `{"name":"abc","configuration":{"hnsw":{},"spann":{}}}`, 400, "InvalidArgumentError", "mutually exclusive"},
		{"spann", `{"name":"abc","configuration":{"spann":{"search_nprobe":8}}}`, 400, "InvalidArgumentError", "spann"},
		{"sync_threshold below 2", `{"name":"abc","configuration":{"hnsw":{"sync_threshold":1}}}`, 400, "InvalidArgumentError", "sync_threshold"},
		{"bad metadata key", `{"name":"abc","metadata":{"$x":1}}`, 400, "InvalidArgumentError", "must not start with"},
		{"bad metadata value", `{"name":"abc","metadata":{"x":{"nested":1}}}`, 400, "InvalidArgumentError", "metadata"},
		{"bad embedding function", `{"name":"abc","configuration":{"embedding_function":{"type":"magic"}}}`, 422, "ChromaError", "embedding_function.type"},
		{"legacy hnsw:M a string", `{"name":"abc","metadata":{"hnsw:M":"16"}}`, 400, "InvalidArgumentError", `collection metadata hnsw:M is a string ("16"), want an integer`},
		{"legacy hnsw:construction_ef a string", `{"name":"abc","metadata":{"hnsw:construction_ef":"100"}}`, 400, "InvalidArgumentError", `hnsw:construction_ef is a string ("100"), want an integer`},
		{"legacy hnsw:search_ef a bool", `{"name":"abc","metadata":{"hnsw:search_ef":true}}`, 400, "InvalidArgumentError", `hnsw:search_ef is a bool (true), want an integer`},
		{"legacy hnsw:M a fraction", `{"name":"abc","metadata":{"hnsw:M":2.5}}`, 400, "InvalidArgumentError", `hnsw:M is a float (2.5), want an integer`},
		{"legacy hnsw:space a number", `{"name":"abc","metadata":{"hnsw:space":2}}`, 400, "InvalidArgumentError", `hnsw:space is an integer (2), want a string: cosine, l2 or ip`},
		{"legacy hnsw:space unknown", `{"name":"abc","metadata":{"hnsw:space":"euclid"}}`, 400, "InvalidArgumentError", `unknown metric "euclid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(tc.status, tc.errName, tc.inMsg, "POST", cols, tc.body)
		})
	}
	c.fails(400, "InvalidArgumentError", "the body is empty", "POST", cols, nil)
	var n int
	c.ok(200, "GET", base+"/collections_count", nil, &n)
	require.Equal(t, 1, n, "refused creates created nothing")
}

func TestContentTypeAndBodyLimit(t *testing.T) {
	c := newClient(t, Options{MaxBodyBytes: 64})
	req := newRequest("POST", cols, `{"name":"abc"}`)
	req.Header.Set("Content-Type", "text/plain")
	code, b := serve(c, req)
	require.Equal(t, 415, code, "%s", b)
	// No Content-Type: JSON is assumed.
	req = newRequest("POST", cols, `{"name":"abc"}`)
	code, b = serve(c, req)
	require.Equal(t, 200, code, "%s", b)
	c.fails(413, "ChromaError", "larger than 64 bytes", "POST", cols, `{"name":"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"}`)
}

func TestGetOrCreate(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("goc", map[string]any{"get_or_create": true, "configuration": map[string]any{"hnsw": map[string]any{"space": "cosine"}}})
	// Again, with another configuration: Chroma returns the existing one.
	id2 := c.create("goc", map[string]any{"get_or_create": true,
		"configuration": map[string]any{"hnsw": map[string]any{"space": "l2"}, "embedding_function": map[string]any{"type": "known", "name": "openai", "config": map[string]any{}}}})
	require.Equal(t, id, id2)
	var obj struct {
		ConfigurationJSON struct{ HNSW struct{ Space string } } `json:"configuration_json"`
	}
	c.ok(200, "GET", cols+"/goc", nil, &obj)
	require.Equal(t, "cosine", obj.ConfigurationJSON.HNSW.Space)
}

func TestListCountDeleteCollections(t *testing.T) {
	c := newClient(t, Options{})
	var n int
	c.ok(200, "GET", base+"/collections_count", nil, &n)
	require.Zero(t, n)
	_, b := c.do("GET", cols+"?limit=100&offset=0", nil)
	jsonEq(t, `[]`, b)
	for _, name := range []string{"ccc", "aaa", "bbb"} {
		c.create(name, nil)
	}
	c.ok(200, "GET", base+"/collections_count", nil, &n)
	require.Equal(t, 3, n)
	var list []struct{ Name string }
	c.ok(200, "GET", cols, nil, &list)
	require.Equal(t, []struct{ Name string }{{"aaa"}, {"bbb"}, {"ccc"}}, list)
	c.ok(200, "GET", cols+"?limit=1&offset=1", nil, &list)
	require.Equal(t, []struct{ Name string }{{"bbb"}}, list)

	code, b := c.do("DELETE", cols+"/bbb", nil)
	require.Equal(t, 200, code)
	jsonEq(t, `{}`, b)
	c.fails(404, "NotFoundError", "Collection [bbb] does not exist", "GET", cols+"/bbb", nil)
	c.fails(404, "NotFoundError", "Collection [bbb] does not exist", "DELETE", cols+"/bbb", nil)
	c.ok(200, "GET", base+"/collections_count", nil, &n)
	require.Equal(t, 2, n)
	c.fails(404, "NotFoundError", "database", "GET", "/api/v2/tenants/default_tenant/databases/nodb/collections", nil)
}

func TestCollectionByIDErrors(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("coll", nil)
	c.fails(400, "InvalidArgumentError", "Collection ID is not a valid UUIDv4", "GET", cols+"/by-id/not-a-uuid", nil)
	c.fails(400, "InvalidArgumentError", "Collection ID is not a valid UUIDv4", "POST", cols+"/coll/get", `{}`)
	c.fails(404, "NotFoundError", "does not exist", "GET", cols+"/by-id/00000000-0000-4000-8000-000000000000", nil)
	c.fails(404, "NotFoundError", "does not exist", "POST", cols+"/00000000-0000-4000-8000-000000000000/get", `{}`)
	// An id of another database is not found in this one.
	c.ok(200, "POST", "/api/v2/tenants/default_tenant/databases", `{"name":"other"}`, nil)
	c.fails(404, "NotFoundError", "does not exist", "GET", "/api/v2/tenants/default_tenant/databases/other/collections/by-id/"+id, nil)
	c.fails(400, "InvalidArgumentError", "CRN", "GET", "/api/v2/collections/coll", nil)
}

func TestUpdateCollection(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("before", map[string]any{"metadata": map[string]any{"a": 1}})
	c.create("taken", nil)
	path := cols + "/" + id
	code, b := c.do("PUT", path, `{"new_name":"after","new_metadata":{"b":"two"},
		"new_configuration":{"hnsw":{"ef_search":200,"num_threads":2,"resize_factor":1.5,"sync_threshold":500,"batch_size":50}}}`)
	require.Equal(t, 200, code, "%s", b)
	jsonEq(t, `{}`, b)
	var obj struct {
		ID                string
		Name              string
		Metadata          map[string]any
		ConfigurationJSON struct {
			HNSW struct {
				EfSearch int `json:"ef_search"`
			}
		} `json:"configuration_json"`
	}
	c.ok(200, "GET", cols+"/after", nil, &obj)
	require.Equal(t, id, obj.ID)
	require.Equal(t, map[string]any{"b": "two"}, obj.Metadata)
	require.Equal(t, 200, obj.ConfigurationJSON.HNSW.EfSearch)
	c.fails(404, "NotFoundError", "", "GET", cols+"/before", nil)

	for _, tc := range []struct {
		name, body     string
		status         int
		errName, inMsg string
	}{
		{"rename onto existing", `{"new_name":"taken"}`, 409, "ChromaError", "Collection [taken] already exists"},
		{"invalid name", `{"new_name":"a"}`, 400, "InvalidArgumentError", "3 to 512"},
		{"space cannot change", `{"new_configuration":{"hnsw":{"space":"ip"}}}`, 422, "ChromaError", `unknown field "space"`},
		{"M cannot change", `{"new_configuration":{"hnsw":{"max_neighbors":48}}}`, 400, "InvalidArgumentError", "max_neighbors"},
		{"ef_search zero", `{"new_configuration":{"hnsw":{"ef_search":0}}}`, 400, "InvalidArgumentError", "ef_search"},
		{"spann", `{"new_configuration":{"spann":{"search_nprobe":4}}}`, 400, "InvalidArgumentError", "spann"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(tc.status, tc.errName, tc.inMsg, "PUT", path, tc.body)
		})
	}
	// A refused update changed nothing.
	c.ok(200, "GET", cols+"/after", nil, &obj)
	require.Equal(t, 200, obj.ConfigurationJSON.HNSW.EfSearch)
	c.fails(404, "NotFoundError", "", "PUT", cols+"/00000000-0000-4000-8000-000000000000", `{"new_name":"zzz"}`)
}

// TestUpdateCollectionLegacyKeys: Chroma's hnsw:* keys in new_metadata
// must agree with the collection (the metric, M and ef_construction change
// only through a re-index), must have the right type, and hnsw:search_ef
// sets ef_search. A refused update changes nothing, the name included.
func TestUpdateCollectionLegacyKeys(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("cosine_coll", map[string]any{"metadata": map[string]any{"owner": "a"},
		"configuration": map[string]any{"hnsw": map[string]any{"space": "cosine", "ef_search": 40}}})
	path := cols + "/" + id
	type hnsw struct {
		Space          string
		EfSearch       int `json:"ef_search"`
		EfConstruction int `json:"ef_construction"`
		MaxNeighbors   int `json:"max_neighbors"`
	}
	type object struct {
		Name              string
		Metadata          map[string]any
		ConfigurationJSON struct{ HNSW hnsw } `json:"configuration_json"`
	}
	var before object
	c.ok(200, "GET", cols+"/cosine_coll", nil, &before)
	const reindex = "it is fixed at creation and changes only through a re-index into a new collection"
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"space differs", `{"new_metadata":{"hnsw:space":"l2"}}`,
			`collection metadata hnsw:space is "l2" but the collection's metric is "cosine": ` + reindex},
		{"space differs, with a rename", `{"new_name":"renamed","new_metadata":{"hnsw:space":"ip"}}`,
			`hnsw:space is "ip" but the collection's metric is "cosine"`},
		{"M differs", `{"new_metadata":{"hnsw:M":32}}`, `collection metadata hnsw:M is 32 but the collection's M is 16: ` + reindex},
		{"construction_ef differs", `{"new_metadata":{"hnsw:construction_ef":200}}`,
			`collection metadata hnsw:construction_ef is 200 but the collection's ef_construction is 100: ` + reindex},
		{"M a string", `{"new_metadata":{"hnsw:M":"16"}}`, `collection metadata hnsw:M is a string ("16"), want an integer`},
		{"search_ef a string", `{"new_metadata":{"hnsw:search_ef":"50"}}`, `collection metadata hnsw:search_ef is a string ("50"), want an integer`},
		{"space a bool", `{"new_metadata":{"hnsw:space":true}}`, `collection metadata hnsw:space is a bool (true), want a string`},
		{"space unknown", `{"new_metadata":{"hnsw:space":"euclid"}}`, `unknown metric "euclid"`},
		{"search_ef out of range", `{"new_metadata":{"hnsw:search_ef":0}}`, `hnsw:search_ef 0 out of range [1, 4096]`},
		{"search_ef disagrees with ef_search", `{"new_metadata":{"hnsw:search_ef":50},"new_configuration":{"hnsw":{"ef_search":60}}}`,
			`ef_search 60 and collection metadata hnsw:search_ef 50 disagree`},
		{"ef_search out of range", `{"new_configuration":{"hnsw":{"ef_search":5000}}}`, `ef_search 5000 out of range`},
		{"rename with bad metadata", `{"new_name":"renamed","new_metadata":{"o":{"nested":1}}}`, `metadata`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(400, "InvalidArgumentError", tc.msg, "PUT", path, tc.body)
			var got object
			c.ok(200, "GET", cols+"/cosine_coll", nil, &got)
			require.Equal(t, before, got, "a refused update changes nothing")
		})
	}
	// Keys that agree are kept as metadata; hnsw:search_ef sets ef_search,
	// as new_configuration.hnsw.ef_search does.
	c.ok(200, "PUT", path, `{"new_metadata":{"hnsw:space":"cosine","hnsw:M":16,"hnsw:construction_ef":100.0,"hnsw:search_ef":77,"owner":"b"}}`, nil)
	var got object
	c.ok(200, "GET", cols+"/cosine_coll", nil, &got)
	require.Equal(t, hnsw{Space: "cosine", EfSearch: 77, EfConstruction: 100, MaxNeighbors: 16}, got.ConfigurationJSON.HNSW)
	require.Equal(t, map[string]any{"hnsw:space": "cosine", "hnsw:M": 16.0, "hnsw:construction_ef": 100.0, "hnsw:search_ef": 77.0, "owner": "b"}, got.Metadata)
	c.ok(200, "PUT", path, `{"new_metadata":{"hnsw:search_ef":90},"new_configuration":{"hnsw":{"ef_search":90}}}`, nil)
	c.ok(200, "GET", cols+"/cosine_coll", nil, &got)
	require.Equal(t, 90, got.ConfigurationJSON.HNSW.EfSearch)
}

func TestIndexingStatus(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("coll", nil)
	c.ok(201, "POST", cols+"/"+id+"/add", `{"ids":["a","b"],"embeddings":[[1,0],[0,1]]}`, nil)
	_, b := c.do("GET", cols+"/"+id+"/indexing_status", nil)
	jsonEq(t, `{"num_indexed_ops":2,"num_unindexed_ops":0,"op_indexing_progress":1,"total_ops":2}`, b)
}

package chroma

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
)

// b64 encodes v as Chroma's JS client does: little-endian float32, base64.
func b64(v ...float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// seeded returns a client with collection "recs" holding a, b, c.
func seeded(t *testing.T) (*tclient, string) {
	c := newClient(t, Options{})
	id := c.create("recs", nil)
	code, b := c.do("POST", cols+"/"+id+"/add", `{
		"ids": ["a", "b", "c"],
		"embeddings": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
		"documents": ["apple pie", null, "cherry tart"],
		"metadatas": [{"kind": "fruit", "page": 3, "score": 1.5}, null, {"kind": "fruit", "page": 7, "tags": ["x", "y"]}],
		"uris": ["s3://a", null, null]
	}`)
	require.Equal(t, 201, code, "%s", b)
	jsonEq(t, `{}`, b)
	return c, cols + "/" + id
}

func TestGetIncludeGolden(t *testing.T) {
	c, path := seeded(t)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"default include", `{"ids":["a","b"]}`, `{
			"ids": ["a","b"], "embeddings": null, "uris": null,
			"documents": ["apple pie", null],
			"metadatas": [{"kind":"fruit","page":3,"score":1.5}, null],
			"include": ["documents","metadatas"]}`},
		{"everything", `{"ids":["a","b"],"include":["embeddings","documents","metadatas","uris"]}`, `{
			"ids": ["a","b"],
			"embeddings": [[1,0,0],[0,1,0]],
			"documents": ["apple pie", null],
			"uris": ["s3://a", null],
			"metadatas": [{"kind":"fruit","page":3,"score":1.5}, null],
			"include": ["embeddings","documents","metadatas","uris"]}`},
		{"ids only", `{"ids":["c"],"include":[]}`, `{
			"ids": ["c"], "embeddings": null, "documents": null, "uris": null, "metadatas": null, "include": []}`},
		{"uris without metadatas", `{"ids":["a"],"include":["uris"]}`, `{
			"ids": ["a"], "embeddings": null, "documents": null, "uris": ["s3://a"], "metadatas": null, "include": ["uris"]}`},
		{"where, all fields", `{"where":{"page":{"$gte":5}},"include":["metadatas"]}`, `{
			"ids": ["c"], "embeddings": null, "documents": null, "uris": null,
			"metadatas": [{"kind":"fruit","page":7,"tags":["x","y"]}], "include": ["metadatas"]}`},
		{"where_document", `{"where_document":{"$contains":"pie"},"include":["documents"]}`, `{
			"ids": ["a"], "embeddings": null, "documents": ["apple pie"], "uris": null, "metadatas": null, "include": ["documents"]}`},
		{"int equality matches int metadata", `{"where":{"page":3},"include":[]}`, `{
			"ids": ["a"], "embeddings": null, "documents": null, "uris": null, "metadatas": null, "include": []}`},
		{"limit and offset", `{"limit":1,"offset":1,"include":[]}`, `{
			"ids": ["b"], "embeddings": null, "documents": null, "uris": null, "metadatas": null, "include": []}`},
		{"limit 0", `{"limit":0}`, `{
			"ids": [], "embeddings": null, "documents": [], "uris": null, "metadatas": [], "include": ["documents","metadatas"]}`},
		{"no match", `{"ids":["zzz"],"include":["embeddings"]}`, `{
			"ids": [], "embeddings": [], "documents": null, "uris": null, "metadatas": null, "include": ["embeddings"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := c.do("POST", path+"/get", tc.body)
			require.Equal(t, 200, code, "%s", b)
			jsonEq(t, tc.want, b)
		})
	}
}

func TestQueryGolden(t *testing.T) {
	c, path := seeded(t)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"default include", `{"query_embeddings":[[1,0,0]],"n_results":2}`, `{
			"ids": [["a","b"]], "embeddings": null, "uris": null,
			"documents": [["apple pie", null]],
			"metadatas": [[{"kind":"fruit","page":3,"score":1.5}, null]],
			"distances": [[0, 2]],
			"include": ["metadatas","documents","distances"]}`},
		{"two queries, distances only", `{"query_embeddings":[[1,0,0],[0,0,1]],"n_results":1,"include":["distances"]}`, `{
			"ids": [["a"],["c"]], "embeddings": null, "uris": null, "documents": null, "metadatas": null,
			"distances": [[0],[0]], "include": ["distances"]}`},
		{"embeddings and uris", `{"query_embeddings":[[1,0,0]],"n_results":1,"include":["embeddings","uris"]}`, `{
			"ids": [["a"]], "embeddings": [[[1,0,0]]], "uris": [["s3://a"]], "documents": null, "metadatas": null,
			"distances": null, "include": ["embeddings","uris"]}`},
		{"where", `{"query_embeddings":[[1,0,0]],"n_results":3,"where":{"$and":[{"kind":"fruit"},{"page":{"$gt":5}}]},"include":[]}`, `{
			"ids": [["c"]], "embeddings": null, "uris": null, "documents": null, "metadatas": null, "distances": null, "include": []}`},
		{"ids restrict the candidates", `{"query_embeddings":[[1,0,0]],"n_results":3,"ids":["b","c"],"include":["distances"]}`, `{
			"ids": [["b","c"]], "embeddings": null, "uris": null, "documents": null, "metadatas": null,
			"distances": [[2,2]], "include": ["distances"]}`},
		{"empty ids", `{"query_embeddings":[[1,0,0]],"ids":[],"include":[]}`, `{
			"ids": [[]], "embeddings": null, "uris": null, "documents": null, "metadatas": null, "distances": null, "include": []}`},
		{"n_results default 10 is bounded by the count", `{"query_embeddings":[[0,1,0]],"include":[]}`, `{
			"ids": [["b","a","c"]], "embeddings": null, "uris": null, "documents": null, "metadatas": null, "distances": null, "include": []}`},
		{"n_results 0", `{"query_embeddings":[[0,1,0]],"n_results":0,"include":["distances"]}`, `{
			"ids": [[]], "embeddings": null, "uris": null, "documents": null, "metadatas": null, "distances": [[]], "include": ["distances"]}`},
		{"no queries", `{"query_embeddings":[],"include":[]}`, `{
			"ids": [], "embeddings": null, "uris": null, "documents": null, "metadatas": null, "distances": null, "include": []}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := c.do("POST", path+"/query", tc.body)
			require.Equal(t, 200, code, "%s", b)
			if tc.name == "n_results default 10 is bounded by the count" {
				// a and c tie; compare as sets after the nearest.
				require.Contains(t, []string{`{"ids":[["b","a","c"]]`, `{"ids":[["b","c","a"]]`}, string(b[:strings.Index(string(b), "]]")+2]))
				return
			}
			jsonEq(t, tc.want, b)
		})
	}
}

func TestQueryEmptyCollection(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("empty", nil)
	_, b := c.do("POST", cols+"/"+id+"/query", `{"query_embeddings":[[1,2]],"n_results":5}`)
	jsonEq(t, `{"ids":[[]],"embeddings":null,"uris":null,"documents":[[]],"metadatas":[[]],"distances":[[]],
		"include":["metadatas","documents","distances"]}`, b)
}

func TestBase64Embeddings(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("b64", nil)
	path := cols + "/" + id
	c.ok(201, "POST", path+"/add", fmt.Sprintf(`{"ids":["a","b"],"embeddings":[%q,%q]}`, b64(1, 2, 3), b64(0.5, -1, 4)), nil)
	_, b := c.do("POST", path+"/get", `{"include":["embeddings"]}`)
	jsonEq(t, `{"ids":["a","b"],"embeddings":[[1,2,3],[0.5,-1,4]],"documents":null,"uris":null,"metadatas":null,"include":["embeddings"]}`, b)
	// Update with a null entry keeps that vector.
	c.ok(200, "POST", path+"/update", fmt.Sprintf(`{"ids":["a","b"],"embeddings":[null,%q]}`, b64(7, 8, 9)), nil)
	_, b = c.do("POST", path+"/get", `{"include":["embeddings"]}`)
	jsonEq(t, `{"ids":["a","b"],"embeddings":[[1,2,3],[7,8,9]],"documents":null,"uris":null,"metadatas":null,"include":["embeddings"]}`, b)
	c.ok(200, "POST", path+"/upsert", fmt.Sprintf(`{"ids":["c"],"embeddings":[%q]}`, b64(1, 1, 1)), nil)
	require.Equal(t, 3, c.count(id))

	for _, tc := range []struct {
		name, emb, inMsg string
		status           int
	}{
		{"NaN", fmt.Sprintf("%q", b64(1, float32(math.NaN()), 3)), "NaN or Inf", 400},
		{"Inf", fmt.Sprintf("%q", b64(1, float32(math.Inf(1)), 3)), "NaN or Inf", 400},
		{"length not a multiple of 4", `"YWJj"`, "Invalid byte length: 3 bytes", 400},
		{"not base64", `"invalid!@#$"`, "Invalid base64 string", 400},
		{"mixed lists and strings", fmt.Sprintf("[1,2,3],%q", b64(1, 2, 3)), "untagged enum", 422},
		{"a string where a number belongs", `[1,"2",3]`, "expected a list of numbers", 422},
		{"a number where a list belongs", `5`, "expected a list", 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"ids":["z"],"embeddings":[%s]}`, tc.emb)
			if tc.name == "mixed lists and strings" {
				body = fmt.Sprintf(`{"ids":["z","y"],"embeddings":[%s]}`, tc.emb)
			}
			if tc.name == "a number where a list belongs" {
				body = `{"ids":["z"],"embeddings":5}`
			}
			name := "InvalidArgumentError"
			if tc.status == 422 {
				name = "ChromaError"
			}
			c.fails(tc.status, name, tc.inMsg, "POST", path+"/add", body)
			require.Equal(t, 3, c.count(id))
		})
	}
}

func TestAddSkipsExistingIDs(t *testing.T) {
	c, path := seeded(t)
	code, b := c.do("POST", path+"/add", `{"ids":["a","d"],"embeddings":[[9,9,9],[1,1,0]],"documents":["replaced?","new"]}`)
	require.Equal(t, 201, code, "%s", b)
	_, b = c.do("POST", path+"/get", `{"ids":["a","d"],"include":["documents","embeddings"]}`)
	jsonEq(t, `{"ids":["a","d"],"embeddings":[[1,0,0],[1,1,0]],"documents":["apple pie","new"],"uris":null,"metadatas":null,
		"include":["documents","embeddings"]}`, b)
	// All existing: nothing to do, still 201.
	c.ok(201, "POST", path+"/add", `{"ids":["a"],"embeddings":[[5,5,5]]}`, nil)
	c.fails(400, "InvalidArgumentError", "appears twice", "POST", path+"/add", `{"ids":["x","x"],"embeddings":[[1,0,0],[1,0,0]]}`)
}

func TestUpdateAndUpsert(t *testing.T) {
	c, path := seeded(t)
	// Update: metadata merged, a null value removes a key, missing ids ignored.
	code, b := c.do("POST", path+"/update", `{"ids":["a","nope"],"documents":["apple crumble",null],
		"metadatas":[{"page":4,"score":null,"new":true},{"x":1}]}`)
	require.Equal(t, 200, code, "%s", b)
	jsonEq(t, `{}`, b)
	_, b = c.do("POST", path+"/get", `{"ids":["a","nope"],"include":["documents","metadatas","uris"]}`)
	jsonEq(t, `{"ids":["a"],"embeddings":null,"documents":["apple crumble"],"uris":["s3://a"],
		"metadatas":[{"kind":"fruit","page":4,"new":true}],"include":["documents","metadatas","uris"]}`, b)

	// Upsert: an existing id is updated (metadata merged, document kept when
	// null), a new one inserted.
	code, b = c.do("POST", path+"/upsert", `{"ids":["c","e"],"embeddings":[[0,0,2],[2,0,0]],
		"documents":[null,"eggs"],"metadatas":[{"page":8},{"kind":"dairy"}]}`)
	require.Equal(t, 200, code, "%s", b)
	_, b = c.do("POST", path+"/get", `{"ids":["c","e"],"include":["documents","metadatas","embeddings"]}`)
	jsonEq(t, `{"ids":["c","e"],"embeddings":[[0,0,2],[2,0,0]],"documents":["cherry tart","eggs"],"uris":null,
		"metadatas":[{"kind":"fruit","page":8,"tags":["x","y"]},{"kind":"dairy"}],
		"include":["documents","metadatas","embeddings"]}`, b)
	c.fails(422, "ChromaError", "missing field `embeddings`", "POST", path+"/upsert", `{"ids":["q"]}`)
}

func TestDeleteRecords(t *testing.T) {
	c, path := seeded(t)
	id := strings.TrimPrefix(path, cols+"/")
	for _, tc := range []struct {
		name, body, want string
		left             int
	}{
		{"neither ids nor where deletes nothing", `{}`, `{"deleted":0}`, 3},
		{"ids: count of ids given, existing or not", `{"ids":["b","nope"]}`, `{"deleted":2}`, 2},
		{"where: count of matches", `{"where":{"kind":"fruit"},"limit":1}`, `{"deleted":1}`, 1},
		{"ids and where: intersection", `{"ids":["a","c"],"where":{"page":{"$gt":100}}}`, `{"deleted":0}`, 1},
		{"where_document", `{"where_document":{"$contains":"tart"}}`, `{"deleted":1}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := c.do("POST", path+"/delete", tc.body)
			require.Equal(t, 200, code, "%s", b)
			jsonEq(t, tc.want, b)
			require.Equal(t, tc.left, c.count(id))
		})
	}
	c.fails(400, "InvalidArgumentError", "limit can only be specified when a where clause is provided", "POST", path+"/delete", `{"ids":["a"],"limit":1}`)
	c.fails(400, "InvalidArgumentError", "Either ids or where must be specified", "POST", path+"/delete", `{"ids":[]}`)
	c.fails(400, "InvalidArgumentError", "Invalid where clause", "POST", path+"/delete", `{"where":{"page":{"$near":1}}}`)
}

// TestNullEmbeddingValues: a null inside an embedding is refused with 400
// naming the record (or query) and the position, and changes nothing; a
// whole null entry in update still keeps the vector.
func TestNullEmbeddingValues(t *testing.T) {
	c, path := seeded(t)
	all := `{"include":["embeddings"]}`
	_, before := c.do("POST", path+"/get", all)
	const must = ": embedding values must be numbers"
	for _, tc := range []struct {
		name, op, body, msg string
	}{
		{"add, first value", "add", `{"ids":["z"],"embeddings":[[null,1,2]]}`, `embeddings[0][0] (id "z") is null` + must},
		{"add, second record", "add", `{"ids":["y","z"],"embeddings":[[1,2,3],[1, null ,3]]}`, `embeddings[1][1] (id "z") is null` + must},
		{"upsert", "upsert", `{"ids":["a"],"embeddings":[[1,2,null]]}`, `embeddings[0][2] (id "a") is null` + must},
		{"update", "update", `{"ids":["a","b"],"embeddings":[null,[0,null,1]]}`, `embeddings[1][1] (id "b") is null` + must},
		{"query", "query", `{"query_embeddings":[[1,0,0],[0,null,0]]}`, `query_embeddings[1][1] is null` + must},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(400, "InvalidArgumentError", tc.msg, "POST", path+"/"+tc.op, tc.body)
			_, after := c.do("POST", path+"/get", all)
			jsonEq(t, string(before), after)
		})
	}
	// A whole null entry in update keeps that vector, as before.
	c.ok(200, "POST", path+"/update", `{"ids":["a","b"],"embeddings":[null,[0,2,0]]}`, nil)
	_, b := c.do("POST", path+"/get", `{"ids":["a","b"],"include":["embeddings"]}`)
	jsonEq(t, `{"ids":["a","b"],"embeddings":[[1,0,0],[0,2,0]],"documents":null,"uris":null,"metadatas":null,"include":["embeddings"]}`, b)
}

// TestIDLength: a write with an id over sextant.MaxIDBytes is refused with
// 400 naming the record index and the id's length; so is a read or delete
// naming one (no record can have it). Nothing changes.
func TestIDLength(t *testing.T) {
	c, path := seeded(t)
	all := `{"include":["embeddings","documents","metadatas"]}`
	_, before := c.do("POST", path+"/get", all)
	huge := strings.Repeat("k", 1<<20)
	writeMsg := fmt.Sprintf("(batch index 1): id is %d bytes long, over the limit of %d bytes", 1<<20, sextant.MaxIDBytes)
	readMsg := fmt.Sprintf("ids[1] is %d bytes long, over the limit of %d bytes (MaxIDBytes), so no record can have it", 1<<20, sextant.MaxIDBytes)
	for _, tc := range []struct {
		name, op, body, msg string
	}{
		{"add", "add", fmt.Sprintf(`{"ids":["n",%q],"embeddings":[[1,1,1],[1,1,1]]}`, huge), writeMsg},
		{"upsert", "upsert", fmt.Sprintf(`{"ids":["a",%q],"embeddings":[[1,1,1],[1,1,1]]}`, huge), writeMsg},
		{"update", "update", fmt.Sprintf(`{"ids":["a",%q],"documents":["x","y"]}`, huge), writeMsg},
		{"get", "get", fmt.Sprintf(`{"ids":["a",%q]}`, huge), readMsg},
		{"get limit 0", "get", fmt.Sprintf(`{"ids":["a",%q],"limit":0}`, huge), readMsg},
		{"query", "query", fmt.Sprintf(`{"query_embeddings":[[1,0,0]],"ids":["a",%q]}`, huge), readMsg},
		{"query n_results 0", "query", fmt.Sprintf(`{"query_embeddings":[[1,0,0]],"n_results":0,"ids":["a",%q]}`, huge), readMsg},
		{"delete", "delete", fmt.Sprintf(`{"ids":["a",%q]}`, huge), readMsg},
		{"delete with where", "delete", fmt.Sprintf(`{"ids":["a",%q],"where":{"kind":"fruit"}}`, huge), readMsg},
		{"delete with where, limit 0", "delete", fmt.Sprintf(`{"ids":["a",%q],"where":{"kind":"fruit"},"limit":0}`, huge), readMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := c.do("POST", path+"/"+tc.op, tc.body)
			require.Equal(t, 400, code, "%.300s", b)
			require.Less(t, len(b), 400, "the message must not echo the id: %.300s", b)
			c.fails(400, "InvalidArgumentError", tc.msg, "POST", path+"/"+tc.op, tc.body)
			_, after := c.do("POST", path+"/get", all)
			jsonEq(t, string(before), after)
		})
	}
	// The limit itself is accepted.
	c.ok(201, "POST", path+"/add", fmt.Sprintf(`{"ids":[%q],"embeddings":[[1,1,1]]}`, strings.Repeat("k", sextant.MaxIDBytes)), nil)
}

// TestEmptyFilters: an empty filter ({}) is no filter in get, query and
// delete; a delete naming only empty filters, and a document pattern "",
// are refused with 400 and change nothing.
func TestEmptyFilters(t *testing.T) {
	c, path := seeded(t)
	id := strings.TrimPrefix(path, cols+"/")
	const emptyPattern = `"" is an empty pattern, which matches every record with a document`
	for _, tc := range []struct {
		name, op, body string
		status         int
		inBody         string // 200: the response contains it; 400: the message does
	}{
		{"get where {} is no filter", "get", `{"where":{},"include":[]}`, 200, `"ids":["a","b","c"]`},
		{"get where_document {} is no filter", "get", `{"where_document":{},"include":[]}`, 200, `"ids":["a","b","c"]`},
		{"query where {} is no filter", "query", `{"query_embeddings":[[1,0,0]],"n_results":5,"where":{},"where_document":{},"include":[]}`, 200, `"ids":[["a",`},
		{"delete ids with where {} deletes the ids", "delete", `{"ids":["nope"],"where":{}}`, 200, `{"deleted":1}`},
		{"delete where {} only", "delete", `{"where":{}}`, 400, "delete needs ids or a non-empty filter: where is {}"},
		{"delete where_document {} only", "delete", `{"where_document":{}}`, 400, "delete needs ids or a non-empty filter: where_document is {}"},
		{"delete both empty", "delete", `{"where":{},"where_document":{}}`, 400, "where and where_document are {}"},
		{"delete where {} with limit", "delete", `{"where":{},"limit":2}`, 400, "limit can only be specified when a where clause is provided"},
		{"delete empty ids and where {}", "delete", `{"ids":[],"where":{}}`, 400, "Either ids or where must be specified"},
		{"delete $contains empty", "delete", `{"where_document":{"$contains":""}}`, 400, "Invalid where document clause: where_document.$contains: " + emptyPattern},
		{"delete $not_contains empty", "delete", `{"where_document":{"$not_contains":""}}`, 400, "where_document.$not_contains: " + emptyPattern},
		{"delete #document $contains empty", "delete", `{"where":{"#document":{"$contains":""}}}`, 400, "where.#document.$contains: " + emptyPattern},
		{"delete nested $contains empty", "delete", `{"where_document":{"$or":[{"$contains":"pie"},{"$contains":""}]}}`, 400, "where_document.$or[1].$contains: " + emptyPattern},
		{"delete limited $contains empty", "delete", `{"where_document":{"$contains":""},"limit":0}`, 400, emptyPattern},
		{"get $contains empty", "get", `{"where_document":{"$contains":""}}`, 400, emptyPattern},
		{"get limit 0 $contains empty", "get", `{"where_document":{"$contains":""},"limit":0}`, 400, emptyPattern},
		{"get #document $not_contains empty", "get", `{"where":{"#document":{"$not_contains":""}}}`, 400, emptyPattern},
		{"query $contains empty", "query", `{"query_embeddings":[[1,0,0]],"where_document":{"$contains":""}}`, 400, emptyPattern},
		{"query n_results 0 $contains empty", "query", `{"query_embeddings":[[1,0,0]],"n_results":0,"where_document":{"$contains":""}}`, 400, emptyPattern},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != 200 {
				c.fails(tc.status, "InvalidArgumentError", tc.inBody, "POST", path+"/"+tc.op, tc.body)
			} else {
				code, b := c.do("POST", path+"/"+tc.op, tc.body)
				require.Equal(t, 200, code, "%s", b)
				require.Contains(t, string(b), tc.inBody)
			}
			require.Equal(t, 3, c.count(id), "nothing was deleted")
		})
	}
}

func TestRecordErrors(t *testing.T) {
	c, path := seeded(t)
	id := strings.TrimPrefix(path, cols+"/")
	for _, tc := range []struct {
		name, op, body string
		status         int
		errName, inMsg string
	}{
		{"wrong dimension", "add", `{"ids":["z"],"embeddings":[[1,2]]}`, 400, "InvalidArgumentError", "Collection expecting embedding with dimension of 3, got 2"},
		{"inconsistent dimensions", "add", `{"ids":["y","z"],"embeddings":[[1,2,3],[1,2]]}`, 400, "InvalidArgumentError", "Inconsistent dimensions in provided embeddings"},
		{"wrong dimension in upsert", "upsert", `{"ids":["a"],"embeddings":[[1,2,3,4]]}`, 400, "InvalidArgumentError", "dimension of 3, got 4"},
		{"wrong dimension in update", "update", `{"ids":["a"],"embeddings":[[1]]}`, 400, "InvalidArgumentError", "dimension of 3, got 1"},
		{"wrong query dimension", "query", `{"query_embeddings":[[1,2]]}`, 400, "InvalidArgumentError", "dimension of 3, got 2"},
		{"empty embedding", "add", `{"ids":["z"],"embeddings":[[]]}`, 400, "InvalidArgumentError", "empty"},
		{"missing embeddings", "add", `{"ids":["z"],"documents":["d"]}`, 422, "ChromaError", "missing field `embeddings`"},
		{"null embedding in add", "add", `{"ids":["z"],"embeddings":[null]}`, 422, "ChromaError", "null entries"},
		{"missing ids", "add", `{"embeddings":[[1,2,3]]}`, 422, "ChromaError", "missing field `ids`"},
		{"ids of the wrong type", "add", `{"ids":[1],"embeddings":[[1,2,3]]}`, 422, "ChromaError", "ids"},
		{"a string where a number belongs", "add", `{"ids":["z"],"embeddings":[[1,"NaN",3]]}`, 422, "ChromaError", "expected a list of numbers"},
		{"unequal lengths", "add", `{"ids":["y","z"],"embeddings":[[1,2,3],[1,2,3]],"documents":["one"]}`, 400, "InvalidArgumentError", "Unequal lengths for fields: ids: 2, documents: 1"},
		{"metadata key with $", "add", `{"ids":["z"],"embeddings":[[1,2,3]],"metadatas":[{"$bad":1}]}`, 400, "InvalidArgumentError", "must not start with"},
		{"nested metadata", "add", `{"ids":["z"],"embeddings":[[1,2,3]],"metadatas":[{"o":{"a":1}}]}`, 400, "InvalidArgumentError", "metadata"},
		{"number out of range", "add", `{"ids":["z"],"embeddings":[[1,2,3]],"metadatas":[{"big":1e999}]}`, 400, "InvalidArgumentError", "out of range"},
		{"invalid JSON", "add", `{"ids":["z"],`, 400, "InvalidArgumentError", "Failed to parse the request body as JSON"},
		{"invalid JSON in get", "get", `{"ids": [}`, 400, "InvalidArgumentError", "Failed to parse the request body as JSON"},
		{"unknown where operator", "get", `{"where":{"page":{"$like":3}}}`, 400, "InvalidArgumentError", "Invalid where clause"},
		{"unknown top-level operator", "query", `{"query_embeddings":[[1,0,0]],"where":{"$xor":[{"a":1},{"b":2}]}}`, 400, "InvalidArgumentError", "Invalid where clause"},
		{"$gt on a string", "get", `{"where":{"page":{"$gt":"3"}}}`, 400, "InvalidArgumentError", "Invalid where clause"},
		{"where not an object", "get", `{"where":"page"}`, 400, "InvalidArgumentError", "Invalid where clause"},
		{"invalid where_document", "get", `{"where_document":{"$matches":"x"}}`, 400, "InvalidArgumentError", "Invalid where document clause"},
		{"unknown include", "get", `{"include":["data"]}`, 422, "ChromaError", "unknown variant `data`"},
		{"negative limit", "get", `{"limit":-1}`, 422, "ChromaError", "limit"},
		{"missing query_embeddings", "query", `{"n_results":3}`, 422, "ChromaError", "missing field `query_embeddings`"},
		{"invalid where with limit 0", "get", `{"limit":0,"where":{"page":{"$like":3}}}`, 400, "InvalidArgumentError", "Invalid where clause"},
		{"invalid where with n_results 0", "query", `{"query_embeddings":[[1,0,0]],"n_results":0,"where":{"$xor":[]}}`, 400, "InvalidArgumentError", "Invalid where clause"},
		{"invalid where with delete limit 0", "delete", `{"limit":0,"where_document":{"$foo":"x"}}`, 400, "InvalidArgumentError", "Invalid where document clause"},
		{"n_results a string", "query", `{"query_embeddings":[[1,0,0]],"n_results":"3"}`, 422, "ChromaError", "n_results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(tc.status, tc.errName, tc.inMsg, "POST", path+"/"+tc.op, tc.body)
		})
	}
	// Refused writes left the collection as it was.
	require.Equal(t, 3, c.count(id))
	_, b := c.do("POST", path+"/get", `{"ids":["a"],"include":["embeddings"]}`)
	jsonEq(t, `{"ids":["a"],"embeddings":[[1,0,0]],"documents":null,"uris":null,"metadatas":null,"include":["embeddings"]}`, b)
	c.fails(400, "InvalidArgumentError", "read_level", "GET", path+"/count?read_level=sometimes", nil)
	var n int
	c.ok(200, "GET", path+"/count?read_level=index_only", nil, &n)
	require.Equal(t, 3, n)
}

func TestBatchSizeLimit(t *testing.T) {
	c := newClient(t, Options{MaxBatchSize: 2})
	id := c.create("small", nil)
	path := cols + "/" + id
	body := `{"ids":["a","b","c"],"embeddings":[[1],[2],[3]]}`
	for _, op := range []string{"add", "upsert", "update"} {
		c.fails(400, "InvalidArgumentError", "Cannot submit more than 2 records", "POST", path+"/"+op, body)
	}
	c.ok(201, "POST", path+"/add", `{"ids":["a","b"],"embeddings":[[1],[2]]}`, nil)
	require.Equal(t, 2, c.count(id))
}

func TestCosineCollection(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("cos", map[string]any{"configuration": map[string]any{"hnsw": map[string]any{"space": "cosine"}}})
	path := cols + "/" + id
	c.ok(201, "POST", path+"/add", `{"ids":["a","b"],"embeddings":[[2,0],[0,3]]}`, nil)
	_, b := c.do("POST", path+"/query", `{"query_embeddings":[[1,0]],"n_results":2,"include":["distances"]}`)
	jsonEq(t, `{"ids":[["a","b"]],"distances":[[0,1]],"embeddings":null,"documents":null,"metadatas":null,"uris":null,"include":["distances"]}`, b)
	c.fails(400, "InvalidArgumentError", "zero vector", "POST", path+"/add", `{"ids":["z"],"embeddings":[[0,0]]}`)
}

func TestRecordsOfDeletedCollection(t *testing.T) {
	c, path := seeded(t)
	c.ok(200, "DELETE", cols+"/recs", nil, nil)
	c.fails(404, "NotFoundError", "does not exist", "POST", path+"/get", `{}`)
	c.fails(404, "NotFoundError", "does not exist", "POST", path+"/add", `{"ids":["q"],"embeddings":[[1,2,3]]}`)
	c.fails(404, "NotFoundError", "does not exist", "GET", path+"/count", nil)
}

// Concurrent adds and upserts of the same ids exercise the handlers'
// retries: Chroma's add skips existing ids, upsert never fails on a race.
func TestConcurrentAddUpsert(t *testing.T) {
	c := newClient(t, Options{})
	id := c.create("race", nil)
	path := cols + "/" + id
	const workers = 4
	errs := make(chan string, workers*20)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 20 {
				op := "add"
				if (w+i)%2 == 0 {
					op = "upsert"
				}
				body := fmt.Sprintf(`{"ids":["k%d","k%d"],"embeddings":[[1,%d],[2,%d]],"metadatas":[{"w":%d},{"w":%d}]}`, i, i+1, w, w, w, w)
				req := newRequest("POST", path+"/"+op, body)
				code, b := serve(c, req)
				if code != 200 && code != 201 {
					errs <- fmt.Sprintf("%s: %d %s", op, code, b)
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	require.Equal(t, 21, c.count(id))
}

package chroma

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// ---- Decoding ----

// decodeBody decodes the JSON body of r into dst: one JSON value, numbers in
// interface fields as json.Number (converted later by convertNumbers). A
// missing Content-Type is taken as JSON, another one is a 415 (§7).
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return newError(http.StatusUnsupportedMediaType, errChroma,
				"Expected request with `Content-Type: application/json`, got %q", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return invalidArg("Failed to parse the request body as JSON: trailing data after the JSON value")
	}
	return nil
}

// decodeError classifies a json.Decoder error as Chroma (axum) does: bad
// syntax is 400, a well-formed body of the wrong shape is 422 (§7).
func decodeError(err error) error {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &ae), errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return invalidArg("Failed to parse the request body as JSON: the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidArg("Failed to parse the request body as JSON: unexpected end of input")
	case errors.As(err, &se):
		return invalidArg("Failed to parse the request body as JSON: %v (at byte %d)", se, se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return unprocessable("%s: invalid type: %s, expected %s", field, te.Value, jsonTypeName(te.Type))
	}
	return unprocessable("%v", err)
}

// jsonTypeName names a Go type the way a JSON user thinks of it.
func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return t.String()
}

// strictUnmarshal decodes b into v refusing unknown fields, as Chroma's
// serde structs with deny_unknown_fields do (422).
func strictUnmarshal(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return unprocessable("%s.%s: invalid type: %s, expected %s", what, te.Field, te.Value, jsonTypeName(te.Type))
		}
		return unprocessable("%s: %s", what, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// convertNumbers replaces json.Number values in a decoded tree: integers
// become int64, other numbers float64 (§6.1: serde's i64 / f64).
func convertNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", s)
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			c, err := convertNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
	case []any:
		for i, e := range x {
			c, err := convertNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
	}
	return v, nil
}

// filterArgs decodes a request's where and where_document.
func filterArgs(where, whereDocument any) (w, wd map[string]any, err error) {
	if w, err = filterArg(where, "where"); err != nil {
		return nil, nil, err
	}
	if wd, err = filterArg(whereDocument, "where_document"); err != nil {
		return nil, nil, err
	}
	return w, wd, nil
}

// filterArg checks a decoded where / where_document value: absent or null
// is no filter, an object is converted for the root API, anything else is
// Chroma's 400 "Invalid where clause" (§6).
func filterArg(v any, field string) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		if field == "where_document" {
			return nil, invalidArg("Invalid where document clause: %s must be an object", field)
		}
		return nil, invalidArg("Invalid where clause: %s must be an object", field)
	}
	if _, err := convertNumbers(m); err != nil {
		return nil, invalidArg("Invalid %s clause: %v", strings.ReplaceAll(field, "_", " "), err)
	}
	return m, nil
}

// ---- Embeddings ----

// embeddingsField is an "embeddings" / "query_embeddings" value: a list of
// number lists or of base64 strings of little-endian float32 (§2, §5.1);
// entries may be null (update).
type embeddingsField struct {
	set    bool        // the key was present
	null   bool        // its value was null
	vecs   [][]float32 // nil entries were null
	hasNil bool        // some entry was null
	// nullAt is the first null inside a number list, [entry, position],
	// when hasNullValue (json.Unmarshal made it a 0). The handler refuses
	// it, naming the record or query.
	hasNullValue bool
	nullAt       [2]int
}

// nullValue reports the first null value inside an embedding.
func (e *embeddingsField) nullValue() (i, j int, found bool) {
	return e.nullAt[0], e.nullAt[1], e.hasNullValue
}

func (e *embeddingsField) UnmarshalJSON(b []byte) error {
	e.set = true
	if string(b) == "null" {
		e.null = true
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return unprocessable("embeddings: expected a list of embeddings (number lists or base64 strings)")
	}
	e.vecs = make([][]float32, len(items))
	kind := byte(0)
	for i, it := range items {
		it = bytes.TrimSpace(it)
		if string(it) == "null" {
			e.hasNil = true
			continue
		}
		k := it[0]
		if k != '"' && k != '[' {
			return unprocessable("embeddings[%d]: expected a list of numbers or a base64 string", i)
		}
		if kind != 0 && k != kind {
			return unprocessable("embeddings: data did not match any variant of untagged enum EmbeddingsPayload (lists and base64 strings are mixed)")
		}
		kind = k
		if k == '[' {
			var f64 []float64
			if err := json.Unmarshal(it, &f64); err != nil {
				return unprocessable("embeddings[%d]: expected a list of numbers", i)
			}
			// A list of numbers can only contain the letters "null" as a
			// null literal, which Unmarshal turned into 0: find it.
			if !e.hasNullValue && bytes.Contains(it, []byte("null")) {
				var raw []json.RawMessage
				if err := json.Unmarshal(it, &raw); err == nil {
					for j, r := range raw {
						if string(bytes.TrimSpace(r)) == "null" {
							e.hasNullValue, e.nullAt = true, [2]int{i, j}
							break
						}
					}
				}
			}
			v := make([]float32, len(f64))
			for j, f := range f64 {
				if math.Abs(f) > math.MaxFloat32 {
					return invalidArg("embeddings[%d][%d]: %v does not fit a float32", i, j, f)
				}
				v[j] = float32(f)
			}
			e.vecs[i] = v
			continue
		}
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			return unprocessable("embeddings[%d]: invalid string", i)
		}
		v, err := decodeBase64Embedding(i, s)
		if err != nil {
			return err
		}
		e.vecs[i] = v
	}
	return nil
}

// decodeBase64Embedding decodes one base64 (standard alphabet, padded)
// string of little-endian float32 values, as Chroma's base64_decode.rs.
func decodeBase64Embedding(i int, s string) ([]float32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, invalidArg("embeddings[%d]: Invalid base64 string: %v", i, err)
	}
	if len(b)%4 != 0 {
		return nil, invalidArg("embeddings[%d]: Invalid byte length: %d bytes cannot be converted to f32 values (must be divisible by 4)", i, len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// checkEmbeddings validates vectors as Chroma's validate_embeddings and
// dimension checks do (§5.1): non-empty, finite, one dimension, equal to
// the collection's (dim 0: not fixed yet). nil entries are skipped.
func checkEmbeddings(vecs [][]float32, dim int) error {
	got := 0
	for i, v := range vecs {
		if v == nil {
			continue
		}
		if len(v) == 0 {
			return invalidArg("embeddings[%d] is empty", i)
		}
		for j, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return invalidArg("embeddings[%d][%d] is %v; embeddings must not contain NaN or Inf values", i, j, f)
			}
		}
		if got == 0 {
			got = len(v)
		} else if len(v) != got {
			return invalidArg("Inconsistent dimensions in provided embeddings")
		}
	}
	if dim != 0 && got != 0 && got != dim {
		return invalidArg("Collection expecting embedding with dimension of %d, got %d", dim, got)
	}
	return nil
}

// ---- Include ----

// Include values (§5.9).
const (
	incDistances  = "distances"
	incDocuments  = "documents"
	incEmbeddings = "embeddings"
	incMetadatas  = "metadatas"
	incURIs       = "uris"
)

// includeSet is a parsed include list.
type includeSet struct {
	list                          []string // as given, echoed in the response
	dist, docs, embs, metas, uris bool
}

func parseInclude(list []string, query bool) (includeSet, error) {
	if list == nil {
		list = []string{incDocuments, incMetadatas}
		if query {
			list = []string{incMetadatas, incDocuments, incDistances}
		}
	}
	in := includeSet{list: list}
	for i, s := range list {
		switch s {
		case incDistances:
			in.dist = true
		case incDocuments:
			in.docs = true
		case incEmbeddings:
			in.embs = true
		case incMetadatas:
			in.metas = true
		case incURIs:
			in.uris = true
		default:
			return in, unprocessable("include[%d]: unknown variant `%s`, expected one of `distances`, `documents`, `embeddings`, `metadatas`, `uris`", i, s)
		}
	}
	return in, nil
}

// ---- Requests ----

type nameReq struct {
	Name *string `json:"name"`
}

type createCollectionReq struct {
	Name          *string          `json:"name"`
	Configuration *collConfigReq   `json:"configuration"`
	Metadata      map[string]any   `json:"metadata"`
	GetOrCreate   bool             `json:"get_or_create"`
	Schema        *json.RawMessage `json:"schema"` // accepted, not used
}

// collConfigReq is CollectionConfiguration (§4.2).
type collConfigReq struct {
	HNSW              *hnswConfigReq  `json:"hnsw"`
	SPANN             json.RawMessage `json:"spann"`
	EmbeddingFunction json.RawMessage `json:"embedding_function"`
}

// hnswConfigReq is Chroma's HnswConfiguration (deny_unknown_fields).
type hnswConfigReq struct {
	Space          *string  `json:"space"`
	EfConstruction *int     `json:"ef_construction"`
	EfSearch       *int     `json:"ef_search"`
	MaxNeighbors   *int     `json:"max_neighbors"`
	NumThreads     *int     `json:"num_threads"`
	ResizeFactor   *float64 `json:"resize_factor"`
	SyncThreshold  *int     `json:"sync_threshold"`
	BatchSize      *int     `json:"batch_size"`
}

func (c *hnswConfigReq) UnmarshalJSON(b []byte) error {
	type plain hnswConfigReq
	return strictUnmarshal(b, (*plain)(c), "configuration.hnsw")
}

type updateCollectionReq struct {
	NewName          *string              `json:"new_name"`
	NewMetadata      map[string]any       `json:"new_metadata"`
	NewConfiguration *updateCollConfigReq `json:"new_configuration"`
}

type updateCollConfigReq struct {
	HNSW              *updateHNSWReq  `json:"hnsw"`
	SPANN             json.RawMessage `json:"spann"`
	EmbeddingFunction json.RawMessage `json:"embedding_function"`
}

// updateHNSWReq is Chroma's UpdateHnswConfiguration (deny_unknown_fields).
type updateHNSWReq struct {
	EfSearch      *int     `json:"ef_search"`
	MaxNeighbors  *int     `json:"max_neighbors"`
	NumThreads    *int     `json:"num_threads"`
	ResizeFactor  *float64 `json:"resize_factor"`
	SyncThreshold *int     `json:"sync_threshold"`
	BatchSize     *int     `json:"batch_size"`
}

func (c *updateHNSWReq) UnmarshalJSON(b []byte) error {
	type plain updateHNSWReq
	return strictUnmarshal(b, (*plain)(c), "new_configuration.hnsw")
}

// writeReq is the body of add, update and upsert (§5.2–§5.4).
type writeReq struct {
	IDs        []string         `json:"ids"`
	Embeddings embeddingsField  `json:"embeddings"`
	Documents  []*string        `json:"documents"`
	Metadatas  []map[string]any `json:"metadatas"`
	URIs       []*string        `json:"uris"`
}

type deleteReq struct {
	IDs           []string `json:"ids"`
	Where         any      `json:"where"`
	WhereDocument any      `json:"where_document"`
	Limit         *uint32  `json:"limit"`
}

type getReq struct {
	IDs           []string `json:"ids"`
	Where         any      `json:"where"`
	WhereDocument any      `json:"where_document"`
	Limit         *uint32  `json:"limit"`
	Offset        *uint32  `json:"offset"`
	Include       []string `json:"include"`
}

type queryReq struct {
	QueryEmbeddings embeddingsField `json:"query_embeddings"`
	NResults        *uint32         `json:"n_results"`
	Where           any             `json:"where"`
	WhereDocument   any             `json:"where_document"`
	IDs             []string        `json:"ids"`
	Include         []string        `json:"include"`
}

// ---- Responses ----

// collectionJSON is Chroma's Collection object (§4.1).
type collectionJSON struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	ConfigurationJSON configurationJSON `json:"configuration_json"`
	Schema            any               `json:"schema"`
	Metadata          map[string]any    `json:"metadata"`
	Dimension         *int              `json:"dimension"`
	Tenant            string            `json:"tenant"`
	Database          string            `json:"database"`
	LogPosition       int64             `json:"log_position"`
	Version           int64             `json:"version"`
}

type configurationJSON struct {
	HNSW              *hnswJSON       `json:"hnsw"`
	SPANN             any             `json:"spann"`
	EmbeddingFunction json.RawMessage `json:"embedding_function"`
}

type hnswJSON struct {
	Space          string  `json:"space"`
	EfConstruction int     `json:"ef_construction"`
	EfSearch       int     `json:"ef_search"`
	MaxNeighbors   int     `json:"max_neighbors"`
	ResizeFactor   float64 `json:"resize_factor"`
	SyncThreshold  int     `json:"sync_threshold"`
}

type databaseJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Tenant string `json:"tenant"`
}

type tenantJSON struct {
	Name         string  `json:"name"`
	ResourceName *string `json:"resource_name"`
}

// getResponse is GetResponse (§5.6): columns not included are null.
type getResponse struct {
	IDs        []string         `json:"ids"`
	Embeddings [][]float32      `json:"embeddings"`
	Documents  []*string        `json:"documents"`
	URIs       []*string        `json:"uris"`
	Metadatas  []map[string]any `json:"metadatas"`
	Include    []string         `json:"include"`
}

// queryResponse is QueryResponse (§5.7): one inner list per query.
type queryResponse struct {
	IDs        [][]string         `json:"ids"`
	Embeddings [][][]float32      `json:"embeddings"`
	Documents  [][]*string        `json:"documents"`
	URIs       [][]*string        `json:"uris"`
	Metadatas  [][]map[string]any `json:"metadatas"`
	Distances  [][]float32        `json:"distances"`
	Include    []string           `json:"include"`
}

type indexingStatusJSON struct {
	NumIndexedOps      int64   `json:"num_indexed_ops"`
	NumUnindexedOps    int64   `json:"num_unindexed_ops"`
	OpIndexingProgress float64 `json:"op_indexing_progress"`
	TotalOps           int64   `json:"total_ops"`
}

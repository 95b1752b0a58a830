package chroma

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sextantdb/sextant"
)

// Chroma's HNSW settings that Sextant has no equivalent for; the collection
// object reports Chroma's defaults (§4.1, §4.2).
const (
	chromaResizeFactor  = 1.2
	chromaSyncThreshold = 1000
)

// createCollection: POST .../collections, create or get-or-create (§4.2).
func (h *Handler) createCollection(w http.ResponseWriter, r *http.Request) error {
	d, err := h.database(r)
	if err != nil {
		return err
	}
	var req createCollectionReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return unprocessable("missing field `name`")
	}
	name := *req.Name
	cfg, err := createConfig(&req)
	if err != nil {
		return err
	}
	var c *sextant.Collection
	if req.GetOrCreate {
		c, err = d.GetOrCreateCollection(name, cfg)
		if errors.Is(err, sextant.ErrConfigConflict) && !errors.Is(err, sextant.ErrModelMismatch) {
			// Chroma returns the existing collection whatever the request's
			// configuration says.
			c, err = collectionByName(d, name)
		}
	} else {
		c, err = d.CreateCollection(name, cfg)
		if errors.Is(err, sextant.ErrAlreadyExists) {
			return newError(http.StatusConflict, errChroma, "Collection [%s] already exists", name)
		}
	}
	if err != nil {
		return err
	}
	return ok(w, collectionObject(c))
}

// createConfig maps a create request's metadata and configuration to a
// sextant.CollectionConfig: hnsw space, ef_construction, ef_search and
// max_neighbors (M); the embedding function is kept, canonical, as the
// collection's EmbeddingModel so that it can be echoed back (§4.1).
func createConfig(req *createCollectionReq) (*sextant.CollectionConfig, error) {
	md, err := metadataArg(req.Metadata, "metadata")
	if err != nil {
		return nil, err
	}
	cfg := &sextant.CollectionConfig{Metadata: md}
	cc := req.Configuration
	if cc == nil {
		return cfg, nil
	}
	if cc.HNSW != nil && isSet(cc.SPANN) {
		return nil, invalidArg("Multiple vector index configurations provided: hnsw and spann are mutually exclusive")
	}
	if isSet(cc.SPANN) {
		return nil, invalidArg("spann configuration is not supported by this server; use hnsw")
	}
	if hc := cc.HNSW; hc != nil {
		if hc.Space != nil {
			switch *hc.Space {
			case "l2", "cosine", "ip":
				cfg.Metric = sextant.Metric(*hc.Space)
			default:
				return nil, unprocessable("configuration.hnsw.space: unknown variant `%s`, expected one of `l2`, `cosine`, `ip`", *hc.Space)
			}
		}
		for _, f := range []struct {
			name string
			v    *int
			min  int
			dst  *int
		}{
			{"ef_construction", hc.EfConstruction, 1, &cfg.EfConstruction},
			{"ef_search", hc.EfSearch, 1, &cfg.EfSearch},
			{"max_neighbors", hc.MaxNeighbors, 2, &cfg.M},
			{"num_threads", hc.NumThreads, 1, nil},
			{"sync_threshold", hc.SyncThreshold, 2, nil},
			{"batch_size", hc.BatchSize, 2, nil},
		} {
			if f.v == nil {
				continue
			}
			if *f.v < f.min {
				return nil, invalidArg("configuration.hnsw.%s must be at least %d, got %d", f.name, f.min, *f.v)
			}
			if f.dst != nil {
				*f.dst = *f.v
			}
		}
		if hc.ResizeFactor != nil && *hc.ResizeFactor <= 0 {
			return nil, invalidArg("configuration.hnsw.resize_factor must be positive, got %v", *hc.ResizeFactor)
		}
	}
	ef, err := embeddingFunctionArg(cc.EmbeddingFunction, "configuration.embedding_function")
	if err != nil {
		return nil, err
	}
	cfg.EmbeddingFunction = ef
	return cfg, nil
}

// isSet reports a raw JSON value that is present and not null.
func isSet(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// embeddingFunctionArg checks an embedding_function configuration (§4.2)
// and returns it as canonical JSON; "" when absent.
func embeddingFunctionArg(raw json.RawMessage, field string) (string, error) {
	if !isSet(raw) {
		return "", nil
	}
	var ef map[string]any
	if err := json.Unmarshal(raw, &ef); err != nil {
		return "", unprocessable("%s: expected an object", field)
	}
	switch ef["type"] {
	case "known", "legacy", "unknown":
	default:
		return "", unprocessable("%s.type: expected one of `known`, `legacy`, `unknown`, got %v", field, ef["type"])
	}
	b, err := json.Marshal(ef)
	if err != nil {
		return "", invalidArg("%s: %v", field, err)
	}
	return string(b), nil
}

// metadataArg converts decoded metadata for the root API: numbers to int64
// or float64, keys checked as Chroma's validators.rs does. nil stays nil.
func metadataArg(md map[string]any, field string) (map[string]any, error) {
	if md == nil {
		return nil, nil
	}
	for k := range md {
		if k == "" {
			return nil, invalidArg("%s: metadata keys must be non-empty", field)
		}
		if k[0] == '#' || k[0] == '$' {
			return nil, invalidArg("%s: metadata key %q must not start with '#' or '$'", field, k)
		}
	}
	if _, err := convertNumbers(md); err != nil {
		return nil, invalidArg("%s: %v", field, err)
	}
	return md, nil
}

// collectionObject renders c as Chroma's Collection object (§4.1).
func collectionObject(c *sextant.Collection) collectionJSON {
	cfg := c.Config()
	obj := collectionJSON{
		ID:   c.ID(),
		Name: c.Name(),
		ConfigurationJSON: configurationJSON{
			HNSW: &hnswJSON{
				Space: string(cfg.Metric), EfConstruction: cfg.EfConstruction, EfSearch: cfg.EfSearch,
				MaxNeighbors: cfg.M, ResizeFactor: chromaResizeFactor, SyncThreshold: chromaSyncThreshold,
			},
			EmbeddingFunction: embeddingFunctionJSON(cfg.EmbeddingFunction),
		},
		Tenant:   c.Tenant(),
		Database: c.Database(),
	}
	if len(cfg.Metadata) > 0 {
		obj.Metadata = cfg.Metadata
	}
	if cfg.Dimension != 0 {
		dim := cfg.Dimension
		obj.Dimension = &dim
	}
	return obj
}

// embeddingFunctionJSON renders a stored EmbeddingFunction: the JSON kept
// by createConfig as is; anything else (there is none) as
// {"type":"unknown"}; nothing as null.
func embeddingFunctionJSON(model string) json.RawMessage {
	switch {
	case model == "":
		return nil
	case strings.HasPrefix(model, "{") && json.Valid([]byte(model)):
		return json.RawMessage(model)
	}
	return json.RawMessage(`{"type":"unknown"}`)
}

// getCollection: GET .../collections/{name} — by name (§0, §4.4).
func (h *Handler) getCollection(w http.ResponseWriter, r *http.Request) error {
	d, err := h.database(r)
	if err != nil {
		return err
	}
	c, err := collectionByName(d, r.PathValue("collection_id"))
	if err != nil {
		return err
	}
	return ok(w, collectionObject(c))
}

// getCollectionByCRN: GET /api/v2/collections/{tenant:database:collection}.
func (h *Handler) getCollectionByCRN(w http.ResponseWriter, r *http.Request) error {
	crn := r.PathValue("crn")
	parts := strings.Split(crn, ":")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return invalidArg("Invalid CRN format %q: expected tenant:database:collection", crn)
	}
	if err := checkDatabaseName(parts[1]); err != nil {
		return err
	}
	c, err := collectionByName(h.db.Database(parts[0], parts[1]), parts[2])
	if err != nil {
		return err
	}
	return ok(w, collectionObject(c))
}

// getCollectionSub dispatches GET .../collections/{collection_id}/{op}:
// by-id/{uuid}, {uuid}/count, {uuid}/indexing_status, {uuid}/fork_count.
func (h *Handler) getCollectionSub(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("collection_id") == "by-id" {
		d, err := h.database(r)
		if err != nil {
			return err
		}
		id, valid := parseUUID(r.PathValue("op"))
		if !valid {
			return invalidArg("Collection ID is not a valid UUIDv4")
		}
		c, err := h.lookupID(d, id)
		if err != nil {
			return err
		}
		return ok(w, collectionObject(c))
	}
	switch r.PathValue("op") {
	case "count":
		return h.countRecords(w, r)
	case "indexing_status":
		return h.indexingStatus(w, r)
	case "fork_count":
		return unimplemented("Collection forking is not implemented for local executor (Chroma Cloud only)")
	}
	return h.fallback(w, r)
}

// isSubRoute reports whether getCollectionSub serves the path
// .../collections/{a}/{b}: by-id/{uuid}, or {uuid}/ one of its ops.
func isSubRoute(path string) bool {
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(parts) < 2 {
		return false
	}
	if parts[len(parts)-2] == "by-id" {
		return true
	}
	switch parts[len(parts)-1] {
	case "count", "indexing_status", "fork_count":
		return true
	}
	return false
}

// listCollections: GET .../collections?limit&offset (§4.4).
func (h *Handler) listCollections(w http.ResponseWriter, r *http.Request) error {
	d, err := h.database(r)
	if err != nil {
		return err
	}
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	out := []collectionJSON{}
	if limit != 0 {
		cs, err := d.ListCollections(max(limit, 0), offset)
		if err != nil {
			return err
		}
		for _, c := range cs {
			out = append(out, collectionObject(c))
		}
	}
	return ok(w, out)
}

// countCollections: GET .../collections_count → bare integer.
func (h *Handler) countCollections(w http.ResponseWriter, r *http.Request) error {
	d, err := h.database(r)
	if err != nil {
		return err
	}
	n, err := d.CountCollections()
	if err != nil {
		return err
	}
	return ok(w, n)
}

// updateCollection: PUT .../collections/{uuid} with new_name, new_metadata,
// new_configuration (§4.3). Everything is checked before anything changes.
func (h *Handler) updateCollection(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collectionByID(r)
	if err != nil {
		return err
	}
	var req updateCollectionReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.NewName != nil {
		if err := sextant.ValidateName(*req.NewName); err != nil {
			return err
		}
	}
	md, err := metadataArg(req.NewMetadata, "new_metadata")
	if err != nil {
		return err
	}
	cfg := c.Config()
	efSearch := 0
	embeddingFunction := ""
	if nc := req.NewConfiguration; nc != nil {
		if isSet(nc.SPANN) {
			return invalidArg("spann configuration is not supported by this server; use hnsw")
		}
		if hc := nc.HNSW; hc != nil {
			if hc.EfSearch != nil {
				if *hc.EfSearch < 1 {
					return invalidArg("new_configuration.hnsw.ef_search must be at least 1, got %d", *hc.EfSearch)
				}
				efSearch = *hc.EfSearch
			}
			if hc.MaxNeighbors != nil && *hc.MaxNeighbors != cfg.M {
				return invalidArg("new_configuration.hnsw.max_neighbors cannot be changed after creation (it is %d)", cfg.M)
			}
		}
		ef, err := embeddingFunctionArg(nc.EmbeddingFunction, "new_configuration.embedding_function")
		if err != nil {
			return err
		}
		if ef != "" && ef != cfg.EmbeddingFunction {
			pin, err := sextant.PinFromEmbeddingFunction(ef)
			if err != nil {
				return err
			}
			if pin.IsZero() {
				return invalidArg("new_configuration.embedding_function: changing a collection's embedding function is not supported by this server")
			}
			// One that names a model pins an unpinned collection, or must
			// name the pinned model (409 otherwise).
			embeddingFunction = ef
		}
	}
	// One Modify: the legacy hnsw:* keys of new_metadata are checked against
	// the collection (hnsw:search_ef sets ef_search), and a refused update
	// changes nothing, the name included.
	opts := sextant.ModifyOptions{Metadata: md, EfSearch: efSearch, EmbeddingFunction: embeddingFunction}
	if req.NewName != nil {
		opts.Name = *req.NewName
	}
	err = c.Modify(opts)
	if errors.Is(err, sextant.ErrAlreadyExists) {
		return newError(http.StatusConflict, errChroma, "Collection [%s] already exists", opts.Name)
	}
	if err != nil {
		return err
	}
	return ok(w, empty{})
}

// deleteCollection: DELETE .../collections/{name} — by name (§0, §4.4).
func (h *Handler) deleteCollection(w http.ResponseWriter, r *http.Request) error {
	d, err := h.database(r)
	if err != nil {
		return err
	}
	name := r.PathValue("collection_id")
	err = d.DeleteCollection(name)
	if errors.Is(err, sextant.ErrNotFound) && strings.Contains(err.Error(), "collection") {
		return notFound("Collection [%s] does not exist", name)
	}
	if err != nil {
		return err
	}
	return ok(w, empty{})
}

// indexingStatus: GET .../{uuid}/indexing_status. Every Sextant write is
// searchable once acknowledged (exact search covers what the graph has not
// absorbed yet), so every op counts as indexed.
func (h *Handler) indexingStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collectionByID(r)
	if err != nil {
		return err
	}
	st, err := c.Stats()
	if err != nil {
		return err
	}
	n := int64(st.Live)
	return ok(w, indexingStatusJSON{NumIndexedOps: n, NumUnindexedOps: 0, OpIndexingProgress: 1, TotalOps: n})
}

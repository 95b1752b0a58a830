package chroma

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sextantdb/sextant"
)

// Defaults of Options.
const (
	// DefaultMaxBatchSize is what Chroma's single-node server (SQLite log)
	// advertises in pre-flight-checks: 32766 SQLite variables / 6.
	DefaultMaxBatchSize = 5461
	// DefaultMaxBodyBytes is Chroma's default max_payload_size_bytes (40 MiB).
	DefaultMaxBodyBytes = 40 << 20
	// DefaultVersion is what Chroma's Rust frontend answers on /version.
	DefaultVersion = "1.0.0"
)

// Options configure a Handler. The zero value is valid.
type Options struct {
	// MaxBatchSize is the most records one add/update/upsert may carry; it
	// is advertised in pre-flight-checks. Default DefaultMaxBatchSize.
	MaxBatchSize int
	// MaxBodyBytes bounds request bodies (413 beyond). Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Version is answered on /api/v2/version. Default DefaultVersion.
	Version string
	// Logger receives internal errors. Default: discard.
	Logger *slog.Logger
}

// Handler serves Chroma's v2 API for a DB.
type Handler struct {
	db   *sextant.DB
	opts Options
	mux  *http.ServeMux // the mux Register mounted on, for 405 detection
}

// New returns a Handler serving db.
func New(db *sextant.DB, opts Options) *Handler {
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = DefaultMaxBatchSize
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{db: db, opts: opts}
}

// handlerFunc is a handler whose error is written as Chroma's error body.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

const (
	dbPath   = "/api/v2/tenants/{tenant}/databases/{database}"
	collPath = dbPath + "/collections"
	recPath  = collPath + "/{collection_id}"
)

// Register mounts every route of §1 on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	h.mux = mux
	routes := []struct {
		pattern string
		fn      handlerFunc
	}{
		// System (§2, §8).
		{"GET /api/v2", h.heartbeat},
		{"GET /api/v2/heartbeat", h.heartbeat},
		{"GET /api/v2/healthcheck", h.healthcheck},
		{"GET /api/v2/pre-flight-checks", h.preflight},
		{"GET /api/v2/version", h.version},
		{"POST /api/v2/reset", h.reset},
		{"GET /api/v2/auth/identity", h.identity},
		// Tenants and databases (§3).
		{"POST /api/v2/tenants", h.createTenant},
		{"GET /api/v2/tenants/{tenant_name}", h.getTenant},
		{"PATCH /api/v2/tenants/{tenant_name}", h.updateTenant},
		{"GET /api/v2/tenants/{tenant}/databases", h.listDatabases},
		{"POST /api/v2/tenants/{tenant}/databases", h.createDatabase},
		{"GET " + dbPath, h.getDatabase},
		{"DELETE " + dbPath, h.deleteDatabase},
		// Collections (§4).
		{"GET " + collPath, h.listCollections},
		{"POST " + collPath, h.createCollection},
		{"GET " + dbPath + "/collections_count", h.countCollections},
		{"GET " + recPath, h.getCollection},
		{"PUT " + recPath, h.updateCollection},
		{"DELETE " + recPath, h.deleteCollection},
		{"GET /api/v2/collections/{crn}", h.getCollectionByCRN},
		// GET .../collections/by-id/{id} and GET .../collections/{id}/count
		// overlap as ServeMux patterns: one route dispatches both.
		{"GET " + recPath + "/{op}", h.getCollectionSub},
		{"POST " + recPath + "/fork", h.fork},
		{"POST " + recPath + "/search", h.search},
		{"POST " + recPath + "/conditional/get", h.conditional},
		{"POST " + recPath + "/conditional/commit", h.conditional},
		{"POST " + recPath + "/functions/attach", h.functions},
		{"GET " + recPath + "/functions/{function_name}", h.functions},
		{"POST " + recPath + "/attached_functions/{name}/add_input", h.functions},
		{"POST " + recPath + "/attached_functions/{name}/detach", h.functions},
		// Records (§5).
		{"POST " + recPath + "/add", h.add},
		{"POST " + recPath + "/update", h.update},
		{"POST " + recPath + "/upsert", h.upsert},
		{"POST " + recPath + "/delete", h.deleteRecords},
		{"POST " + recPath + "/get", h.get},
		{"POST " + recPath + "/query", h.query},
		// Everything else answers in Chroma's error shape.
		{"/api/v1/", h.v1Gone},
		{"/api/v2/", h.fallback},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.wrap(rt.fn))
	}
}

// ModelHeader is the request header that declares the embedding model of a
// request's vectors, NAME[@VERSION]: writes and queries to a collection
// pinned to another model are refused with 409 (sextant.WithEmbeddingModel).
const ModelHeader = "X-Sextant-Embedding-Model"

func (h *Handler) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(ModelHeader); v != "" {
			m, err := sextant.ParseModelPin(v)
			if err != nil {
				h.writeError(w, r, invalidArg("header %s: %v", strings.ToLower(ModelHeader), err))
				return
			}
			r = r.WithContext(sextant.WithEmbeddingModel(r.Context(), m))
		}
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.status >= 500 && ae.status != http.StatusNotImplemented {
		h.opts.Logger.Error("chroma api: request failed", "method", r.Method, "path", r.URL.Path,
			"status", ae.status, "err", err)
	}
	writeJSON(w, ae.status, errorBody{Error: ae.name, Message: ae.msg})
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: errInternal, Message: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ok writes 200 with v.
func ok(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}

// empty is Chroma's `{}` response body.
type empty struct{}

// database returns the database of the request's {tenant} and {database},
// checking the name as Chroma does (§0).
func (h *Handler) database(r *http.Request) (*sextant.Database, error) {
	name := r.PathValue("database")
	if err := checkDatabaseName(name); err != nil {
		return nil, err
	}
	return h.db.Database(r.PathValue("tenant"), name), nil
}

func checkDatabaseName(name string) error {
	if len(name) < 3 {
		return invalidArg("database name must be at least 3 characters")
	}
	return nil
}

// collectionByID resolves {collection_id} (a UUID, §0) within the request's
// tenant and database.
func (h *Handler) collectionByID(r *http.Request) (*sextant.Collection, error) {
	d, err := h.database(r)
	if err != nil {
		return nil, err
	}
	raw := r.PathValue("collection_id")
	id, valid := parseUUID(raw)
	if !valid {
		return nil, invalidArg("Collection ID is not a valid UUIDv4")
	}
	return h.lookupID(d, id)
}

func (h *Handler) lookupID(d *sextant.Database, id string) (*sextant.Collection, error) {
	c, err := h.db.CollectionByID(id)
	if errors.Is(err, sextant.ErrNotFound) || c != nil && (c.Tenant() != d.Tenant() || c.Database() != d.Name()) {
		return nil, notFound("Collection [%s] does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// collectionByName returns the named collection of d, with Chroma's 404.
func collectionByName(d *sextant.Database, name string) (*sextant.Collection, error) {
	c, err := d.GetCollection(name)
	if err != nil && errors.Is(err, sextant.ErrNotFound) && strings.Contains(err.Error(), "collection") {
		return nil, notFound("Collection [%s] does not exist", name)
	}
	return c, err
}

// parseUUID accepts a UUID in hyphenated or simple (32 hex digits) form and
// returns it hyphenated and lower-case, as Sextant stores ids.
func parseUUID(s string) (string, bool) {
	s = strings.ToLower(s)
	var hex string
	switch len(s) {
	case 36:
		for _, i := range []int{8, 13, 18, 23} {
			if s[i] != '-' {
				return "", false
			}
		}
		hex = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	case 32:
		hex = s
	default:
		return "", false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32], true
}

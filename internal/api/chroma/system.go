package chroma

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sextantdb/sextant"
)

// heartbeat answers {"nanosecond heartbeat": <ns>} (§2).
func (h *Handler) heartbeat(w http.ResponseWriter, _ *http.Request) error {
	return ok(w, map[string]int64{"nanosecond heartbeat": time.Now().UnixNano()})
}

// healthcheck answers the readiness of the DB; 503 once it is closed (§2).
func (h *Handler) healthcheck(w http.ResponseWriter, _ *http.Request) error {
	_, err := h.db.Default().CountCollections()
	ready := !errors.Is(err, sextant.ErrClosed)
	body := map[string]bool{"is_executor_ready": ready, "is_log_client_ready": ready}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
	return nil
}

// preflight advertises the batch limit and base64 embeddings (§2).
func (h *Handler) preflight(w http.ResponseWriter, _ *http.Request) error {
	return ok(w, struct {
		MaxBatchSize           int  `json:"max_batch_size"`
		SupportsBase64Encoding bool `json:"supports_base64_encoding"`
	}{h.opts.MaxBatchSize, true})
}

// version answers the version as a JSON string (§2).
func (h *Handler) version(w http.ResponseWriter, _ *http.Request) error {
	return ok(w, h.opts.Version)
}

// reset answers as Chroma's server does when reset is disabled by config
// (§2): Sextant never wipes a DB over HTTP.
func (h *Handler) reset(http.ResponseWriter, *http.Request) error {
	return newError(http.StatusForbidden, errChroma, "Reset is disabled by config")
}

// identity answers the OSS server's default identity (§8).
func (h *Handler) identity(w http.ResponseWriter, _ *http.Request) error {
	return ok(w, struct {
		UserID    string   `json:"user_id"`
		Tenant    string   `json:"tenant"`
		Databases []string `json:"databases"`
	}{"", sextant.DefaultTenant, []string{sextant.DefaultDatabase}})
}

// v1Gone answers every /api/v1 route as Chroma does (§1).
func (h *Handler) v1Gone(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusGone, errorBody{Error: "Unimplemented", Message: "The v1 API is deprecated. Please use /v2 apis"})
	return nil
}

// fallback answers unknown /api/v2 paths: 405, with the Allow header and a
// message naming the allowed methods, where the path exists under other
// methods, else 404, both in Chroma's error shape.
func (h *Handler) fallback(w http.ResponseWriter, r *http.Request) error {
	if allowed := h.allowedMethods(r); len(allowed) > 0 {
		allow := strings.Join(allowed, ", ")
		w.Header().Set("Allow", allow)
		return newError(http.StatusMethodNotAllowed, errChroma, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)
	}
	return notFound("no route %s %s", r.Method, r.URL.Path)
}

// allowedMethods returns, sorted, the methods that a route of the mux
// serves at r's path: HEAD with GET, as the ServeMux does. The catch-alls
// do not count, nor GET .../{collection_id}/{op} for an op it does not
// dispatch.
func (h *Handler) allowedMethods(r *http.Request) []string {
	if h.mux == nil {
		return nil
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		_, pattern := h.mux.Handler(r2)
		switch pattern {
		case "", "/api/v2/", "/api/v1/":
			continue
		case "GET " + recPath + "/{op}":
			if !isSubRoute(r.URL.Path) {
				continue
			}
		}
		allowed = append(allowed, m)
		if m == http.MethodGet {
			allowed = append(allowed, http.MethodHead)
		}
	}
	slices.Sort(allowed)
	return allowed
}

// search: the Search API is not implemented by Chroma's local executor
// either (§9).
func (h *Handler) search(http.ResponseWriter, *http.Request) error {
	return unimplemented("Search operation is not implemented for local executor")
}

// fork: collection forking is a Chroma Cloud feature (§1).
func (h *Handler) fork(http.ResponseWriter, *http.Request) error {
	return unimplemented("Collection forking is not implemented for local executor (Chroma Cloud only)")
}

// conditional: OCC transactions are not supported (§1).
func (h *Handler) conditional(http.ResponseWriter, *http.Request) error {
	return newError(http.StatusNotImplemented, "TransactionsNotSupported", "Conditional transactions are not supported by this server")
}

// functions: attached functions are a Chroma Cloud feature (§1).
func (h *Handler) functions(http.ResponseWriter, *http.Request) error {
	return unimplemented("Attached functions are not implemented for local executor (Chroma Cloud only)")
}

package chroma

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sextantdb/sextant"
)

// createTenant: POST /api/v2/tenants {"name"} → {} (§3).
func (h *Handler) createTenant(w http.ResponseWriter, r *http.Request) error {
	var req nameReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return unprocessable("missing field `name`")
	}
	name := *req.Name
	if len(name) < 3 {
		return invalidArg("tenant name must be at least 3 characters")
	}
	err := h.db.CreateTenant(name)
	if errors.Is(err, sextant.ErrAlreadyExists) {
		return newError(http.StatusConflict, errChroma, "Tenant [%s] already exists", name)
	}
	if err != nil {
		return err
	}
	return ok(w, empty{})
}

// getTenant: GET /api/v2/tenants/{tenant_name} (§3).
func (h *Handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("tenant_name")
	if err := h.db.GetTenant(name); err != nil {
		if errors.Is(err, sextant.ErrNotFound) {
			return notFound("Tenant [%s] not found", name)
		}
		return err
	}
	return ok(w, tenantJSON{Name: name})
}

// updateTenant: Sextant keeps no resource_name; the route answers 501
// rather than pretend (§3).
func (h *Handler) updateTenant(_ http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("tenant_name")
	if err := h.db.GetTenant(name); err != nil {
		if errors.Is(err, sextant.ErrNotFound) {
			return notFound("Tenant [%s] not found", name)
		}
		return err
	}
	return unimplemented("Setting a tenant's resource_name is not supported by this server")
}

// createDatabase: POST /api/v2/tenants/{tenant}/databases {"name"} → {}.
func (h *Handler) createDatabase(w http.ResponseWriter, r *http.Request) error {
	var req nameReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return unprocessable("missing field `name`")
	}
	name, tenant := *req.Name, r.PathValue("tenant")
	if err := checkDatabaseName(name); err != nil {
		return err
	}
	err := h.db.CreateDatabase(tenant, name)
	switch {
	case errors.Is(err, sextant.ErrAlreadyExists):
		return newError(http.StatusConflict, errChroma, "Database [%s] already exists", name)
	case errors.Is(err, sextant.ErrNotFound):
		return notFound("Tenant [%s] not found", tenant)
	case err != nil:
		return err
	}
	return ok(w, empty{})
}

// getDatabase: GET .../databases/{database} → {"id","name","tenant"}.
func (h *Handler) getDatabase(w http.ResponseWriter, r *http.Request) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("database")
	if err := checkDatabaseName(name); err != nil {
		return err
	}
	info, err := h.db.GetDatabase(tenant, name)
	if errors.Is(err, sextant.ErrNotFound) {
		return notFound("Database [%s] not found for tenant [%s]", name, tenant)
	}
	if err != nil {
		return err
	}
	return ok(w, databaseJSON{ID: info.ID, Name: info.Name, Tenant: info.Tenant})
}

// listDatabases: GET .../databases?limit&offset → [Database...].
func (h *Handler) listDatabases(w http.ResponseWriter, r *http.Request) error {
	tenant := r.PathValue("tenant")
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	out := []databaseJSON{}
	if limit != 0 {
		infos, err := h.db.ListDatabases(tenant, max(limit, 0), offset)
		if errors.Is(err, sextant.ErrNotFound) {
			return notFound("Tenant [%s] not found", tenant)
		}
		if err != nil {
			return err
		}
		for _, d := range infos {
			out = append(out, databaseJSON{ID: d.ID, Name: d.Name, Tenant: d.Tenant})
		}
	}
	return ok(w, out)
}

// deleteDatabase: DELETE .../databases/{database} → {}.
func (h *Handler) deleteDatabase(w http.ResponseWriter, r *http.Request) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("database")
	if err := checkDatabaseName(name); err != nil {
		return err
	}
	err := h.db.DeleteDatabase(tenant, name)
	if errors.Is(err, sextant.ErrNotFound) {
		return notFound("Database [%s] not found for tenant [%s]", name, tenant)
	}
	if err != nil {
		return err
	}
	return ok(w, empty{})
}

// pageParams reads ?limit and ?offset. An absent limit is -1 (no limit); an
// explicit limit of 0 is 0 (nothing).
func pageParams(r *http.Request) (limit, offset int, err error) {
	limit = -1
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, perr := strconv.ParseUint(s, 10, 31)
		if perr != nil {
			return 0, 0, invalidArg("Failed to deserialize query string: limit: invalid digit or out of range: %q", s)
		}
		limit = int(n)
	}
	if s := q.Get("offset"); s != "" {
		n, perr := strconv.ParseUint(s, 10, 31)
		if perr != nil {
			return 0, 0, invalidArg("Failed to deserialize query string: offset: invalid digit or out of range: %q", s)
		}
		offset = int(n)
	}
	return limit, offset, nil
}

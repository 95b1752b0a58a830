package server

import (
	"net/http"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/api/admin"
	"github.com/sextantdb/sextant/internal/api/chroma"
)

// registerAPI mounts the Chroma API v2 and Sextant's admin endpoints
// (/sextant/v1: collection health, recall measurement, auto_ef, explain) on mux.
func registerAPI(mux *http.ServeMux, db *sextant.DB, cfg Config) {
	chroma.New(db, chroma.Options{
		MaxBatchSize: cfg.MaxBatchSize,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Version:      cfg.Version,
		Logger:       cfg.Logger,
	}).Register(mux)
	admin.New(db, admin.Options{Logger: cfg.Logger}).Register(mux)
}

package server

import (
	"net/http"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/api/chroma"
)

// registerAPI mounts the Chroma API v2 on mux.
func registerAPI(mux *http.ServeMux, db *sextant.DB, cfg Config) {
	chroma.New(db, chroma.Options{
		MaxBatchSize: cfg.MaxBatchSize,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Version:      cfg.Version,
		Logger:       cfg.Logger,
	}).Register(mux)
}

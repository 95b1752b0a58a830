package server

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 description of every route the server serves,
// the Chroma API included. Keep it in step with the routes: a test compares
// them.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

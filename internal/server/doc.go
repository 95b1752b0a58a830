// Package server is Sextant's HTTP server: the Chroma-compatible API of
// internal/api/chroma plus the operational endpoints, behind one set of guard
// rails.
//
// # Routes
//
// The Chroma API v2 lives under /api/v2 (see internal/api/chroma) and
// Sextant's recall guardrail endpoints under /sextant/v1 (collection health,
// on-demand recall measurement, auto_ef, explain; see internal/api/admin).
// The server adds:
//
//   - GET /healthz: 200 while the process is up.
//   - GET /readyz: 200 once the database is open and every collection
//     recovered, 503 before that and while shutting down.
//   - GET /metrics: Prometheus metrics from the server's own registry (no
//     global state): requests and latency per route pattern and status;
//     per collection of every tenant (DB.ListTenants, read at scrape time)
//     its records, WAL bytes, memory, checkpoints written
//     (sextant_collection_checkpoints_total) and the duration of the last one
//     (sextant_collection_last_checkpoint_seconds), and whether a background
//     HNSW build runs (sextant_collection_index_building); the recall
//     guardrails (sextant_recall_estimate, _samples, sextant_recall_target,
//     sextant_effective_ef, sextant_collection_degraded, the
//     sextant_vector_norm / sextant_result_distance /
//     sextant_query_duration_seconds{plan} histograms,
//     sextant_index_build_seconds, sextant_drift_findings{code,severity});
//     Go and process metrics.
//   - GET /openapi.json: an OpenAPI 3.1 description of every route above,
//     embedded in the binary (openapi.json beside this file; a test checks
//     it against the mux).
//
// A request no route serves gets Chroma's error shape too, never the
// ServeMux's plain text: 404 NotFoundError for an unknown path, 405
// ChromaError with the mux's Allow header for a served path with another
// method (the chroma package answers the same way under /api/v2).
//
// # Starting before the database is open
//
// New takes an open DB and is ready at once. NewPending makes a server with
// no DB yet, so a process can listen while sextant.Open recovers the
// collections: /healthz answers 200, /readyz 503, /metrics and
// /openapi.json as usual, and every other route 503 in Chroma's error shape
// ({"error":"ServiceUnavailable","message":"database is recovering"}, with
// Retry-After) until Ready hands it the DB.
//
// # Middleware
//
// From the outside in: request logging and metrics (log/slog: method, route
// pattern, status, duration), panic recovery (500, logged with the stack),
// CORS for an allow-list of origins, API-key authentication, the readiness
// gate (503 before Ready), and a request-body limit (413 with Chroma's error shape). Errors the server
// itself produces use Chroma's shape {"error": name, "message": text}.
//
// # Authentication
//
// With Config.APIKeys set, every request except heartbeat, /healthz and
// /readyz must carry a key in x-chroma-token or Authorization: Bearer; else
// 401. A read-only key gets 403 on writes. Whether a request writes is
// decided by its route pattern, not only its method: POST .../get, .../query,
// .../search and .../explain only read; POST .../health/measure and
// PUT .../auto_ef write.
//
// # Shutdown
//
// Shutdown marks the server not ready, stops accepting connections, waits
// for in-flight requests (http.Server.Shutdown), then closes the DB, which
// makes every acknowledged write durable and checkpoints. The caller bounds
// it with the context; when the context ends first the remaining
// connections are closed and the DB is closed all the same.
//
// # Concurrency
//
// Server is safe for concurrent use once New or NewPending returns. Serve
// may be called once; Ready and Shutdown may be called from any goroutine,
// once each; Ready after Shutdown began is refused (ErrShuttingDown).
package server

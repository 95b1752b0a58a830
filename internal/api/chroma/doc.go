// Package chroma serves Chroma's HTTP API v2 on top of a Sextant DB, so that
// Chroma clients (the JS client chromadb 3.x, the Python client) can talk to
// Sextant unchanged.
//
// # Specification
//
// The package follows /work/shared/chroma_api_v2.md ("Chroma HTTP API v2 — as
// used by the JS client chromadb 3.x"), which describes Chroma's routes,
// bodies, status codes and error shapes as of chromadb 3.5.0. Section numbers
// in comments (§4.1, §7, ...) refer to that document.
//
// # Routes
//
// Handler.Register mounts every route of §1 on a ServeMux: system routes
// (heartbeat, version, pre-flight-checks, healthcheck, reset, auth/identity),
// tenants and databases, collections (create, get-or-create, get by name,
// by id and by CRN, list, count, modify, delete, indexing status) and
// records (add, update, upsert, delete, get, query, count). Routes that
// Chroma's local single-node server does not implement either (search,
// fork, conditional transactions, attached functions) answer as it does:
// 501 with Chroma's error shape. The deprecated v1 API answers 410. Any
// other /api/v2 path answers 404 NotFoundError, or 405 ChromaError with an
// Allow header when another method serves it.
//
// # Behaviour
//
// Handlers are thin: they decode strictly, translate to package sextant's
// API and map its errors to Chroma's {"error", "message"} bodies (§7). Where
// Chroma's write semantics differ from Sextant's atomic batches, the handler
// reproduces Chroma's: add skips ids that exist already, update ignores
// missing ids, upsert merges metadata into existing records (§5.2–§5.4).
//
// The package imports only package sextant and the standard library.
package chroma

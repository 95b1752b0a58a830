// Package admin serves Sextant's own HTTP endpoints (not part of the Chroma
// API) under /sextant/v1: the recall guardrails of every collection.
//
//	GET  /sextant/v1/health                                    every collection's status
//	GET  /sextant/v1/tenants/{t}/databases/{d}/collections/{name}/health
//	POST /sextant/v1/tenants/{t}/databases/{d}/collections/{name}/health/measure   {"n": 200}
//	PUT  /sextant/v1/tenants/{t}/databases/{d}/collections/{name}/auto_ef          {"on": true}
//	POST /sextant/v1/tenants/{t}/databases/{d}/collections/{name}/explain
//
// The collection health is the recall estimate with its interval and sample
// count, the target, the effective ef and its history, the drift findings
// with their figures, and the index, WAL and memory figures behind them.
// Explain runs one query with Explain and answers its plan: how selective a
// filter is and how the query was executed. Errors use Chroma's shape,
// {"error": name, "message": text}.
//
// Like the API packages, it reaches the engine only through package sextant
// (the root TestDependencyRules enforces it).
package admin

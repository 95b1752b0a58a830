// Package flat is exact (brute-force) k-nearest-neighbor search over a
// vec.Slab: every candidate slot is scored and the k nearest are kept in a
// bounded max-heap. Scoring goes through the seam of internal/index/score:
// Search and SearchBatch use the float32 scan scorer (score.NewF32Scan, whose
// distances are exactly vec.Metric.Distance), scoring the yielded slots in
// batches, and SearchScorer scans with any scorer (quantized codes, say).
//
// # Uses
//
//   - Small collections, where a scan is as fast as a graph walk and needs no
//     index at all.
//   - The fallback of filtered search: when a filter matches few records, the
//     engine scans exactly the matching slots instead of walking the graph.
//   - The oracle: tests check HNSW recall against it, and the recall monitor
//     re-runs a sample of live queries with it.
//
// # Contract
//
// Results are in ascending distance; equal distances are ordered by smaller
// slot. The order is total, so the result does not depend on the order in
// which the slot iterator yields slots: the oracle is deterministic. Search
// computes exactly one distance per yielded slot and appends into a
// caller-supplied buffer, so with cap(dst) >= k it does not allocate.
//
// The package is pure: no I/O, no clock, no logging. It imports only the
// standard library, internal/vec and internal/index/score.
//
// # Concurrency
//
// Search and SearchBatch are safe for concurrent use; they only read the slab.
// The caller keeps the yielded slots' vectors stable for the duration of the
// call (see vec.Slab).
package flat

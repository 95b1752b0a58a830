// Package catalog is Sextant's catalog as a state machine: the tenants, the
// databases and the collections with their settings (and, later, aliases and
// the shard map), changed only by applying typed commands in log order.
//
// It is pure, as the HNSW package is: no files, clocks, loggers or random
// numbers. The caller (a durability driver) chooses ids and every other
// value, encodes the command into its log, makes it durable, then calls
// Apply. On one node the driver is package sextant's catalog log (a WAL of
// these records plus a snapshot, docs/format/catalog.md); in a cluster the
// control-plane raft group's FSM.Apply will call the same Apply with the same
// command bytes.
//
// # Applying
//
// (*State).Apply(index, cmd) is total and deterministic. It validates the
// command against the state at apply time and either changes the state or
// leaves it unchanged and returns a typed error (errs.ErrAlreadyExists,
// errs.ErrNotFound, errs.ErrInvalidArgument) in the Result; both advance the
// applied index. An index at or below the applied one is ignored (Result.
// Stale), so replaying a log over a snapshot that already covers part of it
// is harmless.
//
// # Lookups
//
// A collection is found by id or by (tenant, database, name) through maps, in
// O(1); listings are per database. Values returned by the accessors are
// copies of the rows, but their slices are shared with the state and must not
// be modified; Apply never modifies a slice in place.
//
// # Encodings
//
// AppendCommand/DecodeCommand are the binary command codec (what a log
// record or a raft entry carries), AppendRecord/DecodeRecord add the index,
// and EncodeSnapshot/DecodeSnapshot write and read the whole state as the
// catalog.json snapshot (version 2; version 1, written before the command
// log existed, is read too). The formats are in docs/format/catalog.md.
//
// # Concurrency
//
// A State is not safe for concurrent use: the caller serializes Apply and
// guards reads against it (package sextant: db.mu).
package catalog

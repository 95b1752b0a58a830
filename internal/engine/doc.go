// Package engine is one collection of Sextant: its write path, the apply
// function shared by live writes and WAL replay, recovery, checkpoints and the
// query planner. It joins the index packages (internal/index/...) with the
// storage packages (internal/storage/...); nothing else does.
//
// # Write path
//
// A write is a Command (command.go): an intent such as add-strict,
// upsert-merge or delete-where, logged as it is. The shard (apply.go) is the
// collection's state machine: its state changes only through
// shard.Apply(index, cmd), which resolves the command against the state at
// that point of the log (existence, metadata merges, the delete filter),
// applies it whole or refuses it with a per-record error in the Result, and
// does no I/O, reads no clock and logs nothing. Replay calls Apply on every
// logged command; a raft FSM will call the same function.
//
// The durability driver (propose, write.go) owns the WAL: it validates the
// command without the state, encodes it, then under writeMu resolves it,
// appends it when it changes something, and commits the resolved ops (Apply's
// second half), so WAL order equals apply order. writeMu is then released
// and the writer waits for the WAL to be durable up to its record:
// concurrent writers share one fsync (group commit). The write is
// acknowledged only then. If the WAL fails (write or fsync), the collection
// turns read-only with that error: its in-memory state may hold the failed
// command, but nothing further is acknowledged, and a reopen serves exactly
// what is durable.
//
// # Guardrail state
//
// The recall guardrails (monitor.go, guardrails.go) keep their state in the
// same log: a write batch is observed by drift detection right after apply,
// under writeMu, so replay reproduces the live verdicts; what the monitor
// and queries change is appended as a guardrail record by the monitor
// goroutine (under writeMu, like a write), at once for urgent changes; the
// checkpoint holds all of it. Every WAL record carries an index (the
// applied index) and a time. docs/format/guardrails.md has the layout.
//
// # State and locks
//
// Lock order: writeMu → mu → the graph's own locks. writeMu serializes
// writers, checkpoint snapshots and the swap-in of a background-built graph.
// mu (RWMutex) guards the record table, the id map, the live set and the
// free list: writers hold it exclusively only for the short in-memory update,
// queries hold it shared for the whole search so that what the index returns
// is consistent with the records. HNSW inserts run after mu is released (the
// graph is safe for concurrent inserts and searches), using all workers.
//
// A slot's vector never changes while the slot is in a graph: an upsert with a
// new vector writes a new slot and deletes the old one. In exact mode a
// deleted slot is reused at once; in HNSW mode it is tombstoned and returned
// to the free list by graph repair, which runs when tombstones pass a share
// of the live count, before the next batch that inserts: under writeMu but
// with mu only shared, so queries wait only for the graph's short exclusive
// pass (hnsw.Graph.Repair; timed in Stats).
//
// # Plans
//
// Collections below ExactThreshold live records are served by exact search.
// Crossing it starts a background HNSW build from a snapshot of the live
// slots; writes during the build go to the new graph too, and deletes during
// the build are replayed on it before it is swapped in. Queries are served
// exactly until the swap, and never block on the build.
package engine

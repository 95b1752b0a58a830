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
// and queries change is appended as a guardrail record by the collection's
// monitor round (scheduler.go; under writeMu, like a write), at once for
// urgent changes, else when material (an idle collection's own probes
// append nothing: guardrails.go); the
// checkpoint holds all of it. Every WAL record carries an index (the
// applied index) and a time. docs/format/guardrails.md has the layout.
//
// # State and locks
//
// Lock order: writeMu → mu → the graph's own locks. writeMu serializes
// writers (resolve, WAL append, in-memory apply), checkpoint snapshots and
// the creation of the graph. mu (RWMutex) guards the record table, the id
// map, the live set, the free list and the indexer's pending set and queue:
// writers and the indexer hold it exclusively only for short in-memory
// updates, queries hold it shared for the whole search so that what the
// index returns is consistent with the records.
//
// # The indexer
//
// In HNSW mode a written vector's slot becomes pending; the indexer
// (indexer.go, a goroutine that runs only while there is work) links pending
// slots into the graph in batches with all workers, holding no engine lock
// meanwhile (the graph is safe for concurrent inserts and searches), and
// publishes the watermark: Stats.IndexedThrough, the log index through
// which every vector is in the graph. Queries search the graph and scan the
// pending slots exactly, and keep the best k of both, so results are
// complete whatever the indexer's lag. Reconnection is local (the graph's
// weak-node queue, after each batch) plus an amortized walk for cut-off
// nodes (after inserts reaching 1/16 of the graph, and when the queue runs
// dry).
//
// A slot's vector never changes while the slot is in a graph: an upsert with a
// new vector writes a new slot and deletes the old one. In exact mode a
// deleted slot is reused at once, as is a pending slot that the indexer has
// not taken; a node is tombstoned and returned to the free list by graph
// repair, which the indexer runs between batches when tombstones pass a
// share of the live count. Repair runs beside queries and writers (queries
// wait only for the graph's short exclusive pass, hnsw.Graph.Repair; timed
// in Stats); a write that may insert waits, holding no lock, while a repair
// is due, so that slots are reused and memory stays bounded.
//
// # Checkpoints
//
// A checkpoint (checkpoint.go) persists the state so that the WAL it covers
// can go. Vectors and records are immutable segments: the state tracks the
// slots changed since the last checkpoint (dirty, dirtyVec), and a checkpoint
// writes only those, as a delta, or every slot when compaction is due; the
// manifest lists the segments, applied in order on open. The graph, the
// payload indexes and the guardrail state are written whole each time.
// docs/format/segments.md and checkpoint.md have the layouts.
//
// # Plans
//
// Collections below ExactThreshold live records are served by exact search.
// Crossing it creates the graph with every live slot pending, and the
// indexer builds it (Stats.Mode "building" until it has caught up). Queries
// are served exactly while most records are pending, and never block on the
// build.
package engine

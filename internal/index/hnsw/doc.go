// Package hnsw is Sextant's approximate nearest neighbour index: a
// hierarchical navigable small world graph (Malkov & Yashunin) over the
// slots of a score.Space, following hnswlib's algorithm: random levels with
// mult 1/ln(M), greedy descent on the upper layers, a best-first search of
// breadth ef on each layer, the neighbour-selection heuristic
// (getNeighborsByHeuristic2) for new nodes and for shrinking full lists.
//
// The package is pure: no files, clocks, logs or goroutines of its own. The
// engine owns the vectors and the slots; the graph only links slots.
//
// # Scoring
//
// The graph never reads a vector: every distance goes through its
// score.Space (package internal/index/score explains the seam and why it has
// this shape). New and Decode take a vec.Slab and wrap it in the float32
// space (score.NewF32); NewWithSpace and DecodeWithSpace take any space, such
// as quantized codes. Each scratch carries two scorers of the space: sc,
// prepared once per operation with its query (Search's vector, or the node
// an Insert, relink or Reinforce links), and aux, prepared with a node whose
// list is rewritten (addLink, linkOwn, repairList). A search scores each
// neighbour list in one Scorer.Score call (greedy descent, searchPool,
// searchHeap, the matches of a two-hop expansion), and the scorer prefetches
// and uses the four-way kernels inside it; the search itself prefetches the
// neighbour list of the node it expands next. The heuristic compares
// candidates with the space's node-to-node distance. SearchWith and
// SearchTwoHopWith search with a scorer the caller prepared, of another space
// over the same slots (quantized codes over a graph built on float32); the
// engine then re-ranks with score.Rerank.
//
// # Memory layout
//
// Nodes are dense uint32 slots. Per slot the graph keeps an atomic state word
// (present, tombstoned, level) and, in fixed-size chunks of 1024 slots, the
// layer-0 neighbour list: a count then 2*M slots. Upper-layer lists (count
// then M slots) live in a chunked arena of blocks; a node of level L owns a
// run of L consecutive blocks, found from its state chunk, and the runs of
// removed nodes are reused. Growth appends chunks to a table published with an
// atomic pointer, so data never moves under a concurrent reader. There are no
// per-node pointers or maps.
//
// # Concurrency
//
// Insert, Search, SearchTwoHop and Delete run concurrently; Check runs
// alone; AppendBinary holds the graph shared, and its caller keeps Insert,
// Reinforce and Repair out for a consistent image. Repair re-selects the
// affected lists with the graph shared (a batch of slots per hold), takes it
// exclusively only for the lists written meanwhile and those left with no
// candidate (local: O(those lists), not O(nodes)), then unlinks the removed
// nodes with the graph shared again; Reconnect looks for unreachable nodes
// with the graph shared and takes it exclusively only to link in those it
// found. At most one Repair at a time.
// Locks, in the order they are taken:
//
//  1. Graph.mu (RWMutex): shared by Insert, Search, SearchTwoHop, Delete,
//     AppendBinary, Repair's first and third passes and Reconnect's walk;
//     exclusive for Repair's second pass, Check and Reconnect's linking.
//  2. Graph.top (Mutex): held by an Insert whose level is above the current
//     top level, for its whole linking, so that the new entry point is
//     published (atomically, in Graph.ep) only once it is linked.
//  3. One stripe of Graph.stripes (4096 Mutexes, slot mod 4096): held by a
//     writer of that slot's neighbour lists. A goroutine holds at most one
//     stripe at a time.
//  4. Graph.grow (Mutex, leaf): chunk growth and the upper-layer allocator.
//  5. Graph.rng (Mutex, leaf; taken before mu by Insert): the level generator.
//  6. Graph.weak and Graph.dirty (Mutexes, leaves): the queue of nodes for
//     Reinforce, and the nodes whose lists were written while a Repair's
//     first pass ran.
//
// Neighbour lists are read without locks: every element (count and slots)
// is read and written with sync/atomic, and a writer stores the entries
// before the count. A reader may thus see a list mid-update — a mix of old
// and new neighbours — but every slot it sees is a node of the graph (nodes
// leave the graph only in Repair's third pass, after its exclusive second
// pass has removed every edge to them, so no walk can reach them), which is
// all a search needs; this is race-free under the Go memory model
// and the race detector. A node's state and upper-layer storage are written before the
// first edge to it is stored, so a reader that found the node sees them.
//
// # Filtered search
//
// Search with a filter walks the graph as without one and only keeps the
// matches among the results, so at low selectivity it scores most of the
// graph. SearchTwoHop (ACORN-1) scores only matches and walks through the
// other nodes without scoring them: 2 hops per expansion, and further from
// the nodes it skipped where matches are sparse or the start is far from
// them.
//
// # Reachability
//
// Insert never drops a node's last layer-0 in-edge (the in-degree counters),
// but concurrent inserts can still, rarely, leave a few nodes whose in-edges
// all come from each other, cut off from the entry point. Reconnect (called by
// the engine's indexer after inserts reaching a share of the graph and when
// its queue runs dry; Repair does it too) links such nodes back from their
// nearest reachable nodes.
//
// # Deletes
//
// Delete tombstones a node: it is never returned, but remains a waypoint.
// Repair reconnects the live nodes that point at tombstones (heuristic
// re-selection from their live neighbours and the live neighbours of the
// tombstones; this is the costly part, and runs beside searches), then, with
// the graph held exclusively, fixes what changed meanwhile, moves the entry
// point if needed, removes the tombstones and returns their slots for reuse.
//
// # Determinism
//
// The level of each node comes from a PCG generator seeded by Config.Seed, so
// the same seed and the same single-threaded sequence of operations give the
// same graph, byte for byte in AppendBinary.
package hnsw

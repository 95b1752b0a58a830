package score

import "github.com/sextantdb/sextant/internal/vec"

// Space is the storage an index scores against: one representation per slot
// (float32 vectors, or quantized codes) and the distances over it. A graph
// holds one Space for its whole life.
//
// Space is safe for concurrent use. A slot's representation must not change
// while an index holds the slot (the engine writes it before inserting).
type Space interface {
	// Dim is the dimension of the vectors the space was made from: the
	// length of a query.
	Dim() int
	// Cap is the number of slots with storage (slots [0, Cap) may be scored).
	Cap() int
	// Metric is the metric the distances follow.
	Metric() vec.Metric
	// Exact reports whether the distances are the exact float32 distances of
	// Metric (vec.Metric.Distance up to rounding). A space that approximates
	// them (quantized codes) returns false, and the engine re-ranks its
	// candidates with an exact Scorer (Rerank).
	Exact() bool
	// Dist is the distance between two stored slots: the node-to-node
	// distance of graph construction (the neighbour-selection heuristic,
	// shrinking a full list, repair).
	Dist(a, b uint32) float32
	// NewScorer returns a Scorer over the space, to be reused for many
	// queries by one goroutine at a time.
	NewScorer() Scorer
}

// Scorer scores stored slots against one query at a time. It is prepared once
// per query (SetQuery, SetNode), which is where a quantized space computes its
// query transform or lookup table, and then scores many slots.
//
// A Scorer is not safe for concurrent use; it is reused (pooled) across
// queries, so that preparing one allocates nothing in steady state.
type Scorer interface {
	// SetQuery prepares the scorer for the query vector q (len(q) ==
	// Space.Dim(); for cosine, unit length). The scorer may keep q until the
	// next Set call.
	SetQuery(q []float32)
	// SetNode prepares the scorer with stored slot as the query (Insert,
	// Repair and Reinforce search for a node's own neighbours).
	SetNode(slot uint32)
	// Dist returns the distance of slot to the query.
	Dist(slot uint32) float32
	// Score sets ns[i].Dist to the distance of ns[i].Slot to the query, for
	// every i: one call per neighbour list, so that the cost of the call is
	// shared by the list, and the implementation can prefetch ahead and
	// compute several distances per pass (the four-way kernels).
	Score(ns []vec.Neighbor)
}

// Package score is the seam between the indexes and what they score: the
// HNSW graph (internal/index/hnsw) and the exact scan (internal/index/flat)
// compute every distance through a Space and its Scorers, so that float32
// vectors, quantized codes and re-ranking on the float32 originals are
// interchangeable without touching the graph code.
//
// # The seam
//
// A Space holds one representation per slot and gives two kinds of
// distance:
//
//   - query to slot, through a Scorer: prepared once per query (SetQuery, or
//     SetNode when the query is a stored node, as in Insert and Repair), then
//     asked for many slots. A quantized space computes its query transform or
//     lookup table in SetQuery; a float32 one just keeps the vector.
//   - node to node, Space.Dist(a, b): the neighbour-selection heuristic,
//     which compares candidates with each other, not with the query.
//
// Space.Exact says whether the distances are exact; where they are not, the
// engine re-ranks a search's candidates with a scorer of the float32 space
// (Rerank), and a graph may be searched with a scorer of another space over
// the same slots (hnsw.Graph.SearchWith): build on float32, search on codes.
//
// F32 is the first implementation: the vectors of a vec.Slab, cosine and ip
// as 1 − dot, l2 as the squared Euclidean distance. NewF32 is for graphs
// (random reads: prefetching, vec.GraphDot/GraphL2Sq, the four-way kernels
// below 256 dimensions), NewF32Scan for exact scans (a stream: vec.Dot and
// vec.L2Sq, no prefetch, a distance exactly vec.Metric.Distance).
//
// # Why an interface with a batch method
//
// Scorer.Score scores a whole neighbour list (or a batch of scanned slots)
// per call, filling vec.Neighbor.Dist in place. The dynamic call then costs
// once per list of up to 2*M slots, not once per distance; inside it the
// implementation is a plain loop over concrete code, which is where the
// prefetching ahead and the four-way kernels (vec.Dot4: four distances per
// pass, one load of the query) belong, and what quantized codes want too.
// Before the seam the graph already called its kernel through a func value
// per distance; that call is still the only one per distance for float32.
//
// A generic graph (Graph[S Space]) was not chosen: Go compiles generic code
// by GC shape, and a method call on a type parameter goes through the
// dictionary, an indirect call that is not inlined either, so it would buy
// nothing over the batch interface, while changing the engine's *hnsw.Graph
// into an instantiated type. The single-slot Dist (entry points, Rerank of a
// few) and the node-to-node Space.Dist (the heuristic, which stops at the
// first kept node nearer than the base: scoring all of them in one Score
// would compute more distances) are dynamic calls per distance; they are off
// the search loop. Against the code before the seam (BenchmarkSearch,
// BenchmarkBuild, BenchmarkInsert in internal/index/hnsw and BenchmarkSearch
// in internal/index/flat; 6-8 alternated rounds on the shared 2-core EPYC,
// medians) builds and inserts cost the same (0.96-1.03x CPU), searches the
// same or less (0.74-0.99x CPU per query) except glove-twitter-25 with its
// slots reordered, 1.05-1.17x in three series of medians with equal or
// better minimums, which the noise of that machine could not settle.
//
// The package is pure, as the indexes are: no I/O, no clock, no logging.
package score

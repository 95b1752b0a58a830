package hnsw

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

// scratch is the per-operation working memory of Search, Insert and Repair:
// an epoch-stamped visited list, the candidate and result heaps and two
// scorers of the graph's space. It comes from a scratchPool so that
// steady-state searches allocate nothing.
type scratch struct {
	// sc scores against the query of the operation (Search's vector, the
	// node an Insert links); aux against a node whose list is rewritten
	// (addLink, linkOwn, repairList) while sc keeps its query.
	sc, aux score.Scorer
	visited []uint16
	epoch   uint16
	cand    []vec.Neighbor // min-heap on (Dist, Slot)
	res     []vec.Neighbor // max-heap on (Dist, Slot)
	tmp     []vec.Neighbor
	sel     []vec.Neighbor
	shrink  []vec.Neighbor
	drop    []vec.Neighbor // setListLocked: candidates the heuristic dropped
	prot    []bool
	front   []vec.Neighbor // SearchTwoHop: min-heap of skipped nodes to explore further
	hop     []vec.Neighbor // SearchTwoHop: the matching nodes of one expansion
	skip    []uint32       // SearchTwoHop: the failing neighbours of one expansion
	deep    []vec.Neighbor
	stack   []uint32       // unreachable: the walk's stack
	batch   []vec.Neighbor // searchLayer, greedy: the neighbours of one node to score
	pool    []uint64       // searchPool: candidates and results, sorted poolKeys
	done    []bool         // searchPool: which pool entries were expanded
}

// Prefetching: the scorers prefetch the vectors (or codes) of a neighbour
// list ahead of its distances (see score.F32); the search prefetches the
// neighbour list of the node it will expand next.

// shortPool is the longest pool poolInsert searches linearly.
const shortPool = 32

// scratchPool is a typed wrapper around sync.Pool, for one graph: its
// scratches carry scorers of the graph's space.
type scratchPool struct {
	p     sync.Pool
	space score.Space
}

// get returns a scratch whose visited list covers n slots, with a fresh epoch.
func (sp *scratchPool) get(n int) *scratch {
	s, _ := sp.p.Get().(*scratch)
	if s == nil {
		s = &scratch{sc: sp.space.NewScorer(), aux: sp.space.NewScorer()}
	}
	s.reset(n)
	return s
}

func (sp *scratchPool) put(s *scratch) { sp.p.Put(s) }

// reset starts a new visit over n slots.
func (s *scratch) reset(n int) {
	if len(s.visited) < n {
		s.visited = make([]uint16, n)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
	s.cand = s.cand[:0]
	s.res = s.res[:0]
	s.front = s.front[:0]
	s.deep = s.deep[:0]
}

// extend grows the visited list to cover n slots, keeping the marks.
func (s *scratch) extend(n int) {
	if len(s.visited) < n {
		nv := make([]uint16, n)
		copy(nv, s.visited)
		s.visited = nv
	}
}

// visit marks slot visited and reports whether it was not before. It grows
// the list when slot is beyond it (nodes inserted during the search).
func (s *scratch) visit(slot uint32) bool {
	if int(slot) >= len(s.visited) {
		nv := make([]uint16, (int(slot)+nodeChunk)&^(nodeChunk-1))
		copy(nv, s.visited)
		s.visited = nv
	}
	if s.visited[slot] == s.epoch {
		return false
	}
	s.visited[slot] = s.epoch
	return true
}

func less(a, b vec.Neighbor) bool {
	if a.Dist != b.Dist {
		return a.Dist < b.Dist
	}
	return a.Slot < b.Slot
}

func cmpNeighbor(a, b vec.Neighbor) int {
	if less(a, b) {
		return -1
	}
	if less(b, a) {
		return 1
	}
	return 0
}

// Min-heap on Dist (candidates) and max-heap on (Dist, Slot) (results) on []vec.Neighbor, written
// out so the hot loop has no interface calls.

func pushMin(h []vec.Neighbor, x vec.Neighbor) []vec.Neighbor {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if x.Dist >= h[p].Dist {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
	return h
}

func popMin(h []vec.Neighbor) ([]vec.Neighbor, vec.Neighbor) {
	top := h[0]
	n := len(h) - 1
	x := h[n]
	h = h[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].Dist < h[c].Dist {
			c++
		}
		if h[c].Dist >= x.Dist {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = x
	}
	return h, top
}

func pushMax(h []vec.Neighbor, x vec.Neighbor) []vec.Neighbor {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[p], x) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
	return h
}

func popMax(h []vec.Neighbor) ([]vec.Neighbor, vec.Neighbor) {
	top := h[0]
	n := len(h) - 1
	x := h[n]
	h = h[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && less(h[c], h[c+1]) {
			c++
		}
		if !less(x, h[c]) {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = x
	}
	return h, top
}

// replaceMax replaces the top of the max-heap h with x and restores the heap.
func replaceMax(h []vec.Neighbor, x vec.Neighbor) {
	n := len(h)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && less(h[c], h[c+1]) {
			c++
		}
		if !less(x, h[c]) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}

// greedy walks layer from cur towards the query of sc while a neighbour is
// nearer, and returns the local minimum. Each neighbour list is scored in one
// call (s.batch).
func (g *Graph) greedy(s *scratch, sc score.Scorer, cur vec.Neighbor, layer int, st *SearchStats) vec.Neighbor {
	for changed := true; changed; {
		changed = false
		l := g.list(cur.Slot, layer)
		n := min(int(atomic.LoadUint32(&l[0])), len(l)-1)
		nbs := l[1 : n+1]
		if cap(s.batch) < len(nbs) {
			s.batch = make([]vec.Neighbor, len(nbs), 2*len(nbs))
		}
		batch := s.batch[:len(nbs)]
		for i := range nbs {
			batch[i] = vec.Neighbor{Slot: atomic.LoadUint32(&nbs[i])}
		}
		sc.Score(batch)
		st.DistanceComputations += len(batch)
		for _, nb := range batch {
			if nb.Dist < cur.Dist || (nb.Dist == cur.Dist && nb.Slot < cur.Slot) {
				cur = nb
				changed = true
			}
		}
	}
	return cur
}

// searchLayer is hnswlib's searchBaseLayer: a best-first search of layer
// from ep with breadth ef. It returns the k <= ef nearest results, nearest
// first, in s's memory (valid until s is reused). With all set every node may
// be a result (construction and repair); otherwise only live nodes that pass
// filter (a nil filter passes all). Non-result nodes are still traversed.
func (g *Graph) searchLayer(s *scratch, sc score.Scorer, ep vec.Neighbor, ef, k, layer int, all bool, filter Filter, st *SearchStats) []vec.Neighbor {
	// Without a filter and without tombstones every node is a result: the
	// candidates and the results are one sorted pool. A node tombstoned
	// during the search may then be returned, as if the search had run first.
	if all || (filter == nil && g.tombs.Load() == 0) {
		res := g.searchPool(s, sc, ep, ef, layer, st)
		return res[:min(k, len(res))]
	}
	g.searchHeap(s, sc, ep, ef, layer, filter, st)
	if k < len(s.res) {
		s.tmp = smallest(s.res, k, s.tmp[:0])
		return s.tmp
	}
	return s.sortedResults()
}

// unvisited returns the neighbours of slot on layer that s has not visited
// yet, marking them visited, with their distances still to be scored (the
// slice is s.batch's memory). The visited
// test is branch-free: whether a neighbour was seen is a coin toss the
// branch predictor loses.
func (g *Graph) unvisited(s *scratch, slot uint32, layer int) []vec.Neighbor {
	var l []uint32
	if layer == 0 {
		l = g.list0(slot)
	} else {
		l = g.list(slot, layer)
	}
	n := min(int(atomic.LoadUint32(&l[0])), len(l)-1)
	nbs := l[1 : n+1]
	if cap(s.batch) < len(nbs) {
		s.batch = make([]vec.Neighbor, len(nbs), 2*len(nbs))
	}
	batch := s.batch[:len(nbs)]
	visited, epoch := s.visited, s.epoch
	fresh := 0
	for i := range nbs {
		nb := atomic.LoadUint32(&nbs[i])
		if int(nb) >= len(visited) {
			s.visit(nb) // a node inserted during the search: grow the list
			visited = s.visited
			batch[fresh].Slot = nb // Dist: set by the Score that follows
			fresh++
			continue
		}
		seen := visited[nb] == epoch
		visited[nb] = epoch
		batch[fresh].Slot = nb
		if !seen {
			fresh++
		}
	}
	return batch[:fresh]
}

// searchPool is searchLayer when every node is a result. The candidates
// and the results are one array sorted by (Dist, Slot), at most ef long, with
// a flag per entry for the nodes already expanded; the next node expanded is
// the nearest one not expanded yet. This is the same search as the two heaps
// of searchHeap (a candidate farther than the ef-th result is never expanded
// there either), with a branch-free binary search and a short copy per
// insertion in place of three heap operations. Entries are (Dist, Slot)
// packed into one uint64 that orders like less (poolKey), so each comparison
// is one integer compare.
func (g *Graph) searchPool(s *scratch, sc score.Scorer, ep vec.Neighbor, ef, layer int, st *SearchStats) []vec.Neighbor {
	s.visit(ep.Slot)
	pool := append(s.pool[:0], poolKey(ep))
	done := append(s.done[:0], false)
	nvisit, ndist := 1, 0
	for cur := 0; cur < len(pool); {
		done[cur] = true
		batch := g.unvisited(s, uint32(pool[cur]), layer)
		nvisit += len(batch)
		// The nearest entry not expanded yet is usually the next one.
		if layer == 0 {
			for j := cur + 1; j < len(pool); j++ {
				if !done[j] {
					vec.PrefetchUint32(g.list0(uint32(pool[j])), 1)
					break
				}
			}
		}
		sc.Score(batch)
		ndist += len(batch)
		next := len(pool) // lowest position inserted at
		for _, nb := range batch {
			pool, done, next = poolInsert(pool, done, next, ef, poolKey(nb))
		}
		// Entries before cur are all expanded; an insertion at or before cur
		// is the nearest unexpanded entry, else look on from cur+1.
		if next <= cur {
			cur = next
		} else {
			cur++
			for cur < len(pool) && done[cur] {
				cur++
			}
		}
	}
	s.pool, s.done = pool, done
	st.Visited += nvisit
	st.DistanceComputations += ndist
	res := s.tmp[:0]
	for _, key := range pool {
		res = append(res, poolNeighbor(key))
	}
	s.tmp = res
	return res
}

// poolInsert inserts key into the sorted pool (at most ef long; a key not
// below the last of a full pool is dropped) and its done flag, and lowers next
// to the position it took.
//
// A short pool is searched from its end while the entries are shifted, a
// long one by a branch-free binary search and one copy. BenchmarkSearch
// (SEXTANT_BENCH_EF, min of 5-6 alternated runs), the shifting loop at every
// length against the binary search: glove-twitter-25 5-10% faster at ef 10,
// the same at ef 100, 28-34% slower at ef 400; with the cut-over at 32,
// 12-16% faster at ef 10 and the same at ef 100 and 400.
func poolInsert(pool []uint64, done []bool, next, ef int, key uint64) ([]uint64, []bool, int) {
	n := len(pool) // entries that stay
	if n >= ef {
		if key >= pool[n-1] {
			return pool, done, next
		}
		n--
	} else {
		pool = append(pool, 0)
		done = append(done, false)
	}
	var at int
	if n <= shortPool {
		at = n
		for at > 0 && pool[at-1] > key {
			pool[at], done[at] = pool[at-1], done[at-1]
			at--
		}
	} else {
		// Lower bound of key in pool[:n] (not in it: slots are unique).
		for m := n; m > 1; {
			half := m >> 1
			// borrow is 1 when pool[at+half] < key: a data-dependent step
			// without a branch to mispredict.
			_, borrow := bits.Sub64(pool[at+half], key, 0)
			at += half & -int(borrow)
			m -= half
		}
		if pool[at] < key {
			at++
		}
		copy(pool[at+1:n+1], pool[at:n])
		copy(done[at+1:n+1], done[at:n])
	}
	pool[at], done[at] = key, false
	return pool, done, min(next, at)
}

// poolKey packs n into a uint64 that orders like less: the distance's bits
// made monotonic (negative floats flipped, the sign bit set on the others),
// branch-free, above the slot. Adding +0 first turns -0 into +0, which less
// takes as equal.
func poolKey(n vec.Neighbor) uint64 {
	b := math.Float32bits(n.Dist + 0)
	b ^= uint32(int32(b)>>31) | 1<<31
	return uint64(b)<<32 | uint64(n.Slot)
}

// poolNeighbor is the inverse of poolKey.
func poolNeighbor(key uint64) vec.Neighbor {
	b := uint32(key >> 32)
	if b&(1<<31) != 0 {
		b &^= 1 << 31
	} else {
		b = ^b
	}
	return vec.Neighbor{Slot: uint32(key), Dist: math.Float32frombits(b)}
}

// searchHeap is searchLayer with a filter or tombstones: a min-heap of
// candidates (s.cand) and a max-heap of up to ef results (s.res), so that
// nodes that are not results are traversed without taking a result's place.
func (g *Graph) searchHeap(s *scratch, sc score.Scorer, ep vec.Neighbor, ef, layer int, filter Filter, st *SearchStats) {
	s.visit(ep.Slot)
	st.Visited++
	lower := float32(maxFloat)
	if g.accept(ep.Slot, filter) {
		s.res = pushMax(s.res, ep)
		lower = ep.Dist
	}
	s.cand = pushMin(s.cand, ep)
	nvisit, ndist := 0, 0
	for len(s.cand) > 0 {
		var c vec.Neighbor
		s.cand, c = popMin(s.cand)
		if c.Dist > lower && len(s.res) >= ef {
			break
		}
		// First the unvisited neighbours, then their distances (one Score).
		batch := g.unvisited(s, c.Slot, layer)
		nvisit += len(batch)
		// The candidate now nearest is usually the next one expanded: start
		// loading its neighbour list (a cache miss otherwise: lists and
		// vectors live in separate slabs).
		if len(s.cand) > 0 && layer == 0 {
			vec.PrefetchUint32(g.list0(s.cand[0].Slot), 1)
		}
		sc.Score(batch)
		ndist += len(batch)
		for _, x := range batch {
			if len(s.res) < ef || x.Dist < lower {
				s.cand = pushMin(s.cand, x)
				if g.accept(x.Slot, filter) {
					if len(s.res) < ef {
						s.res = pushMax(s.res, x)
					} else {
						replaceMax(s.res, x)
					}
					lower = s.res[0].Dist
				}
			}
		}
	}
	st.Visited += nvisit
	st.DistanceComputations += ndist
}

const maxFloat = 3.4028234663852886e38

// accept reports whether slot may be a search result: live, and in filter.
func (g *Graph) accept(slot uint32, filter Filter) bool {
	if g.stateOf(slot)&stateDeleted != 0 {
		return false
	}
	return filter == nil || filter.Contains(slot)
}

// Search returns up to k nearest live nodes to q in ascending distance (ties:
// smaller slot first), appended to dst[:0]. ef is raised to k when smaller.
// With a non-nil filter only slots it contains are returned; the traversal
// still walks through the others. A query of the wrong dimension, k <= 0 or an
// empty graph give no results. Search is safe for concurrent use and does not
// allocate in steady state when dst has room for k results.
func (g *Graph) Search(q []float32, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats) {
	if len(q) != g.space.Dim() {
		return dst[:0], SearchStats{}
	}
	return g.search(q, nil, k, ef, filter, dst)
}

// SearchWith is Search with a scorer the caller prepared for its query: one
// of another space over the same slots (quantized codes searching a graph
// built on float32 vectors, say). The distances of the results are sc's.
func (g *Graph) SearchWith(sc score.Scorer, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats) {
	return g.search(nil, sc, k, ef, filter, dst)
}

// search is Search with the query in q (scored by the scratch's scorer)
// when sc is nil.
func (g *Graph) search(q []float32, sc score.Scorer, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats) {
	dst = dst[:0]
	var st SearchStats
	if k <= 0 {
		return dst, st
	}
	ef = max(ef, k)
	g.mu.RLock()
	defer g.mu.RUnlock()
	s := g.scratchs.get(g.capacity())
	defer g.scratchs.put(s)
	if sc == nil {
		sc = s.sc
		sc.SetQuery(q)
	}
	cur, ok := g.descend(s, sc, &st)
	if !ok {
		return dst, st
	}
	res := g.searchLayer(s, sc, cur, ef, k, 0, false, filter, &st)
	return append(dst, res...), st
}

// descend walks greedily from the entry point down to layer 1 and returns
// the layer-0 starting point; ok is false for an empty graph.
// REQUIRES: g.mu held (shared).
func (g *Graph) descend(s *scratch, sc score.Scorer, st *SearchStats) (vec.Neighbor, bool) {
	epSlot, top, ok := g.entry()
	if !ok {
		return vec.Neighbor{}, false
	}
	cur := vec.Neighbor{Slot: epSlot, Dist: sc.Dist(epSlot)}
	st.DistanceComputations++
	for l := top; l > 0; l-- {
		cur = g.greedy(s, sc, cur, l, st)
	}
	return cur, true
}

// smallest appends the k smallest of res in ascending (Dist, Slot) order to
// dst[:0], by insertion into a sorted prefix: most of the ef results lose to
// the current k-th at the first comparison, which is cheaper than popping
// ef-k of them off the heap.
func smallest(res []vec.Neighbor, k int, dst []vec.Neighbor) []vec.Neighbor {
	n := min(k, len(res))
	if cap(dst) < n {
		dst = make([]vec.Neighbor, 0, n)
	}
	dst = dst[:0]
	for _, x := range res {
		if len(dst) == n {
			if !less(x, dst[n-1]) {
				continue
			}
			dst = dst[:n-1]
		}
		i := len(dst)
		dst = append(dst, x)
		for ; i > 0 && less(x, dst[i-1]); i-- {
			dst[i] = dst[i-1]
		}
		dst[i] = x
	}
	return dst
}

// sortedResults drains s.res into s.tmp in ascending order and returns it.
func (s *scratch) sortedResults() []vec.Neighbor {
	n := len(s.res)
	if cap(s.tmp) < n {
		s.tmp = make([]vec.Neighbor, n)
	}
	s.tmp = s.tmp[:n]
	for i := n - 1; i >= 0; i-- {
		s.res, s.tmp[i] = popMax(s.res)
	}
	return s.tmp
}

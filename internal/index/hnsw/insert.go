package hnsw

import (
	"slices"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/vec"
)

// Insert links slot into the graph. Its vector must already be in the space
// (vec.Slab.Set for the float32 space) and must not change while slot is in
// the graph. Inserting a
// slot that is already in the graph (live or tombstoned) is a no-op. Insert is
// safe for concurrent use with other Inserts, Search and Delete; it waits for
// a running Repair.
func (g *Graph) Insert(slot uint32) {
	if int(slot) >= g.space.Cap() {
		panic("BUG: hnsw: Insert of a slot with no vector")
	}
	level := g.randomLevel()
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.ensure(int(slot) + 1)
	st := g.stateRef(slot)
	if !st.CompareAndSwap(0, statePresent|uint32(level)<<levelShift) {
		return
	}
	c := (*g.chunks.Load())[slot>>nodeShift]
	atomic.StoreUint32(&g.list(slot, 0)[0], 0)
	c.upper[slot&(nodeChunk-1)] = noUpper
	if level > 0 {
		c.upper[slot&(nodeChunk-1)] = g.allocUpper(level)
	}
	g.nodes.Add(1)

	epSlot, top, ok := g.entry()
	raising := false
	if !ok || level > top {
		g.top.Lock()
		epSlot, top, ok = g.entry()
		if !ok {
			g.ep.Store(packEntry(slot, level))
			g.top.Unlock()
			return
		}
		if level > top {
			raising = true
		} else {
			g.top.Unlock()
		}
	}
	var stats SearchStats
	s := g.scratchs.get(g.capacity())
	sc := s.sc
	sc.SetNode(slot)
	cur := vec.Neighbor{Slot: epSlot, Dist: sc.Dist(epSlot)}
	for l := top; l > level; l-- {
		cur = g.greedy(s, sc, cur, l, &stats)
	}
	for l := min(level, top); l >= 0; l-- {
		s.reset(0)
		cands := g.searchLayer(s, sc, cur, g.efC, g.efC, l, true, nil, &stats)
		// A concurrent insert may already have linked slot on this layer.
		cands = slices.DeleteFunc(cands, func(n vec.Neighbor) bool { return n.Slot == slot })
		if len(cands) == 0 {
			continue
		}
		cur = cands[0]
		s.sel = g.heuristic(cands, g.m, s.sel[:0])
		g.linkOwn(s, slot, l)
		for _, nb := range s.sel {
			g.addLink(s, nb.Slot, slot, nb.Dist, l)
		}
	}
	g.scratchs.put(s)
	g.noteIn(slot, g.indeg(slot).Load())
	if raising {
		g.ep.Store(packEntry(slot, level))
		g.top.Unlock()
	}
}

// heuristic is hnswlib's getNeighborsByHeuristic2: from cands, sorted by
// ascending distance to a base point, it keeps a candidate only if it is
// nearer to the base than to every candidate kept before, up to m. It
// appends to out. The distances between candidates are the space's
// node-to-node distance, one call per pair: hnswlib's early exit (a
// candidate is dropped at the first kept node nearer to it) saves more than
// scoring a candidate against all the kept nodes in one Score would.
func (g *Graph) heuristic(cands []vec.Neighbor, m int, out []vec.Neighbor) []vec.Neighbor {
	if len(cands) <= m {
		return append(out, cands...)
	}
	start := len(out)
	for _, c := range cands {
		if len(out)-start >= m {
			break
		}
		good := true
		for _, s := range out[start:] {
			if g.space.Dist(c.Slot, s.Slot) < c.Dist {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// writeList stores sel as the list l (count last, so a lock-free reader sees
// a count only after its entries).
// REQUIRES: the stripe of the list's node held (or g.mu held exclusively).
func writeList(l []uint32, sel []vec.Neighbor) {
	for i, n := range sel {
		atomic.StoreUint32(&l[1+i], n.Slot)
	}
	atomic.StoreUint32(&l[0], uint32(len(sel)))
}

// linkOwn sets the list of the new node slot on layer to s.sel, merging with
// links a concurrent insert may already have added.
func (g *Graph) linkOwn(s *scratch, slot uint32, layer int) {
	mu := g.stripe(slot)
	mu.Lock()
	defer mu.Unlock()
	defer g.noteDirty(slot) // (it may link a tombstone)
	l := g.list(slot, layer)
	n := int(l[0])
	if n == 0 {
		writeList(l, s.sel)
		if layer == 0 {
			for _, nb := range s.sel {
				g.indeg(nb.Slot).Add(1)
			}
		}
		return
	}
	// Rare: merge the existing links with the selection.
	cands := s.tmp[:0]
	for i := 1; i <= n; i++ {
		cands = append(cands, vec.Neighbor{Slot: l[i]})
	}
	s.aux.SetNode(slot)
	s.aux.Score(cands)
	for _, c := range s.sel {
		if !slices.Contains(l[1:1+n], c.Slot) {
			cands = append(cands, c)
		}
	}
	slices.SortFunc(cands, cmpNeighbor)
	s.tmp = cands
	g.setListLocked(s, l, layer, cands)
}

// addLink adds the edge from -> to on layer (d is their distance); when from's
// list is full it is shrunk with the heuristic.
func (g *Graph) addLink(s *scratch, from, to uint32, d float32, layer int) {
	mu := g.stripe(from)
	mu.Lock()
	defer mu.Unlock()
	l := g.list(from, layer)
	n := int(l[0])
	if slices.Contains(l[1:1+n], to) {
		return
	}
	defer g.noteDirty(from) // (to may have been deleted since it was chosen)
	if n < g.capOf(layer) {
		atomic.StoreUint32(&l[1+n], to)
		atomic.StoreUint32(&l[0], uint32(n+1))
		if layer == 0 {
			g.indeg(to).Add(1)
		}
		return
	}
	cands := s.tmp[:0]
	cands = append(cands, vec.Neighbor{Slot: to, Dist: d})
	for i := 1; i <= n; i++ {
		cands = append(cands, vec.Neighbor{Slot: l[i]})
	}
	// The distances from the list's node to its neighbours, in one Score
	// (s.aux: s.sc still holds the query of the Insert or relink).
	s.aux.SetNode(from)
	s.aux.Score(cands[1:])
	slices.SortFunc(cands, cmpNeighbor)
	s.tmp = cands
	g.setListLocked(s, l, layer, cands)
}

// setListLocked replaces list l (of some node, on layer) with the heuristic
// selection from cands (distinct, sorted by distance to the node; they include
// the current entries). On layer 0 it keeps the in-degree counters, and keeps
// a node that would lose its last in-edge: appended when there is room, else
// in place of a selected node that has another in-edge.
// REQUIRES: the stripe of the list's node held, or g.mu held exclusively.
func (g *Graph) setListLocked(s *scratch, l []uint32, layer int, cands []vec.Neighbor) {
	c := g.capOf(layer)
	sel := g.heuristic(cands, c, s.shrink[:0])
	if layer != 0 {
		s.shrink = sel
		writeList(l, sel)
		return
	}
	old := l[1 : 1+l[0]]
	if cap(s.prot) < c {
		s.prot = make([]bool, c)
	}
	prot := s.prot[:c]
	clear(prot)
	for _, x := range sel {
		if !slices.Contains(old, x.Slot) {
			g.indeg(x.Slot).Add(1)
		}
	}
	// The candidates the heuristic dropped, fixed before the loop below
	// changes sel: a selected node displaced there (its edge given up, its
	// count already taken back) must not be visited again as a dropped
	// candidate, which would take its count back a second time.
	drop := s.drop[:0]
	for _, p := range cands {
		if !slices.ContainsFunc(sel, func(x vec.Neighbor) bool { return x.Slot == p.Slot }) {
			drop = append(drop, p)
		}
	}
	s.drop = drop
	for _, p := range drop {
		in := g.indeg(p.Slot)
		if slices.Contains(old, p.Slot) {
			if n := in.Add(-1); n > 0 {
				g.noteIn(p.Slot, n)
				continue // it has another in-edge
			}
		} else if in.Load() > 0 {
			continue
		}
		// p would be left without in-edges: keep it.
		if len(sel) < c {
			prot[len(sel)] = true
			sel = append(sel, p)
			in.Add(1)
			continue
		}
		for j := len(sel) - 1; j >= 0; j-- {
			if prot[j] {
				continue
			}
			v := g.indeg(sel[j].Slot)
			if n := v.Add(-1); n > 0 {
				g.noteIn(sel[j].Slot, n)
				sel[j], prot[j] = p, true
				in.Add(1)
				break
			}
			v.Add(1)
		}
	}
	s.shrink = sel
	writeList(l, sel)
}

package hnsw

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sextantdb/sextant/internal/invariants"
	"github.com/sextantdb/sextant/internal/vec"
)

// Repair removes the tombstoned nodes from the graph and returns their slots,
// ascending, now free for Insert (the vectors may be overwritten once Repair
// returns). The nodes removed are those tombstoned when it starts; a node
// deleted while it runs stays a tombstone for the next Repair.
//
// Every node with an edge to a tombstoned node re-selects its neighbours on
// that layer with the heuristic, from its live neighbours plus the live
// neighbours of its tombstoned neighbours (and, when those are too few, one
// hop further through tombstones; a node left with no candidate at all is
// relinked by a search from the entry point). The entry point moves to a
// node of the highest level that stays.
//
// Repair runs in three passes, and only the second holds the graph
// exclusively, for work local to what changed:
//
//  1. With the graph shared, a batch of slots at a time: it notes the
//     tombstoned nodes (the set it removes) and re-selects each affected
//     list under its node's stripe lock, as Insert writes lists. The
//     distance computations, O(affected nodes × M × efConstruction), and
//     the one read of every list run while Search, Insert and Delete go on.
//     Lists written meanwhile (by a concurrent Insert or Reinforce, which
//     may link a tombstone) are noted as they are written.
//  2. Exclusively (Search, Insert, Delete wait): the lists noted in the
//     first pass (written meanwhile, or left with no candidate) are
//     repaired again and the nodes with no candidate relinked; the entry
//     point moves if it is removed. Its cost is O(lists noted), not
//     O(nodes): with no Insert beside Repair (the engine's indexer runs
//     both), it is a few microseconds.
//  3. With the graph shared again: no list reaches the removed nodes any
//     more, so nothing else can (every walk starts at the entry point); their
//     edges are unlinked, their storage freed. Then Reconnect (shared walk;
//     exclusive only to link in the few nodes the removal cut off).
//
// Concurrent Repairs are not allowed.
func (g *Graph) Repair() []uint32 {
	if g.tombs.Load() == 0 {
		return nil
	}
	g.dirty.Lock()
	g.dirty.slots = g.dirty.slots[:0]
	g.dirty.Unlock()
	g.repairing.Store(true)
	p := g.prerepair()
	if len(p.dead) == 0 {
		g.repairing.Store(false)
		return nil
	}

	// Pass 2, exclusive.
	g.mu.Lock()
	start := time.Now()
	g.repairing.Store(false)
	g.dirty.Lock()
	dirty := g.dirty.slots
	g.dirty.slots = nil
	g.dirty.Unlock()
	s := g.scratchs.get(g.capacity())
	if ep, _, ok := g.entry(); ok && p.isDead(ep) {
		if g.nodes.Load() != p.nodes {
			p.newEP, p.top = g.highestStaying(p) // an Insert ran meanwhile
		}
		if p.top < 0 {
			g.ep.Store(0)
		} else {
			g.ep.Store(packEntry(p.newEP, p.top))
		}
	}
	// The lists left with no candidate, then those written meanwhile. A
	// list with no candidate even now is emptied, and its node relinked.
	slices.Sort(dirty)
	dirty = slices.Compact(dirty)
	for _, slot := range dirty {
		if st := g.stateOf(slot); st&statePresent != 0 && !p.isDead(slot) {
			for l := levelOf(st); l >= 0; l-- {
				p.orphans = append(p.orphans, orphan{slot, l})
			}
		}
	}
	_, _, hasEP := g.entry()
	for _, o := range p.orphans {
		if g.hasDeadLink(o.slot, o.layer) && !g.repairList(s, o.slot, o.layer, false) && hasEP {
			g.relink(s, o.slot, o.layer)
		}
	}
	g.scratchs.put(s)
	pause := time.Since(start)
	g.mu.Unlock()

	// Pass 3, shared: nothing reaches the removed nodes now.
	g.mu.RLock()
	for _, d := range p.dead {
		for _, nb := range listEntries(g.list(d, 0)) {
			if n := g.indeg(nb).Add(-1); !p.isDead(nb) {
				g.noteIn(nb, n)
			}
		}
	}
	for _, d := range p.dead {
		c := (*g.chunks.Load())[d>>nodeShift]
		i := d & (nodeChunk - 1)
		c.indeg[i].Store(0)
		if lv := levelOf(c.state[i].Load()); lv > 0 {
			g.freeUpper(c.upper[i], lv)
		}
		c.upper[i] = noUpper
		atomic.StoreUint32(&g.list(d, 0)[0], 0)
		c.state[i].Store(0)
	}
	g.nodes.Add(-int64(len(p.dead)))
	g.tombs.Add(-int64(len(p.dead)))
	g.mu.RUnlock()
	_, held := g.reconnect()
	g.pause.Store(int64(pause + held))
	if invariants.Enabled {
		g.mu.Lock()
		// Structure only: an Insert since Reconnect's last walk may have
		// cut a node off (Reconnect's next call links it).
		g.checkInvariantsLocked("Repair", false)
		g.mu.Unlock()
	}
	return p.dead
}

// repairPlan is what the shared first pass of Repair found.
type repairPlan struct {
	dead    []uint32 // the tombstoned nodes it removes, ascending
	deadSet []uint64 // dead as a bitset over slots
	orphans []orphan // lists it left: no live candidate
	nodes   int64    // g.nodes when it chose newEP
	newEP   uint32   // a node of the highest level that stays, live if one is
	top     int      // its level; -1 when no node stays
}

func (p *repairPlan) isDead(slot uint32) bool {
	w := int(slot >> 6)
	return w < len(p.deadSet) && p.deadSet[w]&(1<<(slot&63)) != 0
}

// highestStaying returns a node of the highest level among those Repair
// keeps (a live one when the level has one), and that level; -1 when none.
// REQUIRES: g.mu held.
func (g *Graph) highestStaying(p *repairPlan) (uint32, int) {
	top, ep, live := -1, uint32(0), false
	for slot := uint32(0); int(slot) < g.capacity(); slot++ {
		st := g.stateOf(slot)
		if st&statePresent == 0 || p.isDead(slot) {
			continue
		}
		lv, isLive := levelOf(st), st&stateDeleted == 0
		if lv > top || lv == top && isLive && !live {
			top, ep, live = lv, slot, isLive
		}
	}
	return ep, top
}

// noteDirty records that slot's lists were written while a Repair runs (its
// first pass may have read them before). Writers of lists outside an
// exclusive hold call it after the write, with the node's stripe held.
func (g *Graph) noteDirty(slot uint32) {
	if !g.repairing.Load() {
		return
	}
	g.dirty.Lock()
	g.dirty.slots = append(g.dirty.slots, slot)
	g.dirty.Unlock()
}

// checkInvariantsLocked runs the graph checker when invariants are compiled in
// (the invariants and race tags), and panics if the graph is broken; with
// reach it also walks for unreachable nodes. It is called at the end of
// Repair (structure only) and when Reconnect relinked with the walk in its
// exclusive hold (the graph whole). Its cost is Check's, O(nodes × M) with
// the graph held exclusively.
// REQUIRES: g.mu held exclusively.
func (g *Graph) checkInvariantsLocked(op string, reach bool) {
	if !invariants.Enabled {
		return
	}
	if err := g.checkLocked(reach); err != nil {
		panic(fmt.Sprintf("BUG: hnsw: graph broken after %s: %v", op, err))
	}
}

// LastRepairPause returns how long the last Repair held the graph
// exclusively (its second pass): the time Search, Insert and Delete waited.
func (g *Graph) LastRepairPause() time.Duration { return time.Duration(g.pause.Load()) }

// repairBatch is how many slots the shared pass of Repair looks through per
// hold of the graph's read lock, so that a goroutine waiting to hold the
// graph exclusively (AppendBinary, Check, Reconnect) gets it between batches.
const repairBatch = 512

// repairBatchHook, when set (tests), runs at the end of each batch of the
// shared pass of Repair, with the graph's read lock held.
var repairBatchHook func()

// prerepair is the shared first pass of Repair (see there).
func (g *Graph) prerepair() *repairPlan {
	p := &repairPlan{top: -1}
	g.mu.RLock()
	p.nodes = g.nodes.Load() // before the scan: an Insert during it changes it
	capN := g.capacity()
	p.deadSet = make([]uint64, (capN+63)/64)
	for slot := uint32(0); int(slot) < capN; slot++ {
		st := g.stateOf(slot)
		switch {
		case st&statePresent == 0:
		case st&stateDeleted != 0:
			p.dead = append(p.dead, slot)
			p.deadSet[slot>>6] |= 1 << (slot & 63)
		case levelOf(st) > p.top:
			p.top, p.newEP = levelOf(st), slot
		}
	}
	g.mu.RUnlock()
	if len(p.dead) == 0 {
		return p
	}
	for start := 0; ; start += repairBatch {
		g.mu.RLock()
		capN := g.capacity()
		if start >= capN {
			g.mu.RUnlock()
			return p
		}
		s := g.scratchs.get(capN)
		for slot := uint32(start); int(slot) < min(start+repairBatch, capN); slot++ {
			st := g.stateOf(slot)
			if st&statePresent == 0 || p.isDead(slot) {
				continue // (a node deleted since is repaired like a live one)
			}
			mu := g.stripe(slot)
			mu.Lock()
			for l := levelOf(st); l >= 0; l-- {
				if g.hasDeadLink(slot, l) && !g.repairList(s, slot, l, true) {
					p.orphans = append(p.orphans, orphan{slot, l})
				}
			}
			mu.Unlock()
		}
		if repairBatchHook != nil {
			repairBatchHook()
		}
		g.scratchs.put(s)
		g.mu.RUnlock()
	}
}

// listEntries returns the entries of list l as its count says, the count
// read atomically and capped at the list's capacity.
func listEntries(l []uint32) []uint32 {
	return l[1 : 1+min(int(atomic.LoadUint32(&l[0])), len(l)-1)]
}

// rewriteLocked replaces list l on layer with sel, keeping the in-degree
// counters of layer 0.
// REQUIRES: g.mu held exclusively.
func (g *Graph) rewriteLocked(l []uint32, layer int, sel []vec.Neighbor) {
	if layer == 0 {
		for _, nb := range l[1 : 1+l[0]] {
			g.indeg(nb).Add(-1)
		}
		for _, nb := range sel {
			g.indeg(nb.Slot).Add(1)
		}
		for _, nb := range l[1 : 1+l[0]] {
			g.noteIn(nb, g.indeg(nb).Load())
		}
	}
	writeList(l, sel)
}

// Reconnect makes every live node reachable from the entry point on layer 0
// again and returns how many nodes it linked back. Concurrent Inserts can,
// rarely, leave a few nodes whose only in-edges come from each other (a
// shrink drops an edge into a node whose other in-edges come from nodes
// inserted at the same time), and Repair can cut a node off when it removes
// the nodes that linked to it; the engine calls Reconnect after a build,
// after batches of inserts, and Repair calls it. It looks for unreachable
// nodes with the graph shared (a walk of layer 0 from the entry point,
// O(nodes + edges), no distance computed), and only when it finds some
// takes the graph exclusively, to link each of them in from its nearest
// reachable nodes: O(those nodes), the walk's marks reused. Inserts between
// the walk and the exclusive hold can leave a node unreachable still, so it
// walks again; after reconnectRounds such rounds it relinks with a walk
// inside the exclusive hold.
func (g *Graph) Reconnect() int {
	n, _ := g.reconnect()
	return n
}

// reconnectRounds is how many times Reconnect links in the nodes its shared
// walk found unreachable before it walks with the graph held exclusively.
const reconnectRounds = 3

// reconnect is Reconnect; it also returns how long it held the graph
// exclusively.
func (g *Graph) reconnect() (linked int, held time.Duration) {
	for round := 0; ; round++ {
		g.mu.RLock()
		ep, _, ok := g.entry()
		if !ok {
			g.mu.RUnlock()
			return linked, held
		}
		reach := g.scratchs.get(g.capacity())
		un := g.unreachableSlots(reach, ep) // (nodes being inserted count too)
		var plan [][]vec.Neighbor
		if len(un) > 0 && round < reconnectRounds {
			plan = g.planLinks(reach, un)
		}
		g.mu.RUnlock()
		if len(un) == 0 {
			g.scratchs.put(reach)
			return linked, held
		}
		g.mu.Lock()
		start := time.Now()
		if round < reconnectRounds {
			linked += g.linkInLocked(reach, un, plan)
		} else {
			linked += g.reconnectLocked()
			g.checkInvariantsLocked("Reconnect", true)
		}
		held += time.Since(start)
		g.mu.Unlock()
		g.scratchs.put(reach)
		if round >= reconnectRounds {
			return linked, held
		}
	}
}

// planLinks returns, for each node of un, the reachable nodes nearest it
// (nearReachable; up to planLinksCap of them), so that the distance
// computations run with the graph shared and the exclusive hold only adds
// edges.
// REQUIRES: g.mu held (shared); reach marks the nodes reachable from the
// entry point.
func (g *Graph) planLinks(reach *scratch, un []uint32) [][]vec.Neighbor {
	ep, top, ok := g.entry()
	if !ok {
		return nil
	}
	s := g.scratchs.get(g.capacity())
	defer g.scratchs.put(s)
	plan := make([][]vec.Neighbor, len(un))
	for i, slot := range un {
		c := g.nearReachable(s, reach, slot, ep, top)
		plan[i] = slices.Clone(c[:min(len(c), planLinksCap)])
	}
	return plan
}

// planLinksCap is how many candidates planLinks keeps per node: the first
// with room takes the edge, and nodes near a cut-off node rarely are all
// full.
const planLinksCap = 16

// linkInLocked links in the nodes of un not reachable from the entry point
// on layer 0, reach holding the marks of a walk from it (taken with the
// graph shared: the nodes reachable then are taken as reachable still, and
// a node it links in marks what it reaches), from the candidates plan holds
// for each (planLinks), or from a search when none of them will do. It
// returns how many it linked.
// REQUIRES: g.mu held exclusively.
func (g *Graph) linkInLocked(reach *scratch, un []uint32, plan [][]vec.Neighbor) int {
	ep, top, ok := g.entry()
	if !ok {
		return 0
	}
	capN := g.capacity()
	reach.extend(capN)
	s := g.scratchs.get(capN)
	defer g.scratchs.put(s)
	n := 0
	for i, slot := range un {
		if !g.Contains(slot) || reach.visited[slot] == reach.epoch {
			continue
		}
		if g.linkFromLocked(slot, plan[i]) || g.connectLocked(s, reach, slot, ep, top) {
			n++
			g.markFrom(reach, slot)
		}
	}
	return n
}

// markFrom marks in reach the nodes reachable on layer 0 from slot that are
// not marked yet (a depth-first walk that stops at marked nodes).
// REQUIRES: g.mu held exclusively.
func (g *Graph) markFrom(reach *scratch, from uint32) {
	if !reach.visit(from) {
		return
	}
	stack := append(reach.stack[:0], from)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		l := g.list(x, 0)
		for _, nb := range l[1 : 1+l[0]] {
			if reach.visit(nb) {
				stack = append(stack, nb)
			}
		}
	}
	reach.stack = stack
}

// reconnectLocked makes every live node reachable from the entry point on
// layer 0 and returns how many nodes it linked: each unreachable node gets an
// in-edge from a near node reachable from the entry point that has room (or,
// failing that, in place of a neighbour that has another in-edge, which the
// next pass relinks if that left it unreachable); passes repeat until all are
// reachable.
// REQUIRES: g.mu held exclusively.
func (g *Graph) reconnectLocked() int {
	ep, top, ok := g.entry()
	if !ok {
		return 0
	}
	capN := g.capacity()
	reach := g.scratchs.get(capN)
	defer g.scratchs.put(reach)
	s := g.scratchs.get(capN)
	defer g.scratchs.put(s)
	mark := func(from uint32) { g.markFrom(reach, from) }
	total := 0
	for pass := 0; pass < 64; pass++ {
		reach.reset(0)
		mark(ep)
		fixed := 0
		for slot := uint32(0); int(slot) < capN; slot++ {
			if !g.Contains(slot) || reach.visited[slot] == reach.epoch {
				continue
			}
			if g.connectLocked(s, reach, slot, ep, top) {
				fixed++
				mark(slot)
			}
		}
		total += fixed
		if fixed == 0 {
			break
		}
	}
	return total
}

// connectLocked adds an edge to slot from a node near it that is reachable
// from ep on layer 0 (reach marks the reachable nodes), and reports whether it
// did. The search runs on layer 0 from a reachable start, so every node it
// finds is reachable.
// REQUIRES: g.mu held exclusively.
func (g *Graph) connectLocked(s, reach *scratch, slot, ep uint32, top int) bool {
	return g.linkFromLocked(slot, g.nearReachable(s, reach, slot, ep, top))
}

// nearReachable returns the nodes nearest slot found by a search of layer 0
// from a node reachable from ep (reach marks the reachable nodes), nearest
// first, in s's memory: every node it finds is reachable.
// REQUIRES: g.mu held (shared or exclusively).
func (g *Graph) nearReachable(s, reach *scratch, slot, ep uint32, top int) []vec.Neighbor {
	sc := s.sc
	sc.SetNode(slot)
	var st SearchStats
	cur := vec.Neighbor{Slot: ep, Dist: sc.Dist(ep)}
	for l := top; l > 0; l-- {
		cur = g.greedy(s, sc, cur, l, &st)
	}
	if cur.Slot == slot || int(cur.Slot) >= len(reach.visited) || reach.visited[cur.Slot] != reach.epoch {
		// The descent ended outside the reachable part: start from ep.
		cur = vec.Neighbor{Slot: ep, Dist: sc.Dist(ep)}
	}
	s.reset(0)
	s.visit(slot)
	return g.searchLayer(s, sc, cur, g.efC, g.efC, 0, true, nil, &st)
}

// linkFromLocked adds an edge to slot from the first of cands that has room
// on layer 0 (or, failing that, in place of a neighbour that has another
// in-edge), and reports whether slot is linked from one of them now.
// REQUIRES: g.mu held exclusively.
func (g *Graph) linkFromLocked(slot uint32, cands []vec.Neighbor) bool {
	present := func(x uint32) bool { return int(x) < g.capacity() && g.stateOf(x)&statePresent != 0 }
	for _, r := range cands {
		// A walk's marks taken with the graph shared may be stale: an
		// Insert finished since may have linked slot from a reachable node.
		if l := g.list(r.Slot, 0); present(r.Slot) && slices.Contains(l[1:1+l[0]], slot) {
			return true
		}
	}
	for _, r := range cands {
		l := g.list(r.Slot, 0)
		if n := int(l[0]); present(r.Slot) && n < g.m0 {
			atomic.StoreUint32(&l[1+n], slot)
			atomic.StoreUint32(&l[0], uint32(n+1))
			g.indeg(slot).Add(1)
			return true
		}
	}
	for _, r := range cands {
		if !present(r.Slot) {
			continue
		}
		l := g.list(r.Slot, 0)
		for i := int(l[0]); i >= 1; i-- {
			if v := g.indeg(l[i]); v.Load() > 1 {
				g.noteIn(l[i], v.Add(-1))
				atomic.StoreUint32(&l[i], slot)
				g.indeg(slot).Add(1)
				return true
			}
		}
	}
	return false
}

type orphan struct {
	slot  uint32
	layer int
}

// hasDeadLink reports whether slot has an edge to a tombstoned node on layer.
// REQUIRES: the stripe of slot held, or g.mu held exclusively.
func (g *Graph) hasDeadLink(slot uint32, layer int) bool {
	for _, nb := range listEntries(g.list(slot, layer)) {
		if g.stateOf(nb)&stateDeleted != 0 {
			return true
		}
	}
	return false
}

// repairList re-selects the neighbours of slot on layer from its live
// neighbours and the live neighbours of its tombstoned neighbours. It reports
// false when no candidate was found: the list is then emptied, or left as it
// was when shared (the exclusive pass relinks the node).
// REQUIRES: g.mu held exclusively; or, when shared, g.mu held shared and the
// stripe of slot held (other nodes' lists may change meanwhile: they are
// read with atomic loads).
func (g *Graph) repairList(s *scratch, slot uint32, layer int, shared bool) bool {
	s.reset(0)
	s.visit(slot)
	cands := s.tmp[:0]
	var deadNbs []uint32 // tombstoned nodes met at distance 2, for the second hop
	add := func(x uint32) {
		if s.visit(x) {
			cands = append(cands, vec.Neighbor{Slot: x}) // scored below
		}
	}
	l := g.list(slot, layer)
	for _, nb := range listEntries(l) {
		if g.Contains(nb) {
			add(nb)
			continue
		}
		l2 := listEntries(g.list(nb, layer))
		for i := range l2 {
			if nb2 := atomic.LoadUint32(&l2[i]); g.Contains(nb2) {
				add(nb2)
			} else if nb2 != slot {
				deadNbs = append(deadNbs, nb2)
			}
		}
	}
	c := g.capOf(layer)
	if len(cands) < c {
		for _, d := range deadNbs {
			l3 := listEntries(g.list(d, layer))
			for i := range l3 {
				if nb3 := atomic.LoadUint32(&l3[i]); g.Contains(nb3) {
					add(nb3)
				}
			}
		}
	}
	s.aux.SetNode(slot)
	s.aux.Score(cands)
	slices.SortFunc(cands, cmpNeighbor)
	if len(cands) > g.efC {
		cands = cands[:g.efC]
	}
	s.tmp = cands
	s.sel = g.heuristic(cands, c, s.sel[:0])
	if len(s.sel) == 0 && shared {
		return false
	}
	g.rewriteLocked(l, layer, s.sel)
	return len(s.sel) > 0
}

// relink gives slot neighbours on layer by a search from the entry point,
// and adds the reverse edges.
// REQUIRES: g.mu held exclusively.
func (g *Graph) relink(s *scratch, slot uint32, layer int) {
	epSlot, top, _ := g.entry()
	if epSlot == slot {
		return
	}
	sc := s.sc
	sc.SetNode(slot)
	var st SearchStats
	cur := vec.Neighbor{Slot: epSlot, Dist: sc.Dist(epSlot)}
	for l := top; l > layer; l-- {
		cur = g.greedy(s, sc, cur, l, &st)
	}
	s.reset(0)
	s.visit(slot) // never a result of its own search
	cands := g.searchLayer(s, sc, cur, g.efC, g.efC, layer, false, nil, &st)
	cands = slices.DeleteFunc(cands, func(n vec.Neighbor) bool { return n.Slot == slot })
	s.sel = g.heuristic(cands, g.m, s.sel[:0])
	g.rewriteLocked(g.list(slot, layer), layer, s.sel)
	sel := slices.Clone(s.sel)
	for _, nb := range sel {
		g.addLink(s, nb.Slot, slot, nb.Dist, layer)
	}
}

// minInDegree is the number of layer-0 in-edges from its nearest nodes that
// Reinforce gives a node left with fewer in-edges. Such a node (the
// heuristic pruned the others because a closer node "covers" it, but that
// node was inserted at the same time and does not link to it) is found only
// through the neighbour that still links to it.
const minInDegree = 2

// Reinforce gives every live node with fewer than minInDegree layer-0
// in-edges edges from its nearest nodes: it searches for the node as Insert
// does and walks the results nearest first until minInDegree of them link to
// it, adding the edge where a list has room. It never removes an edge, so the
// heuristic's choices stand. It returns how many edges it added. Parallel
// builds of glove-twitter-25 (10 builds, 1,000 queries, ef 320, several
// measurements) missed 7-10 true neighbours without it, 1-2 with it, for
// 0.1 ms per build; a fashion-mnist-784 build through the engine (10
// batches, ~400 weak nodes met on the way) takes ~1% longer (median of 4
// alternated: 0.505 vs 0.500 s). What it leaves: small "islands" (a few
// nodes inserted together that link mostly to each other, out-degree 3-4),
// which have enough in-edges, but from each other; also relinking nodes of
// out-degree <= M/4 missed none on glove but cost 181 ms per fashion build.
// It looks only at the nodes queued since the last call (Insert, shrinks,
// Repair and Reconnect queue a node whose in-degree falls below
// minInDegree), so a call after a batch costs O(queued), not O(nodes). It
// runs with the graph shared on up to workers goroutines, like Insert
// (searches go on meanwhile); the engine calls it after each batch of
// inserts and before a built graph serves.
func (g *Graph) Reinforce(workers int) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.weak.Lock()
	queued := g.weak.slots
	g.weak.slots = nil
	g.weak.Unlock()
	ep, top, ok := g.entry()
	var weak []uint32
	for _, slot := range queued {
		// Unqueue first: an in-degree that falls again queues it again.
		st := g.stateRef(slot)
		for {
			old := st.Load()
			if st.CompareAndSwap(old, old&^stateWeak) {
				break
			}
		}
		if g.Contains(slot) && g.indeg(slot).Load() < minInDegree {
			weak = append(weak, slot)
		}
	}
	if !ok || len(weak) == 0 {
		return 0
	}
	capN := g.capacity()
	var next, added atomic.Int64
	work := func() {
		s := g.scratchs.get(capN)
		defer g.scratchs.put(s)
		for {
			i := int(next.Add(1)) - 1
			if i >= len(weak) {
				return
			}
			added.Add(int64(g.reinforce(s, weak[i], ep, top)))
		}
	}
	var wg sync.WaitGroup
	for range max(1, min(workers, len(weak)/16)) {
		wg.Go(work)
	}
	wg.Wait()
	return int(added.Load())
}

// reinforce walks the nearest nodes of slot until minInDegree of them link to
// it, adding the edges that fit; it returns how many it added. The search
// runs with ef = 2M (the layer-0 cap), not efConstruction: only the nearest
// few are needed. (Trying slot's own neighbours first was measured useless:
// a weak node's own list is short too; 12 of 393 weak nodes in a
// fashion-mnist-784 build were settled that way.)
// REQUIRES: g.mu held (shared).
func (g *Graph) reinforce(s *scratch, slot, ep uint32, top int) int {
	sc := s.sc
	sc.SetNode(slot)
	var st SearchStats
	cur := vec.Neighbor{Slot: ep, Dist: sc.Dist(ep)}
	for l := top; l > 0; l-- {
		cur = g.greedy(s, sc, cur, l, &st)
	}
	s.reset(0)
	s.visit(slot)
	return g.linkFrom(slot, g.searchLayer(s, sc, cur, g.m0, g.m0, 0, true, nil, &st))
}

// linkFrom walks cands (nearest first) until minInDegree of them link to
// slot, adding the edge where a list has room; it returns the edges added.
// REQUIRES: g.mu held (shared).
func (g *Graph) linkFrom(slot uint32, cands []vec.Neighbor) (added int) {
	linked := 0
	for _, c := range cands {
		if linked >= minInDegree {
			break
		}
		if c.Slot == slot || !g.Contains(c.Slot) {
			continue // the descent may end at slot itself
		}
		mu := g.stripe(c.Slot)
		mu.Lock()
		l := g.list0(c.Slot)
		switch n := int(l[0]); {
		case slices.Contains(l[1:1+n], slot):
			linked++
		case n < g.m0:
			atomic.StoreUint32(&l[1+n], slot)
			atomic.StoreUint32(&l[0], uint32(n+1))
			g.indeg(slot).Add(1)
			g.noteDirty(c.Slot) // (slot may have been deleted since it was queued)
			added++
			linked++
		}
		mu.Unlock()
	}
	return added
}

package hnsw

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Check verifies the graph's invariants and returns an error describing the
// first problems found: degree within the cap of each layer, no edge to an
// absent node, to a node below that layer or to itself, no duplicate edges,
// node levels and upper-layer storage consistent, counters consistent, the
// entry point present and on the top level, and every live node reachable
// from the entry point on layer 0. It holds the graph exclusively.
func (g *Graph) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checkLocked(true)
}

// CheckStructure is Check without the walk for unreachable nodes: what
// holds between the engine's batches of inserts and their walk (Reconnect).
func (g *Graph) CheckStructure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checkLocked(false)
}

// checkLocked is Check; without reach it leaves out the walk for unreachable
// nodes.
// REQUIRES: g.mu held exclusively.
func (g *Graph) checkLocked(reach bool) error {
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	capN := g.capacity()
	s := g.scratchs.get(capN)
	defer g.scratchs.put(s)
	var nodes, tombs int64
	maxLv := -1
	for slot := uint32(0); int(slot) < capN; slot++ {
		st := g.stateOf(slot)
		c := (*g.chunks.Load())[slot>>nodeShift]
		if st&statePresent == 0 {
			if st != 0 {
				fail("slot %d: absent with state %#x", slot, st)
			}
			if c.upper[slot&(nodeChunk-1)] != noUpper {
				fail("slot %d: absent but holds upper-layer storage", slot)
			}
			continue
		}
		nodes++
		if st&stateDeleted != 0 {
			tombs++
		}
		lv := levelOf(st)
		maxLv = max(maxLv, lv)
		if (lv > 0) != (c.upper[slot&(nodeChunk-1)] != noUpper) {
			fail("slot %d: level %d inconsistent with upper-layer storage", slot, lv)
			continue
		}
		for l := 0; l <= lv; l++ {
			list := g.list(slot, l)
			n := int(list[0])
			if n > g.capOf(l) {
				fail("slot %d layer %d: degree %d > cap %d", slot, l, n, g.capOf(l))
				continue
			}
			s.reset(0)
			for _, nb := range list[1 : 1+n] {
				switch {
				case nb == slot:
					fail("slot %d layer %d: edge to itself", slot, l)
				case int(nb) >= capN || g.stateOf(nb)&statePresent == 0:
					fail("slot %d layer %d: edge to absent node %d", slot, l, nb)
				case levelOf(g.stateOf(nb)) < l:
					fail("slot %d layer %d: edge to node %d of level %d", slot, l, nb, levelOf(g.stateOf(nb)))
				case !s.visit(nb):
					fail("slot %d layer %d: duplicate edge to %d", slot, l, nb)
				}
			}
		}
	}
	if len(errs) == 0 {
		counts := make([]int32, capN)
		for slot := uint32(0); int(slot) < capN; slot++ {
			if g.stateOf(slot)&statePresent != 0 {
				l := g.list(slot, 0)
				for _, nb := range l[1 : 1+l[0]] {
					counts[nb]++
				}
			}
		}
		for slot, want := range counts {
			if got := g.indeg(uint32(slot)).Load(); got != want {
				fail("slot %d: in-degree counter %d, counted %d", slot, got, want)
				break
			}
		}
	}
	if nodes != g.nodes.Load() || tombs != g.tombs.Load() {
		fail("counters: %d nodes %d tombstones, counted %d and %d", g.nodes.Load(), g.tombs.Load(), nodes, tombs)
	}
	ep, top, ok := g.entry()
	switch {
	case !ok && nodes > 0:
		fail("no entry point with %d nodes", nodes)
	case ok && nodes == 0:
		fail("entry point %d in an empty graph", ep)
	case ok && (int(ep) >= capN || g.stateOf(ep)&statePresent == 0):
		fail("entry point %d absent", ep)
	case ok && (levelOf(g.stateOf(ep)) != top || top != maxLv):
		fail("entry point %d: level %d, graph top %d, highest node level %d", ep, levelOf(g.stateOf(ep)), top, maxLv)
	case ok && reach:
		if un := g.unreachable(s, ep); un > 0 {
			fail("%d live nodes unreachable from the entry point on layer 0", un)
		}
	}
	return errors.Join(errs...)
}

// unreachable counts the live nodes not reachable from ep on layer 0 (see
// unreachableSlots).
func (g *Graph) unreachable(s *scratch, ep uint32) int { return len(g.unreachableSlots(s, ep)) }

// unreachableSlots returns the live nodes not reachable from ep on layer 0,
// ascending, and leaves the reachable ones marked in s. It reads the lists
// with atomics, so it may run with the graph shared; nodes being inserted
// meanwhile may then count as unreachable.
// REQUIRES: g.mu held (shared or exclusively); ep valid.
func (g *Graph) unreachableSlots(s *scratch, ep uint32) []uint32 {
	s.reset(0)
	s.visit(ep)
	stack := s.stack[:0]
	stack = append(stack, ep)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		l := g.list(x, 0)
		n := min(int(atomic.LoadUint32(&l[0])), len(l)-1)
		for i := 1; i <= n; i++ {
			if nb := atomic.LoadUint32(&l[i]); s.visit(nb) {
				stack = append(stack, nb)
			}
		}
	}
	s.stack = stack
	var un []uint32
	for slot := uint32(0); int(slot) < g.capacity(); slot++ {
		if g.Contains(slot) && (int(slot) >= len(s.visited) || s.visited[slot] != s.epoch) {
			un = append(un, slot)
		}
	}
	return un
}

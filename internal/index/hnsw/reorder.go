package hnsw

import (
	"math"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

// NoSlot marks, in the mapping Reorder returns, an old slot that held no node.
const NoSlot = math.MaxUint32

// Reorder returns a copy of g with its nodes renumbered in breadth-first order
// of layer 0 from the entry point (nodes it does not reach follow, in slot
// order), over dst, into which it copies their vectors; and the mapping
// perm[old slot] = new slot (NoSlot where old held no node). Nodes that are
// near in the graph then sit near in memory, so a search touches fewer pages
// and cache lines. The new slots are 0..nodes-1. g is left as it was; the
// caller switches to the copy and renumbers its own slot references with
// perm. Reorder takes g exclusively, as AppendBinary does. g's space must be
// float32 (score.F32); ReorderWith serves any space.
func (g *Graph) Reorder(dst *vec.Slab) (*Graph, []uint32) {
	f, ok := g.space.(*score.F32)
	if !ok {
		panic("BUG: hnsw: Reorder of a graph over a space that is not score.F32 (use ReorderWith)")
	}
	src := f.Slab()
	dst.Grow(int(g.nodes.Load()))
	return g.ReorderWith(score.NewF32(dst, g.cfg.Metric), func(to, from uint32) {
		dst.Set(to, src.At(from))
	})
}

// ReorderWith is Reorder over any space: the copy is over dst, and move(to,
// from) copies the representation of old slot from into new slot to of dst
// (it is called once per node, with to ascending from 0).
func (g *Graph) ReorderWith(dst score.Space, move func(to, from uint32)) (*Graph, []uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0 // slots with storage that may hold a node: up to the last node
	for slot := g.capacity() - 1; slot >= 0; slot-- {
		if g.stateOf(uint32(slot))&statePresent != 0 {
			n = slot + 1
			break
		}
	}
	perm := make([]uint32, n)
	for i := range perm {
		perm[i] = NoSlot
	}
	order := make([]uint32, 0, g.nodes.Load())
	if epSlot, _, ok := g.entry(); ok {
		perm[epSlot] = 0
		order = append(order, epSlot)
		for head := 0; head < len(order); head++ {
			l := g.list(order[head], 0)
			for _, nb := range l[1 : 1+l[0]] {
				if perm[nb] == NoSlot {
					perm[nb] = uint32(len(order))
					order = append(order, nb)
				}
			}
		}
	}
	for slot := range n {
		if perm[slot] == NoSlot && g.stateOf(uint32(slot))&statePresent != 0 {
			perm[slot] = uint32(len(order))
			order = append(order, uint32(slot))
		}
	}

	h := NewWithSpace(g.cfg, dst)
	h.ensure(len(order))
	for nw, old := range order {
		move(uint32(nw), old)
		st := g.stateOf(old)
		lv := levelOf(st)
		c := (*h.chunks.Load())[nw>>nodeShift]
		c.state[nw&(nodeChunk-1)].Store(st &^ stateWeak) // h's queue starts empty
		c.indeg[nw&(nodeChunk-1)].Store(g.indeg(old).Load())
		if lv > 0 {
			c.upper[nw&(nodeChunk-1)] = h.allocUpper(lv)
		}
		for l := 0; l <= lv; l++ {
			from, to := g.list(old, l), h.list(uint32(nw), l)
			cnt := from[0]
			for i := uint32(1); i <= cnt; i++ {
				to[i] = perm[from[i]]
			}
			atomic.StoreUint32(&to[0], cnt)
		}
	}
	h.nodes.Store(g.nodes.Load())
	h.tombs.Store(g.tombs.Load())
	if epSlot, top, ok := g.entry(); ok {
		h.ep.Store(packEntry(perm[epSlot], top))
	}
	h.queueWeak()
	return h, perm
}

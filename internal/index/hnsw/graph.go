package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

// Config holds the parameters of a graph. M, EfConstruction and Metric are
// fixed for the life of a graph (the engine stores them in its manifest).
type Config struct {
	M              int        // max neighbours per node on layers >= 1; layer 0 keeps 2*M
	EfConstruction int        // breadth of the candidate search during Insert
	Metric         vec.Metric // vec.Cosine assumes every stored vector and query is already unit length
	Seed           uint64     // seeds the level generator (math/rand/v2 PCG)
}

// Defaults used by New for zero fields of Config.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
	// MaxM bounds Config.M so that neighbour counts fit the serialized u16.
	MaxM = 2048
	// maxLevel bounds the level of a node (levels are stored in 5 bits).
	maxLevel = 31
)

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.M == 0 {
		c.M = DefaultM
	}
	if c.EfConstruction == 0 {
		c.EfConstruction = DefaultEfConstruction
	}
	return c
}

// Validate reports whether c (after defaults for zero fields) can build a
// graph. New panics on a config that Validate refuses; callers validate first.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.M < 2 || c.M > MaxM {
		return fmt.Errorf("hnsw: M %d out of range [2, %d]", c.M, MaxM)
	}
	if c.EfConstruction < 1 {
		return fmt.Errorf("hnsw: efConstruction %d must be positive", c.EfConstruction)
	}
	if !c.Metric.Valid() {
		return fmt.Errorf("hnsw: invalid metric %v", c.Metric)
	}
	return nil
}

// Filter restricts Search to the slots it contains. *roaring.Bitmap satisfies it.
type Filter interface{ Contains(slot uint32) bool }

// SearchStats counts the work of one Search.
type SearchStats struct{ DistanceComputations, Visited int }

// Node state bits, kept in one atomic uint32 per slot.
const (
	statePresent = 1 << 0 // slot is a node of the graph
	stateDeleted = 1 << 1 // node is tombstoned (still a waypoint)
	stateWeak    = 1 << 2 // node is queued for Reinforce (g.weak)
	levelShift   = 8      // bits 8..12 hold the node's level
)

// Chunked node storage: growing never moves a node's data, so readers never
// need a lock to find it.
const (
	nodeShift = 10
	nodeChunk = 1 << nodeShift
	// upperShift sizes a chunk of the upper-layer arena in blocks.
	upperShift = 10
	upperChunk = 1 << upperShift
	noUpper    = math.MaxUint32
	// lockStripes is the number of striped mutexes guarding neighbour lists.
	lockStripes = 4096
)

// chunk holds nodeChunk consecutive slots.
type chunk struct {
	// state: statePresent | stateDeleted | stateWeak | level<<levelShift.
	state [nodeChunk]atomic.Uint32
	// upper: first block in the upper-layer arena (layer l >= 1 is block
	// upper+l-1), or noUpper. Written before the node is published.
	upper [nodeChunk]uint32
	// indeg: number of layer-0 edges into the slot. Insert uses it to never
	// prune a node's last in-edge, which would make it unreachable.
	indeg [nodeChunk]atomic.Int32
	// links: layer-0 lists, stride 1+2M: count, then the neighbours.
	links []uint32
}

// Graph is a hierarchical navigable small world graph over the slots of a
// score.Space (the float32 vectors of a vec.Slab, or quantized codes): every
// distance it computes goes through the space and its scorers.
//
// Graph is safe for concurrent use: Insert, Delete, Search and the read-only
// accessors may run at the same time from any goroutines; Check, and the
// short exclusive passes of Repair and Reconnect, take the graph exclusively
// and wait for them. See doc.go for the lock order.
type Graph struct {
	cfg     Config
	m, m0   int // caps on layers >= 1 and on layer 0
	stride0 int // 1 + m0
	strideU int // 1 + m
	mult    float64
	// space holds what the graph scores: each scratch carries two of its
	// scorers, and the list maintenance uses its node-to-node distance.
	space    score.Space
	efC      int
	scratchs scratchPool

	// mu excludes the exclusive passes of Repair and Reconnect (and Check)
	// from everything else: Insert, Search and Delete hold it shared.
	mu sync.RWMutex

	// top serializes inserts that raise the maximum level, so that the new
	// entry point is published only once it is linked.
	top sync.Mutex

	// ep holds the entry point: slot in the low 32 bits, level+1 in the
	// high 32 bits; 0 when the graph is empty.
	ep atomic.Uint64

	chunks      atomic.Pointer[[]*chunk]
	upperChunks atomic.Pointer[[]*[]uint32]

	nodes atomic.Int64 // present nodes, tombstoned included
	tombs atomic.Int64 // tombstoned nodes
	pause atomic.Int64 // nanoseconds the last Repair held the graph exclusively

	// grow guards the growth of chunks and upperChunks and the upper-layer
	// allocator. It is a leaf lock.
	grow struct {
		sync.Mutex
		upperNext uint32     // next never-used block
		free      [][]uint32 // free[L]: starts of free runs of L blocks
		upperUsed int64      // blocks in use
	}

	rng struct {
		sync.Mutex
		r *rand.Rand
	}

	stripes [lockStripes]sync.Mutex

	// weak queues the nodes whose layer-0 in-degree fell below minInDegree
	// (each once: stateWeak marks the queued ones) for Reinforce, so that it
	// does not scan every node after each batch.
	weak struct {
		sync.Mutex
		slots []uint32
	}

	// repairing is set while a Repair's first pass may have read a list
	// before a concurrent writer changed it; dirty collects the nodes whose
	// lists were written meanwhile (noteDirty), which its exclusive pass
	// repairs again.
	repairing atomic.Bool
	dirty     struct {
		sync.Mutex
		slots []uint32
	}
}

// queueWeak queues every live node whose layer-0 in-degree is below
// minInDegree (a graph decoded or renumbered starts with an empty queue).
func (g *Graph) queueWeak() {
	for slot := uint32(0); int(slot) < g.capacity(); slot++ {
		if g.Contains(slot) {
			g.noteIn(slot, g.indeg(slot).Load())
		}
	}
}

// noteIn queues slot for Reinforce when its layer-0 in-degree, just changed
// to in, is below minInDegree and it is not queued yet.
func (g *Graph) noteIn(slot uint32, in int32) {
	if in >= minInDegree {
		return
	}
	st := g.stateRef(slot)
	for {
		old := st.Load()
		if old&statePresent == 0 || old&stateWeak != 0 {
			return
		}
		if st.CompareAndSwap(old, old|stateWeak) {
			break
		}
	}
	g.weak.Lock()
	g.weak.slots = append(g.weak.slots, slot)
	g.weak.Unlock()
}

// New returns an empty graph over the float32 vectors of a slab: NewWithSpace
// with score.NewF32(vectors, cfg.Metric). cfg's zero M and EfConstruction
// take the defaults; New panics if cfg.Validate fails.
func New(cfg Config, vectors *vec.Slab) *Graph {
	if !cfg.Metric.Valid() {
		panic("BUG: hnsw.New with invalid config: " + cfg.Validate().Error())
	}
	return NewWithSpace(cfg, score.NewF32(vectors, cfg.Metric))
}

// NewWithSpace returns an empty graph over the slots of space, whose metric
// must be cfg.Metric. cfg's zero M and EfConstruction take the defaults;
// NewWithSpace panics if cfg.Validate fails or the metrics differ.
func NewWithSpace(cfg Config, space score.Space) *Graph {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		panic("BUG: hnsw.New with invalid config: " + err.Error())
	}
	if space.Metric() != cfg.Metric {
		panic("BUG: hnsw.NewWithSpace: space metric " + space.Metric().String() + ", config metric " + cfg.Metric.String())
	}
	g := &Graph{
		cfg:     cfg,
		m:       cfg.M,
		m0:      2 * cfg.M,
		stride0: 1 + 2*cfg.M,
		strideU: 1 + cfg.M,
		mult:    1 / math.Log(float64(cfg.M)),
		space:   space,
		efC:     max(cfg.EfConstruction, cfg.M),
	}
	g.scratchs.space = space
	g.rng.r = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	empty := []*chunk{}
	g.chunks.Store(&empty)
	emptyU := []*[]uint32{}
	g.upperChunks.Store(&emptyU)
	return g
}

// Config returns the graph's configuration (with defaults filled in).
func (g *Graph) Config() Config { return g.cfg }

// Space returns the space the graph scores.
func (g *Graph) Space() score.Space { return g.space }

// capacity returns the number of slots with allocated node storage.
func (g *Graph) capacity() int { return len(*g.chunks.Load()) << nodeShift }

// ensure makes sure slots [0, n) have node storage.
func (g *Graph) ensure(n int) {
	if n <= g.capacity() {
		return
	}
	g.grow.Lock()
	defer g.grow.Unlock()
	old := *g.chunks.Load()
	need := (n + nodeChunk - 1) >> nodeShift
	if need <= len(old) {
		return
	}
	next := make([]*chunk, need)
	copy(next, old)
	for i := len(old); i < need; i++ {
		c := &chunk{links: make([]uint32, nodeChunk*g.stride0)}
		for j := range c.upper {
			c.upper[j] = noUpper
		}
		next[i] = c
	}
	g.chunks.Store(&next)
}

// stateOf returns the state word of slot, or 0 when slot has no storage.
func (g *Graph) stateOf(slot uint32) uint32 {
	cs := *g.chunks.Load()
	ci := int(slot >> nodeShift)
	if ci >= len(cs) {
		return 0
	}
	return cs[ci].state[slot&(nodeChunk-1)].Load()
}

// stateRef returns the state word of slot, which must have storage.
func (g *Graph) stateRef(slot uint32) *atomic.Uint32 {
	return &(*g.chunks.Load())[slot>>nodeShift].state[slot&(nodeChunk-1)]
}

// indeg returns the layer-0 in-degree counter of slot, which must have storage.
func (g *Graph) indeg(slot uint32) *atomic.Int32 {
	return &(*g.chunks.Load())[slot>>nodeShift].indeg[slot&(nodeChunk-1)]
}

func levelOf(state uint32) int { return int(state>>levelShift) & 31 }

// list returns the neighbour list of slot on layer: element 0 is the count,
// then cap slots. Elements are read and written with atomics; writers hold
// the slot's stripe lock.
func (g *Graph) list(slot uint32, layer int) []uint32 {
	if layer == 0 {
		return g.list0(slot)
	}
	c := (*g.chunks.Load())[slot>>nodeShift]
	b := c.upper[slot&(nodeChunk-1)] + uint32(layer-1)
	uc := *(*g.upperChunks.Load())[b>>upperShift]
	off := int(b&(upperChunk-1)) * g.strideU
	return uc[off : off+g.strideU : off+g.strideU]
}

// list0 is list on layer 0, small enough to inline in the search loop.
func (g *Graph) list0(slot uint32) []uint32 {
	c := (*g.chunks.Load())[slot>>nodeShift]
	off := int(slot&(nodeChunk-1)) * g.stride0
	return c.links[off : off+g.stride0 : off+g.stride0]
}

// capOf returns the neighbour cap on layer.
func (g *Graph) capOf(layer int) int {
	if layer == 0 {
		return g.m0
	}
	return g.m
}

func (g *Graph) stripe(slot uint32) *sync.Mutex { return &g.stripes[slot&(lockStripes-1)] }

// allocUpper reserves a run of n consecutive blocks of the upper arena and
// clears their counts.
func (g *Graph) allocUpper(n int) uint32 {
	g.grow.Lock()
	defer g.grow.Unlock()
	var b uint32
	if n < len(g.grow.free) && len(g.grow.free[n]) > 0 {
		f := g.grow.free[n]
		b = f[len(f)-1]
		g.grow.free[n] = f[:len(f)-1]
	} else {
		if int(g.grow.upperNext&(upperChunk-1))+n > upperChunk {
			g.grow.upperNext = (g.grow.upperNext + upperChunk - 1) &^ (upperChunk - 1)
		}
		b = g.grow.upperNext
		g.grow.upperNext += uint32(n)
		need := int((g.grow.upperNext + upperChunk - 1) >> upperShift)
		old := *g.upperChunks.Load()
		if need > len(old) {
			next := make([]*[]uint32, need)
			copy(next, old)
			for i := len(old); i < need; i++ {
				c := make([]uint32, upperChunk*g.strideU)
				next[i] = &c
			}
			g.upperChunks.Store(&next)
		}
	}
	g.grow.upperUsed += int64(n)
	uc := *(*g.upperChunks.Load())[b>>upperShift]
	for i := 0; i < n; i++ {
		atomic.StoreUint32(&uc[int((b+uint32(i))&(upperChunk-1))*g.strideU], 0)
	}
	return b
}

// freeUpper returns a run of n blocks starting at b to the allocator.
// REQUIRES: g.mu held exclusively.
func (g *Graph) freeUpper(b uint32, n int) {
	for len(g.grow.free) <= n {
		g.grow.free = append(g.grow.free, nil)
	}
	g.grow.free[n] = append(g.grow.free[n], b)
	g.grow.upperUsed -= int64(n)
}

// randomLevel draws a level from the exponential distribution with mean
// 1/ln(M), as hnswlib does.
func (g *Graph) randomLevel() int {
	g.rng.Lock()
	u := g.rng.r.Float64()
	g.rng.Unlock()
	l := int(-math.Log(1-u) * g.mult)
	return min(l, maxLevel)
}

// entry returns the entry point and the top level, ok=false when empty.
func (g *Graph) entry() (slot uint32, level int, ok bool) {
	v := g.ep.Load()
	if v == 0 {
		return 0, 0, false
	}
	return uint32(v), int(v>>32) - 1, true
}

func packEntry(slot uint32, level int) uint64 { return uint64(level+1)<<32 | uint64(slot) }

// Len returns the number of live (non-tombstoned) nodes.
func (g *Graph) Len() int { return int(g.nodes.Load() - g.tombs.Load()) }

// Tombstones returns the number of deleted nodes that Repair has not yet
// removed.
func (g *Graph) Tombstones() int { return int(g.tombs.Load()) }

// Contains reports whether slot is a live node: in the graph and not deleted.
func (g *Graph) Contains(slot uint32) bool {
	return g.stateOf(slot)&(statePresent|stateDeleted) == statePresent
}

// Delete tombstones slot: Search never returns it again, but it stays a
// waypoint of the graph until Repair removes it. Deleting a slot that is not
// a live node is a no-op that returns false.
func (g *Graph) Delete(slot uint32) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if int(slot) >= g.capacity() {
		return false
	}
	st := g.stateRef(slot)
	for {
		s := st.Load()
		if s&(statePresent|stateDeleted) != statePresent {
			return false
		}
		if st.CompareAndSwap(s, s|stateDeleted) {
			g.tombs.Add(1)
			return true
		}
	}
}

// MemoryBytes returns the bytes held by the graph's own structures (node
// states, neighbour lists, locks), not the vectors.
func (g *Graph) MemoryBytes() int64 {
	const chunkFixed = nodeChunk * 12
	n := int64(len(*g.chunks.Load())) * (chunkFixed + int64(nodeChunk*g.stride0*4))
	n += int64(len(*g.upperChunks.Load())) * int64(upperChunk*g.strideU*4)
	n += lockStripes * 8
	return n
}

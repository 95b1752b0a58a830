package engine

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sextantdb/sextant/internal/index/hnsw"
)

// The asynchronous indexer. Apply only makes a written vector's slot
// pending; the indexer links pending slots into the graph off the write
// path, a batch at a time, and runs graph repair. Queries search the graph
// and scan the pending slots exactly (query.go), so a result is complete
// and exact-k whatever the indexer's lag. One goroutine per collection runs
// while there is work and exits when there is none: an idle collection
// costs nothing.
//
// A batch: under mu (exclusively, briefly) take up to indexBatch valid
// queue entries and mark their slots inflight; link them with the workers
// (no engine lock: the graph is safe for concurrent use, and writers and
// queries go on); reinforce the nodes left with too few in-edges (the
// graph's weak queue: local to what changed); then under mu clear them
// from pending, or, for a slot deleted meanwhile, tombstone the node.
// Reachability after concurrent inserts is checked by a walk over the
// graph, amortized: when the inserts since the last walk reach a share of
// the graph (reachCheckShare), and when the queue runs dry.

// indexBatch is the most slots one indexer batch links.
const indexBatch = 1024

// reachCheckShare: the indexer walks the graph for cut-off nodes after
// len/reachCheckShare inserts (and at least reachCheckMin: a graph of a few
// thousand nodes is walked after nearly every batch, for well under a
// millisecond, since a batch into it can form an island the queries miss
// until the walk: 91 of a 100-record batch under IP in one test), so the walks
// cost O(1) amortized per insert.
const (
	reachCheckShare = 16
	reachCheckMin   = 64
)

// indexBatchHook and indexLinkedHook, when set (tests), run in the indexer
// after it has taken a batch (its slots inflight) and before it links them,
// and after it has linked them, before it clears them from pending.
var indexBatchHook, indexLinkedHook func()

// indexer is the state of a collection's indexer.
type indexer struct {
	running atomic.Bool
	// quiet is held shared by the indexer around each change it makes to
	// the graph that a serialization could see half done (one Insert, a
	// Reinforce, a Repair), and exclusively by a checkpoint while it
	// snapshots the graph, which then only Delete changes (writers wait
	// for the checkpoint at writeMu): the snapshot is one consistent graph
	// without holding the graph exclusively, and the indexer does not
	// queue for mu (ahead of queries) while the snapshot holds it shared.
	// A checkpoint waits for at most one Insert per worker (or a Repair),
	// not for a batch. Lock order: quiet, then writeMu, then mu.
	quiet sync.RWMutex
	// repairing is set from before a graph repair until its freed slots
	// are on the free list (the graph's tombstone count drops earlier).
	repairing atomic.Bool
	// reach asks for a walk for cut-off nodes (a graph loaded from a
	// checkpoint may have been written between a batch and its walk).
	reach atomic.Bool
	wg    sync.WaitGroup
	mu    struct {
		sync.Mutex
		progress chan struct{} // closed (and replaced) after each step of the indexer
	}
	since int       // inserts since the last reachability walk (indexer goroutine only)
	start time.Time // when the first graph started building (indexer goroutine only)
}

func (c *Collection) hnswConfig() hnsw.Config {
	return hnsw.Config{M: c.cfg.M, EfConstruction: c.cfg.EfConstruction, Metric: c.cfg.Metric, Seed: c.opts.Seed}
}

// maybeStartBuild creates the graph once the collection has reached the
// exact-search threshold: every live slot becomes pending, and the indexer
// builds the graph from them.
func (c *Collection) maybeStartBuild() {
	c.mu.RLock()
	need := c.mu.graph == nil && int(c.mu.live.GetCardinality()) >= c.cfg.ExactThreshold
	c.mu.RUnlock()
	if !need {
		return
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.mu.state
	if st.graph != nil || int(st.live.GetCardinality()) < c.cfg.ExactThreshold || c.closed.Load() {
		return
	}
	st.graph = hnsw.New(c.hnswConfig(), st.vectors)
	st.building = true
	it := st.live.Iterator()
	for it.HasNext() {
		st.enqueueLocked(it.Next(), c.applied)
	}
	c.log.Info("building HNSW index", "records", st.pending.GetCardinality())
}

// kickIndexer starts the indexer goroutine when there is work and none runs.
func (c *Collection) kickIndexer() {
	c.mu.RLock()
	work := c.mu.graph != nil && (c.mu.qhead < len(c.mu.queue) || c.mu.building || c.repairDueLocked() || c.ix.reach.Load())
	c.mu.RUnlock()
	if !work || !c.ix.running.CompareAndSwap(false, true) {
		return
	}
	if !c.addBackground(&c.ix.wg) {
		c.ix.running.Store(false)
		return
	}
	go c.indexLoop()
}

// progressed returns a channel closed when the indexer next completes a
// batch or a repair.
func (ix *indexer) progressed() <-chan struct{} {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.mu.progress == nil {
		ix.mu.progress = make(chan struct{})
	}
	return ix.mu.progress
}

// signal wakes the goroutines waiting on progressed.
func (ix *indexer) signal() {
	ix.mu.Lock()
	if ix.mu.progress != nil {
		close(ix.mu.progress)
		ix.mu.progress = nil
	}
	ix.mu.Unlock()
}

// waitRepair is the writers' backpressure on graph repair: a command that
// may insert waits (holding no lock) while a repair is due, so that it
// reuses the slots the repair frees and memory stays within ~1.05× the
// peak live count; queries and deletes go on meanwhile.
func (c *Collection) waitRepair() {
	for !c.closed.Load() {
		ch := c.ix.progressed()
		c.mu.RLock()
		due := c.repairDueLocked() || c.ix.repairing.Load()
		c.mu.RUnlock()
		if !due {
			return
		}
		c.kickIndexer()
		select {
		case <-ch:
		case <-c.closing:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// indexLoop runs batches until the queue is empty, then exits; a write that
// queues work meanwhile finds running still set, so the loop checks once
// more after clearing it.
func (c *Collection) indexLoop() {
	defer c.ix.wg.Done()
	defer c.ix.signal()
	for {
		for c.indexOnce() {
			c.ix.signal()
			select {
			case <-c.closing:
				c.ix.running.Store(false)
				return
			default:
			}
		}
		c.ix.running.Store(false)
		c.mu.RLock()
		more := c.mu.qhead < len(c.mu.queue) || c.repairDueLocked()
		c.mu.RUnlock()
		if !more || c.closed.Load() || !c.ix.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// indexOnce runs one batch (or a repair) and reports whether there may be
// more work.
func (c *Collection) indexOnce() bool {
	c.mu.Lock()
	st := &c.mu.state
	g := st.graph
	var batch []pendingEntry
	for st.qhead < len(st.queue) && len(batch) < indexBatch {
		e := st.queue[st.qhead]
		st.qhead++
		if st.validEntry(e) {
			if len(batch) == 0 {
				st.inflightLow = e.idx
			}
			batch = append(batch, e)
			st.inflight.Add(e.slot)
		}
	}
	if st.qhead > 4096 && st.qhead > len(st.queue)/2 {
		st.queue = append(st.queue[:0], st.queue[st.qhead:]...)
		st.qhead = 0
	}
	if st.building && len(batch) == 0 {
		st.building = false
		c.mon.mu.Lock()
		c.mon.mu.build = time.Since(c.ix.start)
		c.mon.mu.Unlock()
		c.log.Info("HNSW index built", "records", g.Len())
	}
	if st.building && c.ix.start.IsZero() {
		c.ix.start = time.Now()
	}
	c.mu.Unlock()
	if g == nil {
		return false
	}
	if len(batch) == 0 {
		if c.ix.reach.Swap(false) || c.ix.since > 0 {
			c.ix.since = 0
			g.Reconnect()
		}
		return c.repairIfDue()
	}
	if indexBatchHook != nil {
		indexBatchHook()
	}
	slots := make([]uint32, len(batch))
	for i, e := range batch {
		slots[i] = e.slot
	}
	c.insertGraph(g, slots)
	c.ix.quiet.RLock()
	g.Reinforce(c.opts.Workers)
	c.ix.quiet.RUnlock()
	c.ix.since += len(slots)
	if c.ix.since >= max(reachCheckMin, g.Len()/reachCheckShare) {
		c.ix.since = 0
		g.Reconnect()
	}
	if indexLinkedHook != nil {
		indexLinkedHook()
	}
	c.mu.Lock()
	st.inflightLow = 0
	for _, e := range batch {
		st.inflight.Remove(e.slot)
		if st.pending.Contains(e.slot) && st.recs[e.slot].vidx <= e.idx {
			st.pending.Remove(e.slot)
		} else if g.Contains(e.slot) {
			g.Delete(e.slot) // deleted while it was being linked
		}
	}
	c.mu.Unlock()
	c.repairIfDue()
	return true
}

// indexedThroughLocked returns the log index through which every written
// vector is in the graph, and false when nothing is pending. Queue indexes
// never decrease, so the first valid entry (or the batch being linked)
// holds the lowest.
// REQUIRES: mu held.
func (st *state) indexedThroughLocked() (uint64, bool) {
	if st.pending.IsEmpty() && st.inflight.IsEmpty() {
		return 0, false
	}
	lowest, found := st.inflightLow, !st.inflight.IsEmpty()
	for _, e := range st.queue[st.qhead:] {
		if st.validEntry(e) {
			if !found || e.idx < lowest {
				lowest, found = e.idx, true
			}
			break
		}
	}
	if !found || lowest == 0 {
		return 0, true
	}
	return lowest - 1, true
}

// WaitIndexed blocks until every pending slot is in the graph and the graph
// has been checked for cut-off nodes (tests and benchmarks).
func (c *Collection) WaitIndexed() {
	for !c.closed.Load() {
		c.kickIndexer()
		c.mu.RLock()
		g, done := c.mu.graph, c.mu.pending.IsEmpty() && c.mu.inflight.IsEmpty() && !c.mu.building
		c.mu.RUnlock()
		if done && !c.ix.running.Load() {
			if g != nil {
				g.Reconnect()
			}
			return
		}
		select {
		case <-c.ix.progressed():
		case <-time.After(time.Millisecond):
		}
	}
}

// repairFraction: graph repair runs when tombstones pass this share of the
// live count (and at least repairMin), so memory stays within ~1.05× the
// peak live count while repair cost is amortized over many deletes.
const (
	repairFraction = 20 // 1/20 = 5%
	repairMin      = 64
)

// repairStallWarn is the pause of a graph repair (the time the graph was
// held exclusively) from which it is logged as a warning.
const repairStallWarn = 100 * time.Millisecond

// repairDueLocked reports whether graph repair is due: tombstones have
// reached their share of the live records (free slots or not: a batch may
// need more than are free, and repair no longer runs on the write path).
// REQUIRES: mu held.
func (c *Collection) repairDueLocked() bool {
	g := c.mu.graph
	if g == nil {
		return false
	}
	t := g.Tombstones()
	return t >= repairMin && t >= int(c.mu.live.GetCardinality())/repairFraction
}

// repairIfDue runs graph repair when it is due, from the indexer (between
// batches: no other repair and no indexer insert runs), beside writers and
// queries: they wait only for the graph's short exclusive pass
// (hnsw.Graph.Repair). Writes meanwhile allocate new slots. Each repair is
// timed, counted and logged (Stats). It reports whether it ran.
func (c *Collection) repairIfDue() bool {
	c.mu.RLock()
	g, live, due := c.mu.graph, int(c.mu.live.GetCardinality()), c.repairDueLocked()
	c.mu.RUnlock()
	if !due {
		return false
	}
	start := time.Now()
	c.ix.repairing.Store(true)
	c.ix.quiet.RLock()
	freed := g.Repair()
	c.ix.quiet.RUnlock()
	d, pause := time.Since(start), g.LastRepairPause()
	c.mu.Lock()
	c.mu.free = append(c.mu.free, freed...)
	c.mu.Unlock()
	c.ix.repairing.Store(false)
	c.repairs.Add(1)
	c.mon.activity.Add(1) // the graph changed: the probes' samples after it are news
	c.repDur.Store(int64(d))
	c.repPause.Store(int64(pause))
	level := slog.LevelInfo
	if pause >= repairStallWarn {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(context.Background(), level, "graph repair (queries waited for its pause)",
		slog.Int("freed_slots", len(freed)), slog.Int("live", live),
		slog.Duration("duration", d), slog.Duration("pause", pause))
	return true
}

// insertGraph links slots into g using the collection's workers, each
// holding one of the process's insert workers (Scheduler).
func (c *Collection) insertGraph(g *hnsw.Graph, slots []uint32) {
	sched := c.opts.Scheduler
	w := c.opts.Workers
	if w <= 1 || len(slots) < 2*w {
		sched.acquireInsert()
		defer sched.releaseInsert()
		for _, s := range slots {
			c.insertQuiet(g, s)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			sched.acquireInsert()
			defer sched.releaseInsert()
			for {
				j := int(next.Add(1)) - 1
				if j >= len(slots) {
					return
				}
				c.insertQuiet(g, slots[j])
			}
		})
	}
	wg.Wait()
}

// insertQuiet inserts slot into g holding ix.quiet shared.
func (c *Collection) insertQuiet(g *hnsw.Graph, slot uint32) {
	c.ix.quiet.RLock()
	defer c.ix.quiet.RUnlock()
	g.Insert(slot)
}

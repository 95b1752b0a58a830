package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/storage/wal"
	"github.com/sextantdb/sextant/internal/vec"
)

// Config is a collection's index configuration.
type Config struct {
	Dim            int // 0: fixed by the first write
	Metric         vec.Metric
	M              int
	EfConstruction int
	EfSearch       int
	ExactThreshold int      // live records below which queries are served exactly
	UnindexedKeys  []string // metadata keys without payload index (filters on them scan)
}

// Options say where and how a collection stores its data.
type Options struct {
	FS              vfs.FS
	Dir             string
	Logger          *slog.Logger
	NoSync          bool  // acknowledge writes before fsync (relaxed durability)
	Workers         int   // goroutines for HNSW inserts; default GOMAXPROCS
	CheckpointBytes int64 // WAL bytes that trigger a background checkpoint; default 64 MiB
	// A checkpoint writes a full segment, replacing the others, instead of
	// a delta when there are MaxSegments (default 8) or their bytes reach
	// SegmentRatio (default 2) times the first's; docs/format/segments.md.
	MaxSegments  int
	SegmentRatio float64
	Seed         uint64
	Monitor      MonitorOptions // recall guardrails (budget, target, autopilot bounds)
	// Scheduler runs the collection's background rounds and bounds its
	// insert workers, shared with the other collections of the process;
	// nil: the collection starts one of its own (closed with it).
	Scheduler *Scheduler
}

// record is one live record. Its vector lives in the slab at its slot.
type record struct {
	id   string
	seq  uint64 // insertion order, for stable Get paging
	vidx uint64 // log index that wrote the vector (the indexer's queue checks it)
	norm float32
	meta payload.Map
	doc  *string
}

// state is everything guarded by Collection.mu.
type state struct {
	dim      int
	vectors  *vec.Slab
	recs     []record // by slot
	ids      map[string]uint32
	live     *roaring.Bitmap
	free     []uint32 // slots free for reuse (never in a graph)
	nextSlot uint32
	seq      uint64
	order    []orderEntry // records in insertion (seq) order; may hold stale entries
	stale    int          // stale entries in order
	unsorted bool         // order needs sorting (a replacement was appended)

	pidx *filter.Index // payload indexes (metadata and documents)

	// dirty holds the slots whose record was written, replaced, changed or
	// deleted since the last checkpoint snapshot, dirtyVec those of them
	// whose vector was written: the next checkpoint's delta segment
	// (docs/format/segments.md). Apply changes them under writeMu and mu;
	// the checkpoint swaps them under writeMu with mu shared (no one else
	// reads them), and merges them back under mu when it fails.
	dirty    *roaring.Bitmap
	dirtyVec *roaring.Bitmap

	// graph is the HNSW graph; nil in exact mode. Slots enter it through
	// the indexer (indexer.go): until then they are pending.
	graph *hnsw.Graph
	// pending holds the live slots not searchable through the graph yet
	// (queued or being inserted): queries scan them exactly. inflight, a
	// subset of pending's slots and of deleted ones, holds the slots the
	// indexer is inserting now.
	pending  *roaring.Bitmap
	inflight *roaring.Bitmap
	// queue is the indexer's work, in apply order from qhead; an entry is
	// stale once its slot is no longer pending or holds a newer record.
	queue []pendingEntry
	qhead int
	// inflightLow is the lowest queue index of the batch the indexer is
	// linking (its entries have left the queue), for the watermark.
	inflightLow uint64
	// building is set while the graph created when the collection crossed
	// the exact-search threshold has not yet caught up with the records.
	building bool
}

// pendingEntry queues slot for the indexer: the record written at log index
// idx or before (valid while recs[slot].vidx <= idx and slot is pending).
type pendingEntry struct {
	slot uint32
	idx  uint64
}

// validEntry reports whether e still names a record waiting for the indexer.
func (st *state) validEntry(e pendingEntry) bool {
	return st.pending.Contains(e.slot) && !st.inflight.Contains(e.slot) && st.recs[e.slot].vidx <= e.idx
}

// enqueueLocked makes slot pending: queries scan it until the indexer has
// linked it.
// REQUIRES: mu held exclusively.
func (st *state) enqueueLocked(slot uint32, idx uint64) {
	st.pending.Add(slot)
	st.queue = append(st.queue, pendingEntry{slot, idx})
}

// Collection is one collection's engine.
//
// Collection is safe for concurrent use.
type Collection struct {
	shard // the state machine: cfg, the applied index, mu and the state

	opts     Options
	efSearch atomic.Int64
	log      *slog.Logger
	wal      *wal.Log

	writeMu  sync.Mutex // serializes writers; see doc.go for the lock order
	walBytes int64      // REQUIRES: writeMu. WAL bytes since the last checkpoint
	ckptN    uint64     // REQUIRES: writeMu. number of the last checkpoint
	// segs are the segments of the current checkpoint, in apply order.
	// REQUIRES: ckptMu (or exclusive access during Open).
	segs []segInfo

	// replaying is true while Open replays the WAL (no other goroutine
	// runs yet): findings are not logged one by one then.
	replaying bool

	failed   atomic.Pointer[error] // sticky storage failure
	bgMu     sync.Mutex            // orders addBackground before close's waits
	closed   atomic.Bool
	closing  chan struct{}
	bg       sync.WaitGroup
	ckptMu   sync.Mutex // one checkpoint at a time
	ckptRun  atomic.Bool
	ckpts    atomic.Int64
	ckptDur  atomic.Int64 // nanoseconds of the last checkpoint
	repairs  atomic.Int64 // graph repairs run by this process
	repDur   atomic.Int64 // nanoseconds of the last graph repair
	repPause atomic.Int64 // nanoseconds the last graph repair held the graph exclusively

	writes   atomic.Int64 // commands applied by this process (the monitor's activity signal)
	ix       indexer      // the asynchronous indexer; see indexer.go
	ownSched *Scheduler   // the scheduler Open started when Options had none

	pool sync.Pool // *searchBuf

	mon *monitorSet // recall guardrails; see monitor.go
}

func (o *Options) ensureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = 64 << 20
	}
	if o.Seed == 0 {
		o.Seed = 0x5e7a47
	}
	if o.MaxSegments <= 0 {
		o.MaxSegments = 8
	}
	if o.SegmentRatio <= 1 {
		o.SegmentRatio = 2
	}
}

func (c *Collection) indexOptions() filter.IndexOptions {
	return filter.IndexOptions{SkipKeys: c.cfg.UnindexedKeys}
}

func (c *Collection) walDir() string { return path.Join(c.opts.Dir, "wal") }

// Open opens (or creates) the collection stored in opts.Dir: it loads the
// newest checkpoint, replays the WAL after it, and starts a background HNSW
// build when the collection is past the exact-search threshold.
func Open(opts Options, cfg Config) (*Collection, error) {
	opts.ensureDefaults()
	if !cfg.Metric.Valid() {
		return nil, fmt.Errorf("%w: invalid metric", errInvalidArgument)
	}
	c := &Collection{shard: shard{cfg: cfg}, opts: opts, closing: make(chan struct{})}
	c.log = opts.Logger.With("collection_dir", opts.Dir)
	c.efSearch.Store(int64(cfg.EfSearch))
	c.mon = newMonitorSet(opts.Monitor, cfg.EfSearch, opts.Seed)
	st := &c.mu.state
	st.ids = make(map[string]uint32)
	st.live = roaring.New()
	st.dirty = roaring.New()
	st.dirtyVec = roaring.New()
	st.pending = roaring.New()
	st.inflight = roaring.New()
	st.pidx = filter.NewIndex(c.indexOptions())
	if cfg.Dim > 0 {
		st.dim = cfg.Dim
		st.vectors = vec.NewSlab(cfg.Dim)
	}
	if err := vfs.MkdirAllDurable(opts.FS, opts.Dir); err != nil {
		return nil, fmt.Errorf("create collection dir: %w", err)
	}
	fromSeg, err := c.loadCheckpoint()
	if err != nil {
		return nil, err
	}
	w, err := wal.Open(wal.Options{FS: opts.FS, Dir: c.walDir(), NoSync: opts.NoSync, Logger: c.log})
	if err != nil {
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	c.wal = w
	replayed := 0
	c.replaying = true
	err = w.Replay(fromSeg, func(b []byte) error {
		rec, err := decodeRecord(b)
		if err != nil {
			return err
		}
		index := rec.index
		switch {
		case rec.kind == recLegacyBatch:
			index = c.applied + 1
		case index != c.applied+1:
			return fmt.Errorf("WAL record index %d follows %d: records are missing or out of order", index, c.applied)
		}
		at := time.Unix(0, rec.at)
		if rec.at == 0 {
			at = c.mon.opts.Clock()
		}
		switch rec.kind {
		case recGuardrails:
			c.applied = index
			if err := c.mon.restoreGuardrails(rec.guard); err != nil {
				// Monitor state, not data: logged, the sections that
				// decode are kept, the collection opens.
				c.log.Error("guardrail record cannot be restored in full (the data are not affected)", "index", rec.index, "err", err)
			}
		case recCommand:
			if err := c.replayCommand(index, at, rec.cmd); err != nil {
				return err
			}
		default:
			// A batch of the first formats: ops resolved by the writer.
			if err := c.checkReplay(rec.ops); err != nil {
				return err
			}
			c.commit(index, rec.ops)
			c.observeWrite(rec.ops, index, at)
		}
		replayed++
		c.walBytes += int64(len(b))
		return nil
	})
	c.replaying = false
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("replay WAL of %s: %w", opts.Dir, err)
	}
	c.mon.mu.degraded, c.mon.mu.reason = c.mon.ap.Degraded()
	c.mon.markSaved(c.mon.opts.Clock())
	if open := c.mon.ledger.Open(); len(open) > 0 {
		codes := make([]string, len(open))
		for i, f := range open {
			codes[i] = f.Severity.String() + ":" + f.Code
		}
		c.log.Warn("collection has open guardrail findings", "findings", codes)
	}
	if deg, reason := c.mon.ap.Degraded(); deg {
		c.log.Warn("collection degraded: recall below target", "reason", reason, "target", c.mon.ap.Target())
	}
	c.log.Debug("collection opened", "records", c.mu.live.GetCardinality(), "wal_batches_replayed", replayed)
	if c.opts.Scheduler == nil {
		c.ownSched = NewScheduler(SchedulerOptions{InsertWorkers: c.opts.Workers})
		c.opts.Scheduler = c.ownSched
	}
	c.mon.sched = c.opts.Scheduler
	c.mon.sched.register(c, &c.mon.entry)
	c.maybeStartBuild()
	c.kickIndexer()
	return c, nil
}

// checkReplay verifies a replayed batch is applicable (the vectors have the
// collection's dimension), so that a WAL written by a buggy or foreign writer
// is refused rather than crashing the process.
func (c *Collection) checkReplay(ops []op) error {
	dim := c.mu.dim
	for _, o := range ops {
		if o.kind != opPut {
			continue
		}
		if dim == 0 {
			dim = len(o.vec)
		}
		if len(o.vec) != dim || dim == 0 {
			return fmt.Errorf("replayed record %q has dimension %d, collection has %d", o.id, len(o.vec), dim)
		}
		if vec.CheckFinite(o.vec) >= 0 {
			return fmt.Errorf("replayed record %q has a non-finite value", o.id)
		}
	}
	return nil
}

// Config returns the configuration, with the current ef_search and the
// dimension fixed by the first write.
func (c *Collection) Config() Config {
	cfg := c.cfg
	cfg.EfSearch = int(c.efSearch.Load())
	c.mu.RLock()
	cfg.Dim = c.mu.dim
	c.mu.RUnlock()
	return cfg
}

// SetEfSearch changes the default ef of queries (the autopilot's starting
// point; with auto_ef on it moves from there).
// The autopilot's new ef is persisted by the monitor loop at once (it is an
// urgent guardrail change); the caller persists ef_search itself.
func (c *Collection) SetEfSearch(ef int) {
	c.efSearch.Store(int64(ef))
	c.mon.ap.SetEf(ef, c.mon.est.Estimate().Seq, "ef_search set")
	c.mon.kickPersist()
}

// Count returns the number of live records.
func (c *Collection) Count() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return int(c.mu.live.GetCardinality())
}

func (c *Collection) checkWritable() error {
	if c.closed.Load() {
		return errs.ErrClosed
	}
	if p := c.failed.Load(); p != nil {
		return fmt.Errorf("%w: %w", errs.ErrReadOnly, *p)
	}
	return nil
}

// addBackground adds one to wg for a background goroutine about to start,
// unless the collection is closing: close waits for wg only after every
// addBackground that succeeded.
func (c *Collection) addBackground(wg *sync.WaitGroup) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed.Load() {
		return false
	}
	wg.Add(1)
	return true
}

func (c *Collection) fail(err error) {
	c.failed.CompareAndSwap(nil, &err)
	c.log.Error("collection is read-only after a storage failure", "err", err)
}

// Close waits for background work, writes a final checkpoint when the WAL
// holds records since the last one, and closes the WAL.
func (c *Collection) Close() error {
	return c.close(true)
}

// Drop closes the collection without a final checkpoint and removes its files.
func (c *Collection) Drop() error {
	err := c.close(false)
	if rerr := c.opts.FS.RemoveAll(c.opts.Dir); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

func (c *Collection) close(checkpoint bool) error {
	c.bgMu.Lock()
	if !c.closed.CompareAndSwap(false, true) {
		c.bgMu.Unlock()
		return errs.ErrClosed
	}
	c.bgMu.Unlock() // no background goroutine starts from now on
	close(c.closing)
	c.mon.sched.unregister(c.mon.entry) // waits for a round running now
	if c.ownSched != nil {
		c.ownSched.Close()
	}
	c.ix.wg.Wait()
	c.bg.Wait()
	var err error
	if checkpoint && c.failed.Load() == nil {
		// What the monitor changed since its last record goes into the WAL,
		// and with it into the final checkpoint.
		if perr := c.persistGuardrails(true); perr != nil {
			c.log.Error("persist guardrail state", "err", perr)
		}
		c.writeMu.Lock()
		dirty := c.walBytes > 0
		c.writeMu.Unlock()
		if dirty {
			err = c.checkpoint()
		}
	}
	if cerr := c.wal.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Stats describes a collection's memory and index state.
type Stats struct {
	Live       int
	Slots      int
	Tombstones int
	Unindexed  int    // live records not searchable through the graph yet (queries scan them exactly)
	Mode       string // "exact", "building" (the first graph is catching up), "hnsw"
	// Applied is the index of the last log record applied; IndexedThrough
	// the index through which every written vector is in the graph (equal
	// to Applied when nothing is pending).
	Applied        uint64
	IndexedThrough uint64
	VectorBytes    int64
	GraphBytes     int64
	IndexBytes     int64 // payload indexes
	Dim            int
	WALBytes       int64
	Checkpoint     uint64
	// Checkpoints written by this process, and the duration of the last one
	// (snapshot under the writer lock + write to disk).
	Checkpoints        int64
	LastCheckpointSecs float64
	// Graph repairs run by this process (deleted nodes unlinked and their
	// slots freed), the duration of the last one, and its pause: the part
	// during which it held the graph exclusively and queries waited (the
	// rest runs beside them, and beside writes: a write that may insert
	// waits only while a repair is due or running).
	Repairs             int64
	LastRepairSecs      float64
	LastRepairPauseSecs float64
}

// Stats returns the collection's current figures.
func (c *Collection) Stats() Stats {
	c.writeMu.Lock()
	walBytes, n, applied := c.walBytes, c.ckptN, c.applied
	c.writeMu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := Stats{Live: int(c.mu.live.GetCardinality()), Slots: int(c.mu.nextSlot), Dim: c.mu.dim, WALBytes: walBytes, Checkpoint: n, Mode: "exact",
		Checkpoints: c.ckpts.Load(), LastCheckpointSecs: time.Duration(c.ckptDur.Load()).Seconds(),
		Repairs: c.repairs.Load(), LastRepairSecs: time.Duration(c.repDur.Load()).Seconds(),
		LastRepairPauseSecs: time.Duration(c.repPause.Load()).Seconds()}
	if c.mu.vectors != nil {
		s.VectorBytes = c.mu.vectors.Bytes()
	}
	s.IndexBytes = c.mu.pidx.MemoryBytes()
	s.Applied, s.IndexedThrough = applied, applied
	if g := c.mu.graph; g != nil {
		s.Mode = "hnsw"
		if c.mu.building {
			s.Mode = "building"
		}
		s.Tombstones = g.Tombstones()
		s.GraphBytes = g.MemoryBytes()
		s.Unindexed = int(c.mu.pending.GetCardinality())
		if through, ok := c.mu.indexedThroughLocked(); ok {
			s.IndexedThrough = min(through, applied)
		}
	}
	return s
}

// Verify checks the collection's in-memory invariants: the id map, record
// table and live set agree, and the graph (if any) passes its checker and
// holds exactly the live records.
func (c *Collection) Verify() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &c.mu.state
	if int(st.live.GetCardinality()) != len(st.ids) {
		return fmt.Errorf("live set has %d slots, id map %d ids", st.live.GetCardinality(), len(st.ids))
	}
	for id, s := range st.ids {
		if !st.live.Contains(s) {
			return fmt.Errorf("id %q maps to slot %d which is not live", id, s)
		}
		if st.recs[s].id != id {
			return fmt.Errorf("slot %d holds id %q, id map says %q", s, st.recs[s].id, id)
		}
	}
	inOrder := roaring.New()
	for _, e := range st.order {
		if st.valid(e) {
			if inOrder.Contains(e.slot) {
				return fmt.Errorf("slot %d (%q) appears twice in the insertion order", e.slot, st.recs[e.slot].id)
			}
			inOrder.Add(e.slot)
		}
	}
	if !inOrder.Equals(st.live) {
		return fmt.Errorf("insertion order holds %d live records, the live set %d", inOrder.GetCardinality(), st.live.GetCardinality())
	}
	if g := st.graph; g != nil && st.inflight.IsEmpty() {
		// Every live node is reachable once the indexer has walked the
		// graph after its batches (it does when its queue runs dry, before
		// it stops); between batches, only the structure must hold.
		check := g.Check
		if c.ix.running.Load() {
			check = g.CheckStructure
		}
		if err := check(); err != nil {
			return fmt.Errorf("graph: %w", err)
		}
		// Every live slot is a live node or pending, never both; every
		// pending slot is live and queued.
		if !roaring.AndNot(st.pending, st.live).IsEmpty() {
			return fmt.Errorf("pending slots that are not live: %v", roaring.AndNot(st.pending, st.live).ToArray())
		}
		pending := int(st.pending.GetCardinality())
		if g.Len()+pending != len(st.ids) {
			return fmt.Errorf("graph has %d live nodes and %d slots are pending, collection %d records", g.Len(), pending, len(st.ids))
		}
		it := st.live.Iterator()
		for it.HasNext() {
			s := it.Next()
			if g.Contains(s) == st.pending.Contains(s) {
				return fmt.Errorf("live slot %d (%q): in the graph %v, pending %v", s, st.recs[s].id, g.Contains(s), st.pending.Contains(s))
			}
		}
		queued := roaring.New()
		for _, e := range st.queue[st.qhead:] {
			if st.validEntry(e) {
				queued.Add(e.slot)
			}
		}
		if !queued.Equals(st.pending) {
			return fmt.Errorf("%d slots pending, %d queued", pending, queued.GetCardinality())
		}
	}
	return nil
}

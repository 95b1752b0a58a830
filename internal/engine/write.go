package engine

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vec"
)

// MaxIDBytes is the longest record id, in bytes, a write accepts.
const MaxIDBytes = 4096

// checkID validates the id of the i-th record of a batch.
func checkID(i int, id string) error {
	switch {
	case id == "":
		return errs.Record(errInvalidArgument, i, id, "id is empty")
	case len(id) > MaxIDBytes:
		return errs.Record(errInvalidArgument, i, id, "id is %d bytes long, over the limit of %d bytes", len(id), MaxIDBytes)
	}
	return nil
}

// Put is a full record for Add and Upsert. Meta must be canonical
// (payload.Normalize).
type Put struct {
	ID     string
	Vector []float32
	Meta   payload.Map
	Doc    *string
}

// Update changes parts of an existing record: a nil Vector keeps the vector;
// Meta keys are merged into the record's metadata (a key listed in
// DeleteKeys is removed); SetDoc replaces the document with Doc.
type Update struct {
	ID         string
	Vector     []float32
	Meta       payload.Map
	DeleteKeys []string
	SetDoc     bool
	Doc        *string
}

// putMode says what a put batch does with ids that exist.
type putMode uint8

const (
	putStrict       putMode = iota // an existing id refuses the batch (Add)
	putReplace                     // an existing record is replaced (Upsert)
	putSkipExisting                // an existing id is skipped (Chroma's add)
)

// Add inserts new records; an id that already exists refuses the batch.
func (c *Collection) Add(puts []Put) error {
	_, err := c.writePuts(puts, putStrict)
	return err
}

// AddSkipExisting inserts the records whose ids do not exist yet and skips
// the others, as Chroma's add does; it returns how many it inserted. The
// whole batch is still validated, and applied atomically.
func (c *Collection) AddSkipExisting(puts []Put) (int, error) {
	return c.writePuts(puts, putSkipExisting)
}

// Upsert inserts or replaces records.
func (c *Collection) Upsert(puts []Put) error {
	_, err := c.writePuts(puts, putReplace)
	return err
}

func (c *Collection) writePuts(puts []Put, mode putMode) (int, error) {
	if len(puts) == 0 {
		return 0, nil
	}
	n := 0
	err := c.write(func() ([]op, error) {
		dim := c.mu.dim
		seen := make(map[string]int, len(puts))
		ops := make([]op, 0, len(puts))
		for i, p := range puts {
			if err := checkID(i, p.ID); err != nil {
				return nil, err
			}
			if j, dup := seen[p.ID]; dup {
				return nil, errs.Record(errDuplicateID, i, p.ID, "id appears twice in the batch (also at index %d)", j)
			}
			seen[p.ID] = i
			if dim == 0 {
				dim = len(p.Vector)
			}
			if err := c.checkVector(i, p.ID, p.Vector, dim); err != nil {
				return nil, err
			}
			if _, exists := c.mu.ids[p.ID]; exists {
				switch mode {
				case putStrict:
					return nil, errs.Record(errAlreadyExists, i, p.ID, "id already exists in the collection")
				case putSkipExisting:
					continue
				}
			}
			ops = append(ops, op{kind: opPut, id: p.ID, vec: p.Vector, meta: p.Meta, doc: p.Doc})
		}
		n = len(ops)
		return ops, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// checkVector validates one vector of a batch against dimension dim.
func (c *Collection) checkVector(i int, id string, v []float32, dim int) error {
	if len(v) == 0 {
		return errs.Record(errInvalidVector, i, id, "embedding is missing or empty")
	}
	if len(v) != dim {
		return errs.Record(errDimensionMismatch, i, id, "embedding has dimension %d, collection expects %d", len(v), dim)
	}
	if j := vec.CheckFinite(v); j >= 0 {
		return errs.Record(errInvalidVector, i, id, "embedding[%d] is %v; values must be finite", j, v[j])
	}
	if c.cfg.Metric == vec.Cosine {
		if n := vec.Norm(v); n == 0 || math.IsInf(n, 0) {
			return errs.Record(errInvalidVector, i, id, "embedding is the zero vector, which has no direction under cosine")
		}
	}
	return nil
}

// updateMode says what an update batch does with ids that do not exist.
type updateMode uint8

const (
	updateStrict        updateMode = iota // a missing id refuses the batch (Update)
	updateIgnoreMissing                   // a missing id is skipped (Chroma's update)
	updateOrInsert                        // a missing id is inserted; it needs a vector (Chroma's upsert)
)

// Update changes existing records; a missing id refuses the batch.
func (c *Collection) Update(ups []Update) error {
	_, err := c.writeUpdates(ups, updateStrict)
	return err
}

// UpdateIgnoreMissing changes the records that exist and skips missing ids,
// as Chroma's update does; it returns how many it changed.
func (c *Collection) UpdateIgnoreMissing(ups []Update) (int, error) {
	return c.writeUpdates(ups, updateIgnoreMissing)
}

// UpsertMerge updates the records that exist (metadata merged key by key,
// given fields replaced) and inserts the others, which need a vector, as
// Chroma's upsert does. The batch is atomic.
func (c *Collection) UpsertMerge(ups []Update) error {
	_, err := c.writeUpdates(ups, updateOrInsert)
	return err
}

func (c *Collection) writeUpdates(ups []Update, mode updateMode) (int, error) {
	if len(ups) == 0 {
		return 0, nil
	}
	n := 0
	err := c.write(func() ([]op, error) {
		dim := c.mu.dim
		seen := make(map[string]int, len(ups))
		ops := make([]op, 0, len(ups))
		for i, u := range ups {
			if err := checkID(i, u.ID); err != nil {
				return nil, err
			}
			if j, dup := seen[u.ID]; dup {
				return nil, errs.Record(errDuplicateID, i, u.ID, "id appears twice in the batch (also at index %d)", j)
			}
			seen[u.ID] = i
			if u.Vector != nil {
				if dim == 0 {
					dim = len(u.Vector)
				}
				if err := c.checkVector(i, u.ID, u.Vector, dim); err != nil {
					return nil, err
				}
			}
			slot, ok := c.mu.ids[u.ID]
			if !ok {
				switch mode {
				case updateStrict:
					return nil, errs.Record(errNotFound, i, u.ID, "id does not exist in the collection")
				case updateIgnoreMissing:
					continue
				}
				if u.Vector == nil {
					return nil, errs.Record(errInvalidVector, i, u.ID, "embedding is missing; a new record needs one")
				}
				meta := u.Meta
				if len(meta) == 0 {
					meta = nil
				}
				ops = append(ops, op{kind: opPut, id: u.ID, vec: u.Vector, meta: meta, doc: u.Doc})
				continue
			}
			cur := &c.mu.recs[slot]
			meta := cur.meta
			setMeta := len(u.Meta) > 0 || len(u.DeleteKeys) > 0
			if setMeta {
				merged := make(payload.Map, len(cur.meta)+len(u.Meta))
				for k, v := range cur.meta {
					merged[k] = v
				}
				for _, k := range u.DeleteKeys {
					delete(merged, k)
				}
				for k, v := range u.Meta {
					merged[k] = v
				}
				if len(merged) == 0 {
					merged = nil
				}
				meta = merged
			}
			doc := cur.doc
			if u.SetDoc {
				doc = u.Doc
			}
			if u.Vector != nil {
				ops = append(ops, op{kind: opPut, id: u.ID, vec: u.Vector, meta: meta, doc: doc})
				continue
			}
			ops = append(ops, op{kind: opSet, id: u.ID, meta: meta, setMeta: setMeta, doc: doc, setDoc: u.SetDoc})
		}
		n = len(ops)
		return ops, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Delete removes the records with the given ids and returns how many
// existed. Missing ids are not an error.
func (c *Collection) Delete(ids []string) (int, error) {
	return c.DeleteWhere(ids, nil)
}

// DeleteWhere removes the records that match f (nil: all) among ids (nil:
// all records; f must then be set) and returns how many it removed. The
// match set is resolved under the writer lock, so it is exact at the moment
// of the delete.
func (c *Collection) DeleteWhere(ids []string, f *filter.Filter) (int, error) {
	if ids == nil && f == nil {
		return 0, fmt.Errorf("%w: delete needs ids or a non-empty filter", errInvalidArgument)
	}
	n := 0
	err := c.write(func() ([]op, error) {
		st := &c.mu.state
		var matches *roaring.Bitmap
		if f != nil {
			matches = st.pidx.Eval(f, st.live, c.lookupLocked)
		}
		var ops []op
		if ids == nil {
			it := matches.Iterator()
			for it.HasNext() {
				ops = append(ops, op{kind: opDel, id: st.recs[it.Next()].id})
			}
			n = len(ops)
			return ops, nil
		}
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if slot, ok := st.ids[id]; ok && (matches == nil || matches.Contains(slot)) {
				ops = append(ops, op{kind: opDel, id: id})
			}
		}
		n = len(ops)
		return ops, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// write runs one batch through the write path: resolve (validate against the
// current state, under writeMu and a read lock), WAL append, apply, then wait
// for durability outside writeMu (group commit).
func (c *Collection) write(resolve func() ([]op, error)) error {
	c.writeMu.Lock()
	if err := c.checkWritable(); err != nil {
		c.writeMu.Unlock()
		return err
	}
	c.mu.RLock()
	ops, err := resolve()
	c.mu.RUnlock()
	if err != nil || len(ops) == 0 {
		c.writeMu.Unlock()
		return err
	}
	at := c.mon.opts.Clock()
	rec := appendBatch(nil, c.applied+1, at.UnixNano(), ops)
	pos, err := c.wal.Append(rec)
	if err != nil {
		c.fail(err)
		c.writeMu.Unlock()
		return fmt.Errorf("write WAL: %w", err)
	}
	c.applied++
	c.walBytes += int64(len(rec))
	c.apply(ops)
	c.observeWrite(ops, c.applied, at)
	needCkpt := c.walBytes >= c.opts.CheckpointBytes
	c.writeMu.Unlock()

	if err := c.wal.Sync(pos); err != nil {
		c.fail(err)
		return fmt.Errorf("sync WAL: %w", err)
	}
	c.maybeStartBuild()
	if needCkpt {
		c.startCheckpoint()
	}
	return nil
}

// apply applies a batch to the in-memory state: the one apply function for
// live writes and WAL replay. The batch has been validated.
// REQUIRES: writeMu held (or exclusive access during Open).
func (c *Collection) apply(ops []op) {
	c.repairIfDue(ops)
	var inserted []uint32
	c.mu.Lock()
	st := &c.mu.state
	graph, building := st.graph, st.building
	if graph == nil {
		graph = building
	}
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opPut:
			if st.dim == 0 {
				st.dim = len(o.vec)
				st.vectors = vec.NewSlab(st.dim)
			}
			var seq uint64
			old, replace := st.ids[o.id]
			if replace {
				seq = st.recs[old].seq
				c.removeSlotLocked(old)
			} else {
				st.seq++
				seq = st.seq
			}
			slot := c.allocSlotLocked()
			// norm is the vector's length as given: under cosine the slab
			// holds it normalized (norm restores it), otherwise as given.
			var norm float32
			if c.cfg.Metric == vec.Cosine {
				dst := st.vectors.At(slot)
				norm = float32(vec.Normalize(dst, o.vec))
			} else {
				copy(st.vectors.At(slot), o.vec)
				norm = float32(vec.Norm(o.vec))
			}
			st.recs[slot] = record{id: o.id, seq: seq, norm: norm, meta: o.meta, doc: o.doc}
			st.pidx.Add(slot, o.meta, o.doc)
			st.ids[o.id] = slot
			st.live.Add(slot)
			switch {
			case !replace:
				st.order = append(st.order, orderEntry{seq, slot})
			case slot == old:
				st.stale-- // the old entry is valid again
			default:
				st.order = append(st.order, orderEntry{seq, slot})
				st.unsorted = true
			}
			if graph != nil {
				inserted = append(inserted, slot)
			}
		case opSet:
			slot := st.ids[o.id]
			r := &st.recs[slot]
			st.pidx.Remove(slot, r.meta, r.doc)
			if o.setMeta {
				r.meta = o.meta
			}
			if o.setDoc {
				r.doc = o.doc
			}
			st.pidx.Add(slot, r.meta, r.doc)
		case opDel:
			if slot, ok := st.ids[o.id]; ok {
				c.removeSlotLocked(slot)
			}
		}
	}
	c.compactOrderLocked()
	c.mu.Unlock()
	if len(inserted) > 0 {
		// A graph still being built is reinforced once, before it serves.
		c.insertGraph(graph, inserted, graph != building)
	}
}

// removeSlotLocked deletes the record at slot.
// REQUIRES: mu held exclusively.
func (c *Collection) removeSlotLocked(slot uint32) {
	st := &c.mu.state
	r := &st.recs[slot]
	st.pidx.Remove(slot, r.meta, r.doc)
	delete(st.ids, r.id)
	st.recs[slot] = record{}
	st.live.Remove(slot)
	st.stale++
	switch {
	case st.graph != nil:
		st.graph.Delete(slot)
	case st.building != nil:
		st.buildDeleted = append(st.buildDeleted, slot)
	default:
		st.free = append(st.free, slot)
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

// repairIfDue runs graph repair before a batch that inserts, when no slot is
// free and tombstones have reached their share of the live records, so that
// the batch reuses the freed slots. It holds the collection only shared:
// queries go on, and wait only for the graph's short exclusive pass
// (hnsw.Graph.Repair). Each repair is timed, counted and logged (Stats).
// REQUIRES: writeMu held, or exclusive access during Open: no other write
// changes the state meanwhile, and no other repair runs.
func (c *Collection) repairIfDue(ops []op) {
	if !slices.ContainsFunc(ops, func(o op) bool { return o.kind == opPut }) {
		return
	}
	c.mu.RLock()
	g, live, free := c.mu.graph, int(c.mu.live.GetCardinality()), len(c.mu.free)
	c.mu.RUnlock()
	if g == nil || free > 0 { // a graph, once serving, is never replaced
		return
	}
	if t := g.Tombstones(); t < repairMin || t < live/repairFraction {
		return
	}
	start := time.Now()
	freed := g.Repair()
	d, pause := time.Since(start), g.LastRepairPause()
	c.mu.Lock()
	c.mu.free = append(c.mu.free, freed...)
	c.mu.Unlock()
	c.repairs.Add(1)
	c.repDur.Store(int64(d))
	c.repPause.Store(int64(pause))
	level := slog.LevelInfo
	if pause >= repairStallWarn {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(context.Background(), level, "graph repair (queries waited for its pause)",
		slog.Int("freed_slots", len(freed)), slog.Int("live", live),
		slog.Duration("duration", d), slog.Duration("pause", pause))
}

// allocSlotLocked returns a free slot, growing the slab when none is free.
// REQUIRES: mu held exclusively.
func (c *Collection) allocSlotLocked() uint32 {
	st := &c.mu.state
	if n := len(st.free); n > 0 {
		s := st.free[n-1]
		st.free = st.free[:n-1]
		return s
	}
	s := st.nextSlot
	st.nextSlot++
	st.vectors.Grow(int(st.nextSlot))
	if int(s) >= len(st.recs) {
		st.recs = append(st.recs, make([]record, len(st.recs)+1024)...)
	}
	return s
}

// compactOrderLocked restores the seq order after replacements and drops
// stale entries when they are more than half of it.
// REQUIRES: mu held exclusively.
func (c *Collection) compactOrderLocked() {
	st := &c.mu.state
	if st.unsorted {
		slices.SortFunc(st.order, func(a, b orderEntry) int { return cmp.Compare(a.seq, b.seq) })
		st.unsorted = false
	}
	if st.stale <= len(st.order)/2 {
		return
	}
	out := st.order[:0]
	for _, e := range st.order {
		if st.valid(e) {
			out = append(out, e)
		}
	}
	st.order = out
	st.stale = 0
}

// orderEntry places a record in the insertion order.
type orderEntry struct {
	seq  uint64
	slot uint32
}

// valid reports whether e still names a live record.
func (st *state) valid(e orderEntry) bool {
	return st.live.Contains(e.slot) && st.recs[e.slot].seq == e.seq
}

// insertGraph links slots into g using all workers. Concurrent inserts can
// leave a few nodes unreachable from the entry point; a reachability pass
// (cheap when nothing is cut off: one shared BFS) relinks them. With
// reinforce (g serves queries), nodes left with fewer than two layer-0
// in-edges then get edges from their nearest nodes (hnsw.Graph.Reinforce;
// a scan of the in-degree counters when there are none).
func (c *Collection) insertGraph(g *hnsw.Graph, slots []uint32, reinforce bool) {
	w := c.opts.Workers
	if reinforce {
		defer g.Reinforce(w)
	}
	if w <= 1 || len(slots) < 2*w {
		for _, s := range slots {
			g.Insert(s)
		}
		return
	}
	defer g.Reconnect()
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= len(slots) {
					return
				}
				g.Insert(slots[j])
			}
		}()
	}
	wg.Wait()
}

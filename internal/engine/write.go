package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/sextantdb/sextant/internal/payload"
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

// Add inserts new records; an id that already exists refuses the batch.
func (c *Collection) Add(puts []Put) error {
	_, err := c.propose(&Command{Kind: CmdAdd, Puts: puts})
	return err
}

// AddSkipExisting inserts the records whose ids do not exist yet and skips
// the others, as Chroma's add does; it returns how many it inserted. The
// whole batch is still validated, and applied atomically.
func (c *Collection) AddSkipExisting(puts []Put) (int, error) {
	res, err := c.propose(&Command{Kind: CmdAddSkipExisting, Puts: puts})
	return res.Changed, err
}

// Upsert inserts or replaces records.
func (c *Collection) Upsert(puts []Put) error {
	_, err := c.propose(&Command{Kind: CmdUpsert, Puts: puts})
	return err
}

// Update changes existing records; a missing id refuses the batch.
func (c *Collection) Update(ups []Update) error {
	_, err := c.propose(&Command{Kind: CmdUpdate, Updates: ups})
	return err
}

// UpdateIgnoreMissing changes the records that exist and skips missing ids,
// as Chroma's update does; it returns how many it changed.
func (c *Collection) UpdateIgnoreMissing(ups []Update) (int, error) {
	res, err := c.propose(&Command{Kind: CmdUpdateIgnoreMissing, Updates: ups})
	return res.Changed, err
}

// UpsertMerge updates the records that exist (metadata merged key by key,
// given fields replaced) and inserts the others, which need a vector, as
// Chroma's upsert does. The batch is atomic.
func (c *Collection) UpsertMerge(ups []Update) error {
	_, err := c.propose(&Command{Kind: CmdUpsertMerge, Updates: ups})
	return err
}

// Delete removes the records with the given ids and returns how many
// existed. Missing ids are not an error.
func (c *Collection) Delete(ids []string) (int, error) {
	return c.DeleteWhere(ids, nil)
}

// DeleteWhere removes the records that match f (nil: all) among ids (nil:
// all records; f must then be set) and returns how many it removed. The
// match set is resolved when the command is applied, so it is exact at its
// place in the log.
func (c *Collection) DeleteWhere(ids []string, f *filter.Filter) (int, error) {
	res, err := c.propose(&Command{Kind: CmdDelete, IDs: ids, Filter: f})
	return res.Changed, err
}

// Write applies one command through the write path and returns its Result;
// err is Result.Err or a storage error. The Add, Update, Upsert and Delete
// methods are shorthands for it.
func (c *Collection) Write(cmd *Command) (Result, error) {
	return c.propose(cmd)
}

// propose is the durability driver of a local collection: it validates cmd
// without the state (outside any lock; such a refusal is never logged),
// encodes it, then under writeMu resolves it against the state, appends the
// record to the WAL when the command changes something, and applies the
// resolved ops (the shard's Apply, split so that a command the state refuses
// is not logged; replay calls Apply itself, which runs the same two steps
// on the same state). It then waits for durability outside writeMu (group
// commit) and acknowledges.
//
// Only this function serializes writers, around resolve, append and the
// in-memory apply; the graph inserts of the batch run after it under the
// same lock for now (the asynchronous indexer takes them off it).
func (c *Collection) propose(cmd *Command) (Result, error) {
	if cmd.empty() {
		return Result{}, nil
	}
	c.mu.RLock()
	dim := c.mu.dim
	c.mu.RUnlock()
	if err := c.validate(cmd, dim); err != nil {
		return Result{Err: err}, err
	}
	body := appendCommandBody(nil, cmd)

	c.writeMu.Lock()
	if err := c.checkWritable(); err != nil {
		c.writeMu.Unlock()
		return Result{}, err
	}
	c.mu.RLock()
	ops, err := c.resolveLocked(cmd)
	c.mu.RUnlock()
	if err != nil || len(ops) == 0 {
		c.writeMu.Unlock()
		return Result{Err: err}, err
	}
	at := c.mon.opts.Clock()
	index := c.applied + 1
	rec := putRecordHeader(body, index, at.UnixNano())
	pos, err := c.wal.Append(rec)
	if err != nil {
		c.fail(err)
		c.writeMu.Unlock()
		return Result{}, fmt.Errorf("write WAL: %w", err)
	}
	c.walBytes += int64(len(rec))
	if slices.ContainsFunc(ops, func(o op) bool { return o.kind == opPut }) {
		c.repairIfDue()
	}
	res := c.commit(index, ops)
	c.observeWrite(ops, index, at)
	c.index(res)
	needCkpt := c.walBytes >= c.opts.CheckpointBytes
	c.writeMu.Unlock()

	if err := c.wal.Sync(pos); err != nil {
		c.fail(err)
		return Result{}, fmt.Errorf("sync WAL: %w", err)
	}
	c.maybeStartBuild()
	if needCkpt {
		c.startCheckpoint()
	}
	return res, nil
}

// replayCommand applies a command record during Open, as propose applied
// it live.
// REQUIRES: exclusive access during Open.
func (c *Collection) replayCommand(index uint64, at time.Time, cmd *Command) {
	if cmd.Kind.puts() || cmd.Kind.updates() {
		c.repairIfDue()
	}
	res := c.Apply(index, cmd)
	c.observeWrite(res.ops, index, at)
	c.index(res)
}

// index links the slots a command inserted into their graph.
// REQUIRES: writeMu held (or exclusive access during Open).
func (c *Collection) index(res Result) {
	if len(res.inserted) > 0 {
		// A graph still being built is reinforced once, before it serves.
		c.insertGraph(res.graph, res.inserted, res.reinforce)
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
func (c *Collection) repairIfDue() {
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

package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/payload"
)

// MaxIDBytes is the longest record id, in bytes, a write accepts (the
// limit of the current input rules, RulesVersion).
const MaxIDBytes = maxIDBytesV1

// maxIDBytesV1 is the id limit of input rules version 1: it stays 4096
// for the records logged under them, whatever MaxIDBytes becomes.
const maxIDBytesV1 = 4096

// checkID validates the id of the i-th record of a batch against limit.
func checkID(i int, id string, limit int) error {
	switch {
	case id == "":
		return errs.Record(errInvalidArgument, i, id, "id is empty")
	case len(id) > limit:
		return errs.Record(errInvalidArgument, i, id, "id is %d bytes long, over the limit of %d bytes", len(id), limit)
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
// in-memory apply; graph inserts and repair run in the indexer, beside the
// writers.
func (c *Collection) propose(cmd *Command) (Result, error) {
	if cmd.empty() {
		return Result{}, nil
	}
	if cmd.Rules != RulesVersion {
		// A live write is accepted under this build's rules, and logged
		// with their version (the caller's cmd is left as it is).
		cp := *cmd
		cp.Rules = RulesVersion
		cmd = &cp
	}
	c.mu.RLock()
	dim := c.mu.dim
	c.mu.RUnlock()
	if err := c.validate(cmd, dim); err != nil {
		return Result{Err: err}, err
	}
	if cmd.mayInsert() {
		c.waitRepair()
	}
	body := appendCommandBody(nil, cmd)

	c.writeMu.Lock()
	if err := c.checkWritable(); err != nil {
		c.writeMu.Unlock()
		return Result{}, err
	}
	c.mu.RLock()
	var err error
	if c.mu.dim != dim {
		// The first write of a concurrent writer fixed the dimension
		// since: validate against it (the only thing that can change).
		err = c.validate(cmd, c.mu.dim)
	}
	var ops []op
	if err == nil {
		ops, err = c.resolveLocked(cmd)
	}
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
	res := c.commit(index, ops)
	c.writes.Add(1)
	c.mon.activity.Add(1)
	c.observeWrite(ops, index, at)
	needCkpt := c.walBytes >= c.opts.CheckpointBytes
	c.writeMu.Unlock()

	if err := c.wal.Sync(pos); err != nil {
		c.fail(err)
		return Result{}, fmt.Errorf("sync WAL: %w", err)
	}
	c.maybeStartBuild()
	c.kickIndexer()
	if needCkpt {
		c.startCheckpoint()
	}
	return res, nil
}

// replayCommand applies a command record during Open, as propose applied
// it live. A command of input rules this build does not know refuses the
// open (the error); any other refusal is logged and the command skipped.
// REQUIRES: exclusive access during Open.
func (c *Collection) replayCommand(index uint64, at time.Time, cmd *Command) error {
	res := c.Apply(index, cmd)
	switch {
	case errors.Is(res.Err, errUnknownRules):
		// Logged by a newer build: skipping it would lose acknowledged
		// records, applying it would guess at its rules.
		return fmt.Errorf("WAL record %d (%v): %w", index, cmd.Kind, res.Err)
	case res.Err != nil:
		// Only commands that applied are logged, and each is validated
		// with the rules it was logged under: a refusal on replay means a
		// foreign or buggy writer (or the state resolved differently).
		c.log.Error("logged command refused on replay; its records are not applied",
			"index", index, "command", cmd.Kind.String(), "rules", cmd.rules(), "err", res.Err)
	}
	c.observeWrite(res.ops, index, at)
	return nil
}

// orderEntry places a record in the insertion order: the record of seq
// whose vector was written at log index vidx, in slot.
type orderEntry struct {
	seq  uint64
	vidx uint64
	slot uint32
}

// valid reports whether e still names a live record. A record's entries
// differ by vidx, so a slot that a record leaves and later comes back to
// (repair freed it meanwhile) does not revive its stale entry.
func (st *state) valid(e orderEntry) bool {
	r := &st.recs[e.slot]
	return st.live.Contains(e.slot) && r.seq == e.seq && r.vidx == e.vidx
}

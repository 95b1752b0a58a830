package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vec"
)

// shard is a collection's state machine: its records, vectors, payload
// indexes and graph membership change only through Apply (and, for logs of
// the first formats, applyOps), in log order. It does no I/O and reads no
// clock: the same log gives the same records on every replay and, later, on
// every raft replica. The durability driver (write.go) owns the log and is
// the only caller.
type shard struct {
	cfg Config

	// applied is the index of the last log record applied (commands and
	// guardrail records alike; see docs/format/records.md).
	// REQUIRES: Collection.writeMu, or exclusive access during Open.
	applied uint64

	mu struct {
		sync.RWMutex
		state
	}
}

// errStale is the Result.Err of a command whose index is not after the
// applied index: it was applied already and is not applied again.
var errStale = errors.New("command index already applied")

// Apply applies cmd, the log entry at index, and returns what it did. It is
// total and deterministic: whatever cmd holds (a decoded record may come from
// a buggy writer), it either applies all of it or refuses it with a Result.Err
// naming the first offending record, and the outcome depends only on the
// state and cmd. Existence checks, metadata merges and the delete filter are
// evaluated here, against the state at apply time. An index at or below the
// applied index is refused as stale, without change (replay is idempotent).
// cmd is validated with the input rules of its version (validate); one of a
// version this build does not know is refused with errUnknownRules, which
// the caller must not treat as an ordinary refusal (replay stops there).
//
// Graph work is not done here: a written vector's slot becomes pending (the
// indexer links it later, queries scan it exactly until then), and a deleted
// node is only tombstoned.
// REQUIRES: Collection.writeMu held, or exclusive access during Open.
func (s *shard) Apply(index uint64, cmd *Command) Result {
	if index <= s.applied {
		return Result{Index: index, Err: fmt.Errorf("%w: %d (applied: %d)", errStale, index, s.applied)}
	}
	s.mu.RLock()
	err := s.validate(cmd, s.mu.dim)
	var ops []op
	if err == nil {
		ops, err = s.resolveLocked(cmd)
	}
	s.mu.RUnlock()
	if err != nil || len(ops) == 0 {
		s.applied = index
		return Result{Index: index, Err: err}
	}
	return s.commit(index, ops)
}

// commit applies the ops a command at index resolved to (the second half of
// Apply; the driver calls it after logging the command it resolved).
// REQUIRES: writeMu held, or exclusive access during Open; ops resolved
// against the current state.
func (s *shard) commit(index uint64, ops []op) Result {
	s.applied = index
	s.applyOps(index, ops)
	return Result{Index: index, Changed: len(ops), ops: ops}
}

// validate checks what cmd says without looking at the records, with the
// input rules of cmd's version (Command.Rules): a log replays under the
// rules each command was accepted under, whatever this build's are. The
// driver calls it before logging (with RulesVersion), so that a command
// refused by it is never logged; Apply calls it again. A version this build
// does not know is refused with errUnknownRules.
//
// A rule that changes gets a new version (RulesVersion+1, a validateVn
// beside validateV1, which stays as it is); dim, the state's dimension, is
// the only input besides cmd.
func (s *shard) validate(cmd *Command, dim int) error {
	switch v := cmd.rules(); v {
	case 1:
		return s.validateV1(cmd, dim)
	default:
		return fmt.Errorf("%w: version %d (this build knows versions 1 to %d); open the collection with a newer build",
			errUnknownRules, v, RulesVersion)
	}
}

// validateV1 holds the rules of version 1: kinds, ids (checkID: 1 to
// maxIDBytesV1 bytes), duplicate ids within the command, vectors
// (dimension dim, 0: fixed by the first vector of cmd; finite; not zero
// under cosine), a delete with ids or a filter.
func (s *shard) validateV1(cmd *Command, dim int) error {
	switch {
	case cmd.Kind.puts():
		seen := make(map[string]int, len(cmd.Puts))
		for i := range cmd.Puts {
			p := &cmd.Puts[i]
			if err := checkID(i, p.ID, maxIDBytesV1); err != nil {
				return err
			}
			if j, dup := seen[p.ID]; dup {
				return errs.Record(errDuplicateID, i, p.ID, "id appears twice in the batch (also at index %d)", j)
			}
			seen[p.ID] = i
			if dim == 0 {
				dim = len(p.Vector)
			}
			if err := s.checkVector(i, p.ID, p.Vector, dim); err != nil {
				return err
			}
		}
	case cmd.Kind.updates():
		seen := make(map[string]int, len(cmd.Updates))
		for i := range cmd.Updates {
			u := &cmd.Updates[i]
			if err := checkID(i, u.ID, maxIDBytesV1); err != nil {
				return err
			}
			if j, dup := seen[u.ID]; dup {
				return errs.Record(errDuplicateID, i, u.ID, "id appears twice in the batch (also at index %d)", j)
			}
			seen[u.ID] = i
			if u.Vector != nil {
				if dim == 0 {
					dim = len(u.Vector)
				}
				if err := s.checkVector(i, u.ID, u.Vector, dim); err != nil {
					return err
				}
			}
		}
	case cmd.Kind == CmdDelete:
		if cmd.IDs == nil && cmd.Filter == nil {
			return fmt.Errorf("%w: delete needs ids or a non-empty filter", errInvalidArgument)
		}
	default:
		return fmt.Errorf("%w: unknown command kind %d", errInvalidArgument, cmd.Kind)
	}
	return nil
}

// checkVector validates one vector of a batch against dimension dim.
func (s *shard) checkVector(i int, id string, v []float32, dim int) error {
	if len(v) == 0 {
		return errs.Record(errInvalidVector, i, id, "embedding is missing or empty")
	}
	if len(v) != dim {
		return errs.Record(errDimensionMismatch, i, id, "embedding has dimension %d, collection expects %d", len(v), dim)
	}
	if j := vec.CheckFinite(v); j >= 0 {
		return errs.Record(errInvalidVector, i, id, "embedding[%d] is %v; values must be finite", j, v[j])
	}
	if s.cfg.Metric == vec.Cosine {
		if n := vec.Norm(v); n == 0 || math.IsInf(n, 0) {
			return errs.Record(errInvalidVector, i, id, "embedding is the zero vector, which has no direction under cosine")
		}
	}
	return nil
}

// resolveLocked turns cmd, validated against the state's dimension, into
// the ops that apply it: puts (a record with a new vector), sets (metadata
// and document of an existing record) and deletes of existing records. It
// refuses what the records refuse (an existing id for an add, a missing one
// for an update).
// REQUIRES: mu held (shared is enough), and no writer but the caller.
func (s *shard) resolveLocked(cmd *Command) ([]op, error) {
	st := &s.mu.state
	switch {
	case cmd.Kind.puts():
		ops := make([]op, 0, len(cmd.Puts))
		for i := range cmd.Puts {
			p := &cmd.Puts[i]
			if _, exists := st.ids[p.ID]; exists {
				switch cmd.Kind {
				case CmdAdd:
					return nil, errs.Record(errAlreadyExists, i, p.ID, "id already exists in the collection")
				case CmdAddSkipExisting:
					continue
				}
			}
			ops = append(ops, op{kind: opPut, id: p.ID, vec: p.Vector, meta: p.Meta, doc: p.Doc})
		}
		return ops, nil
	case cmd.Kind.updates():
		return s.resolveUpdatesLocked(cmd)
	}
	return s.resolveDeleteLocked(cmd), nil
}

// resolveUpdatesLocked is resolveLocked for the update kinds.
// REQUIRES: mu held (shared is enough).
func (s *shard) resolveUpdatesLocked(cmd *Command) ([]op, error) {
	st := &s.mu.state
	ops := make([]op, 0, len(cmd.Updates))
	for i := range cmd.Updates {
		u := &cmd.Updates[i]
		slot, ok := st.ids[u.ID]
		if !ok {
			switch cmd.Kind {
			case CmdUpdate:
				return nil, errs.Record(errNotFound, i, u.ID, "id does not exist in the collection")
			case CmdUpdateIgnoreMissing:
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
		cur := &st.recs[slot]
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
	return ops, nil
}

// resolveDeleteLocked is resolveLocked for CmdDelete: the records among
// cmd.IDs that exist and match cmd.Filter, exact at this point of the log.
// REQUIRES: mu held (shared is enough).
func (s *shard) resolveDeleteLocked(cmd *Command) []op {
	st := &s.mu.state
	var ops []op
	if cmd.IDs == nil {
		matches := st.pidx.Eval(cmd.Filter, st.live, s.lookupLocked)
		it := matches.Iterator()
		for it.HasNext() {
			ops = append(ops, op{kind: opDel, id: st.recs[it.Next()].id})
		}
		return ops
	}
	seen := make(map[string]bool, len(cmd.IDs))
	for _, id := range cmd.IDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		slot, ok := st.ids[id]
		if !ok {
			continue
		}
		if cmd.Filter != nil {
			r := &st.recs[slot]
			if !cmd.Filter.Match(r.meta, r.doc) {
				continue
			}
		}
		ops = append(ops, op{kind: opDel, id: id})
	}
	return ops
}

// applyOps applies resolved ops, of the command at log index index, to the
// state. In graph mode the slot of each vector written becomes pending.
// Ops of logs of the first formats come here directly: an op that does not
// fit the state (a set or delete of a missing id, a vector of another
// dimension) is skipped, never trusted.
// REQUIRES: writeMu held (or exclusive access during Open).
func (s *shard) applyOps(index uint64, ops []op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.mu.state
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opPut:
			if st.dim == 0 && len(o.vec) > 0 {
				st.dim = len(o.vec)
				st.vectors = vec.NewSlab(st.dim)
			}
			if len(o.vec) != st.dim || vec.CheckFinite(o.vec) >= 0 {
				continue
			}
			var seq uint64
			old, replace := st.ids[o.id]
			if replace {
				seq = st.recs[old].seq
				s.removeSlotLocked(old)
			} else {
				st.seq++
				seq = st.seq
			}
			slot := s.allocSlotLocked()
			// norm is the vector's length as given: under cosine the slab
			// holds it normalized (norm restores it), otherwise as given.
			var norm float32
			if s.cfg.Metric == vec.Cosine {
				dst := st.vectors.At(slot)
				norm = float32(vec.Normalize(dst, o.vec))
			} else {
				copy(st.vectors.At(slot), o.vec)
				norm = float32(vec.Norm(o.vec))
			}
			st.recs[slot] = record{id: o.id, seq: seq, vidx: index, norm: norm, meta: o.meta, doc: o.doc}
			st.dirty.Add(slot)
			st.dirtyVec.Add(slot)
			st.pidx.Add(slot, o.meta, o.doc)
			st.ids[o.id] = slot
			st.live.Add(slot)
			// A new entry even when the record keeps its slot: the old
			// one (stale since the remove) names the old vector's index,
			// so that an entry never becomes valid again.
			st.order = append(st.order, orderEntry{seq: seq, vidx: index, slot: slot})
			if replace {
				st.unsorted = true
			}
			if st.graph != nil {
				st.enqueueLocked(slot, index)
			}
		case opSet:
			slot, ok := st.ids[o.id]
			if !ok {
				continue
			}
			r := &st.recs[slot]
			st.pidx.Remove(slot, r.meta, r.doc)
			if o.setMeta {
				r.meta = o.meta
			}
			if o.setDoc {
				r.doc = o.doc
			}
			st.dirty.Add(slot)
			st.pidx.Add(slot, r.meta, r.doc)
		case opDel:
			if slot, ok := st.ids[o.id]; ok {
				s.removeSlotLocked(slot)
			}
		}
	}
	s.compactOrderLocked()
}

// removeSlotLocked deletes the record at slot.
// REQUIRES: mu held exclusively.
func (s *shard) removeSlotLocked(slot uint32) {
	st := &s.mu.state
	r := &st.recs[slot]
	st.pidx.Remove(slot, r.meta, r.doc)
	delete(st.ids, r.id)
	st.recs[slot] = record{}
	st.live.Remove(slot)
	st.dirty.Add(slot)
	st.stale++
	switch {
	case st.graph == nil:
		st.free = append(st.free, slot)
	case !st.pending.Contains(slot):
		st.graph.Delete(slot) // a tombstone, until repair frees the slot
	case st.inflight.Contains(slot):
		// Being inserted: tombstoned now if linked already, else by the
		// indexer once linked; freed by repair.
		st.pending.Remove(slot)
		st.graph.Delete(slot)
	default:
		st.pending.Remove(slot) // never linked: free at once
		st.free = append(st.free, slot)
	}
}

// allocSlotLocked returns a free slot, growing the slab when none is free.
// REQUIRES: mu held exclusively.
func (s *shard) allocSlotLocked() uint32 {
	st := &s.mu.state
	if n := len(st.free); n > 0 {
		slot := st.free[n-1]
		st.free = st.free[:n-1]
		return slot
	}
	slot := st.nextSlot
	st.nextSlot++
	st.vectors.Grow(int(st.nextSlot))
	if int(slot) >= len(st.recs) {
		st.recs = append(st.recs, make([]record, len(st.recs)+1024)...)
	}
	return slot
}

// compactOrderLocked restores the seq order after replacements and drops
// stale entries when they are more than half of it.
// REQUIRES: mu held exclusively.
func (s *shard) compactOrderLocked() {
	st := &s.mu.state
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

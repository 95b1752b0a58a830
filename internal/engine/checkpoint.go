package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/storage/ckpt"
	"github.com/sextantdb/sextant/internal/vec"
)

// Checkpoint files.
const (
	fileVectors = "vectors"
	fileRecords = "records"
	fileGraph   = "graph"
	filePayload = "payload" // payload indexes
	fileGuard   = "guardrails"
)

// startCheckpoint runs a checkpoint in the background unless one runs.
func (c *Collection) startCheckpoint() {
	if !c.ckptRun.CompareAndSwap(false, true) {
		return
	}
	if !c.addBackground(&c.bg) {
		c.ckptRun.Store(false)
		return // closing: the final checkpoint is the close's
	}
	go func() {
		defer c.bg.Done()
		defer c.ckptRun.Store(false)
		if err := c.checkpoint(); err != nil {
			c.log.Error("checkpoint failed", "err", err)
		}
	}()
}

// Checkpoint writes a checkpoint now and removes the WAL it covers.
func (c *Collection) Checkpoint() error {
	if err := c.checkWritable(); err != nil {
		return err
	}
	return c.checkpoint()
}

// checkpoint snapshots the state under writeMu (queries go on; writers wait
// for the in-memory copy only), writes it to disk without locks, then removes
// the WAL segments it covers. Vectors and records go into a segment holding
// only the slots changed since the last checkpoint, or every slot when
// compaction is due (docs/format/segments.md); the graph, payload indexes and
// guardrails are written whole. It holds the indexer between two of its
// graph changes (ix.quiet) meanwhile, so that the graph is serialized with
// the graph shared: queries search it meanwhile. A graph written in the
// middle of a batch holds part of it; open queues the rest again and walks
// the graph for cut-off nodes once.
func (c *Collection) checkpoint() error {
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	start := time.Now()
	full := c.compactionDue()

	c.ix.quiet.Lock()
	defer c.ix.quiet.Unlock()
	c.writeMu.Lock()
	seg, err := c.wal.Rotate()
	if err != nil {
		c.writeMu.Unlock()
		c.fail(err)
		return fmt.Errorf("rotate WAL: %w", err)
	}
	c.ckptN++
	n := c.ckptN
	c.mu.RLock()
	st := &c.mu.state
	meta := ckptMeta{Version: 2, Dim: st.dim, Slots: st.nextSlot, Seq: st.seq, WALSegment: seg,
		Applied: c.applied, Guardrails: true, Segments: c.segs}
	var sb *ckpt.SegmentBuilder
	if st.dim > 0 && (full || !st.dirty.IsEmpty()) {
		sb = snapshotSegment(st, full)
	}
	// What the snapshot holds is clean from now on; merged back if the
	// checkpoint fails.
	dirty, dirtyVec := st.dirty, st.dirtyVec
	st.dirty, st.dirtyVec = roaring.New(), roaring.New()
	files := []ckpt.File{{Name: filePayload, Data: st.pidx.AppendBinary(nil)}}
	if st.graph != nil {
		// Pending slots are not in it; open queues them again.
		meta.Graph = true
		files = append(files, ckpt.File{Name: fileGraph, Data: st.graph.AppendBinary(nil)})
	}
	c.mu.RUnlock()
	files = append(files, ckpt.File{Name: fileGuard, Data: c.mon.appendAllGuardrails(nil)})
	c.walBytes = 0
	c.writeMu.Unlock()

	if err := c.writeCheckpoint(n, &meta, sb, full, files); err != nil {
		c.mu.Lock()
		c.mu.dirty.Or(dirty)
		c.mu.dirtyVec.Or(dirtyVec)
		c.mu.Unlock()
		return fmt.Errorf("write checkpoint %d: %w", n, err)
	}
	if err := c.wal.RemoveBefore(seg); err != nil {
		return fmt.Errorf("remove WAL before segment %d: %w", seg, err)
	}
	c.ckpts.Add(1)
	c.ckptDur.Store(int64(time.Since(start)))
	c.log.Debug("checkpoint written", "n", n, "wal_segment", seg, "segments", len(c.segs), "full", full, "duration", time.Since(start))
	return nil
}

// compactionDue reports whether the next checkpoint writes a full segment:
// there is none yet, or the segments are too many or too big.
// REQUIRES: ckptMu.
func (c *Collection) compactionDue() bool {
	if len(c.segs) == 0 || len(c.segs) >= c.opts.MaxSegments {
		return true
	}
	var total int64
	for _, s := range c.segs {
		total += s.Bytes
	}
	return float64(total) >= c.opts.SegmentRatio*float64(c.segs[0].Bytes)
}

// snapshotSegment encodes the segment of a checkpoint: every slot (full) or
// the dirty ones. Its checksums are left to Finish, outside the locks.
// REQUIRES: mu held (shared is enough) and writeMu.
func snapshotSegment(st *state, full bool) *ckpt.SegmentBuilder {
	var hdr []byte
	hdr = binary.AppendUvarint(hdr, uint64(st.dim))
	hdr = binary.AppendUvarint(hdr, uint64(st.nextSlot))
	entry := func(sb *ckpt.SegmentBuilder, s uint32, withVec bool) {
		b := binary.AppendUvarint(sb.Begin(), uint64(s))
		var flags byte
		if withVec {
			flags |= segVector
		}
		live := st.live.Contains(s)
		if live {
			flags |= segRecord
		}
		b = append(b, flags)
		if withVec {
			for _, f := range st.vectors.At(s) {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			}
		}
		if live {
			b = appendRecord(b, &st.recs[s])
		}
		sb.End(b)
	}
	if full {
		sb := ckpt.NewSegmentBuilder(hdr, int(st.nextSlot)*(st.dim*4+48))
		for s := uint32(0); s < st.nextSlot; s++ {
			entry(sb, s, true)
		}
		return sb
	}
	sb := ckpt.NewSegmentBuilder(hdr, int(st.dirtyVec.GetCardinality())*st.dim*4+int(st.dirty.GetCardinality())*48)
	it := st.dirty.Iterator()
	for it.HasNext() {
		s := it.Next()
		entry(sb, s, st.dirtyVec.Contains(s))
	}
	return sb
}

// Segment entry flags (docs/format/segments.md).
const (
	segVector = 1
	segRecord = 2
)

// writeCheckpoint writes checkpoint n: segment n first (sb, nil when nothing
// changed), then the checkpoint's files and the MANIFEST naming the
// segments; once that is durable, the segments it no longer names are
// removed.
// REQUIRES: ckptMu.
func (c *Collection) writeCheckpoint(n uint64, meta *ckptMeta, sb *ckpt.SegmentBuilder, full bool, files []ckpt.File) error {
	fs, dir := c.opts.FS, c.opts.Dir
	if sb != nil {
		entries := sb.Entries()
		data := sb.Finish()
		if err := ckpt.WriteSegment(fs, dir, n, data); err != nil {
			return err
		}
		si := segInfo{N: n, Bytes: int64(len(data)), Entries: entries}
		if full {
			meta.Segments = []segInfo{si}
		} else {
			meta.Segments = append(slices.Clip(meta.Segments), si)
		}
	}
	if err := ckpt.Write(fs, dir, n, files, meta.encode()); err != nil {
		return err
	}
	c.segs = meta.Segments
	if err := ckpt.SweepSegments(fs, dir, segNumbers(c.segs)); err != nil {
		// Committed: the leftovers go at the next sweep.
		c.log.Warn("remove segments no longer in the checkpoint", "err", err)
	}
	return nil
}

func segNumbers(segs []segInfo) []uint64 {
	out := make([]uint64, len(segs))
	for i, s := range segs {
		out[i] = s.N
	}
	return out
}

// loadCheckpoint loads the newest checkpoint, if any, and returns the WAL
// segment replay starts at.
func (c *Collection) loadCheckpoint() (int, error) {
	fs, dir := c.opts.FS, c.opts.Dir
	m, ok, err := ckpt.ReadManifest(fs, dir)
	if err != nil {
		return 0, fmt.Errorf("read checkpoint manifest of %s: %w", dir, err)
	}
	if !ok {
		if err := ckpt.Sweep(fs, dir, 0); err != nil {
			return 0, err
		}
		return 0, ckpt.SweepSegments(fs, dir, nil)
	}
	if err := ckpt.Sweep(fs, dir, m.Checkpoint); err != nil {
		return 0, err
	}
	var meta ckptMeta
	if err := json.Unmarshal(m.Meta, &meta); err != nil {
		return 0, fmt.Errorf("checkpoint %d of %s: meta: %w", m.Checkpoint, dir, err)
	}
	if meta.Version != 1 && meta.Version != 2 {
		return 0, fmt.Errorf("checkpoint %d of %s: unknown version %d", m.Checkpoint, dir, meta.Version)
	}
	if err := ckpt.SweepSegments(fs, dir, segNumbers(meta.Segments)); err != nil {
		return 0, err
	}
	if c.cfg.Dim != 0 && meta.Dim != 0 && meta.Dim != c.cfg.Dim {
		return 0, fmt.Errorf("checkpoint %d of %s: dimension %d, config says %d", m.Checkpoint, dir, meta.Dim, c.cfg.Dim)
	}
	c.ckptN = m.Checkpoint
	c.applied = meta.Applied
	st := &c.mu.state
	st.seq = meta.Seq
	read := func(name string) ([]byte, error) {
		b, err := ckpt.ReadFile(fs, dir, m.Checkpoint, name)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %d of %s: %w", m.Checkpoint, dir, err)
		}
		return b, nil
	}
	guardOK := false
	if meta.Guardrails {
		// Monitor state, not data: a file that cannot be read or decoded is
		// logged and the guardrails start afresh (the baseline from the
		// stored records), rather than the collection refused.
		gb, err := read(fileGuard)
		if err == nil {
			err = c.mon.restoreGuardrails(gb)
		}
		if err != nil {
			c.log.Error("guardrail state of the checkpoint cannot be restored; the guardrails start afresh (the data are not affected)",
				"checkpoint", m.Checkpoint, "err", err)
		} else {
			guardOK = true
		}
	}
	if meta.Dim == 0 {
		return meta.WALSegment, nil
	}
	st.dim = meta.Dim
	st.vectors = vec.NewSlab(meta.Dim)
	st.vectors.Grow(int(meta.Slots))
	st.nextSlot = meta.Slots
	st.recs = make([]record, meta.Slots+1024)
	if meta.Version == 1 {
		if err := c.loadFiles(m.Checkpoint, meta, read); err != nil {
			return 0, err
		}
		// No segment holds any of it yet: the next checkpoint writes
		// them all (it is a full one, there being no segments).
		st.dirty.AddRange(0, uint64(meta.Slots))
		st.dirtyVec.AddRange(0, uint64(meta.Slots))
	} else {
		if err := c.loadSegments(meta); err != nil {
			return 0, fmt.Errorf("checkpoint %d of %s: %w", m.Checkpoint, dir, err)
		}
		c.segs = meta.Segments
	}
	lit := st.live.Iterator()
	for lit.HasNext() {
		s := lit.Next()
		r := &st.recs[s]
		if _, dup := st.ids[r.id]; dup {
			return 0, fmt.Errorf("checkpoint %d of %s: id %q appears twice", m.Checkpoint, dir, r.id)
		}
		if c.cfg.Metric != vec.Cosine {
			// The norm of a vector stored as given (checkpoints of the
			// first format hold 1 there).
			r.norm = float32(vec.Norm(st.vectors.At(s)))
		}
		st.ids[r.id] = s
		st.order = append(st.order, orderEntry{seq: r.seq, vidx: r.vidx, slot: s})
	}
	st.unsorted = true
	c.compactOrderLocked()
	pb, err := read(filePayload)
	if err != nil {
		return 0, err
	}
	st.pidx, err = filter.DecodeIndex(pb, c.indexOptions())
	switch {
	case errors.Is(err, filter.ErrSkipKeysChanged):
		// Keys that were not indexed must be now: rebuild from the records.
		st.pidx = filter.NewIndex(c.indexOptions())
		it := st.live.Iterator()
		for it.HasNext() {
			s := it.Next()
			st.pidx.Add(s, st.recs[s].meta, st.recs[s].doc)
		}
	case err != nil:
		return 0, fmt.Errorf("checkpoint %d of %s: payload index: %w", m.Checkpoint, dir, err)
	}
	if meta.Graph {
		gb, err := read(fileGraph)
		if err != nil {
			return 0, err
		}
		g, err := hnsw.Decode(gb, c.hnswConfig(), st.vectors)
		if err != nil {
			return 0, fmt.Errorf("checkpoint %d of %s: graph: %w", m.Checkpoint, dir, err)
		}
		st.graph = g
	}
	// Free slots: those below Slots that hold no record and are not in the
	// graph (tombstoned nodes come back from graph repair). A node whose
	// record is gone (deleted while the indexer linked it) is tombstoned;
	// a live slot not in the graph is pending (the indexer links it).
	all := roaring.New()
	all.AddRange(0, uint64(meta.Slots))
	all.AndNot(st.live)
	it := all.Iterator()
	for it.HasNext() {
		s := it.Next()
		switch {
		case st.graph == nil || !st.graph.Contains(s) && !st.graph.Tombstoned(s):
			st.free = append(st.free, s)
		case st.graph.Contains(s):
			st.graph.Delete(s)
		}
	}
	if st.graph != nil {
		it := st.live.Iterator()
		for it.HasNext() {
			s := it.Next()
			switch {
			case st.graph.Tombstoned(s):
				return 0, fmt.Errorf("checkpoint %d of %s: live record %q is a deleted node of the graph", m.Checkpoint, dir, st.recs[s].id)
			case !st.graph.Contains(s):
				st.enqueueLocked(s, meta.Applied)
			}
		}
		// Written mid-build: still building. Written between a batch and
		// its reachability walk: walk once.
		st.building = 2*int(st.pending.GetCardinality()) > int(st.live.GetCardinality())
		c.ix.reach.Store(true)
	}
	if !guardOK {
		c.seedBaseline()
	}
	return meta.WALSegment, nil
}

// loadFiles loads the vectors and records files of a checkpoint of the first
// format (meta version 1) into the state, sized by the caller.
// REQUIRES: exclusive access during Open.
func (c *Collection) loadFiles(n uint64, meta ckptMeta, read func(string) ([]byte, error)) error {
	st := &c.mu.state
	dir := c.opts.Dir
	vb, err := read(fileVectors)
	if err != nil {
		return err
	}
	if len(vb) != int(meta.Slots)*meta.Dim*4 {
		return fmt.Errorf("checkpoint %d of %s: vectors file has %d bytes, want %d", n, dir, len(vb), int(meta.Slots)*meta.Dim*4)
	}
	for s := uint32(0); s < meta.Slots; s++ {
		v := st.vectors.At(s)
		off := int(s) * meta.Dim * 4
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(vb[off+4*j:]))
		}
	}
	rb, err := read(fileRecords)
	if err != nil {
		return err
	}
	recs, err := decodeRecords(rb, meta.Slots)
	if err != nil {
		return fmt.Errorf("checkpoint %d of %s: %w", n, dir, err)
	}
	for _, d := range recs {
		if st.live.Contains(d.slot) {
			return fmt.Errorf("checkpoint %d of %s: slot %d appears twice", n, dir, d.slot)
		}
		st.recs[d.slot] = d.rec
		st.live.Add(d.slot)
	}
	return nil
}

// loadSegments applies the segments of a checkpoint to the state, sized by
// the caller, in order, reading each a block at a time.
// REQUIRES: exclusive access during Open.
func (c *Collection) loadSegments(meta ckptMeta) error {
	for i, si := range meta.Segments {
		if err := c.loadSegment(meta, si, i == 0); err != nil {
			return err
		}
	}
	return nil
}

func (c *Collection) loadSegment(meta ckptMeta, si segInfo, first bool) error {
	st := &c.mu.state
	r, err := ckpt.OpenSegment(c.opts.FS, c.opts.Dir, si.N)
	if err != nil {
		return err
	}
	defer r.Close()
	if r.Size() != si.Bytes || r.Entries() != si.Entries {
		return r.Corrupt(0, fmt.Sprintf("segment has %d bytes and %d entries, the manifest says %d and %d", r.Size(), r.Entries(), si.Bytes, si.Entries))
	}
	h := payload.Reader{B: r.Meta()}
	dim, slots := h.Uvarint(), h.Uvarint()
	switch {
	case h.Err != nil || len(h.B) != 0:
		return r.Corrupt(0, "bad header meta")
	case dim != uint64(meta.Dim) || slots > uint64(meta.Slots):
		return r.Corrupt(0, fmt.Sprintf("segment of dimension %d and %d slots in a checkpoint of dimension %d and %d slots", dim, slots, meta.Dim, meta.Slots))
	case first && r.Entries() != slots:
		return r.Corrupt(0, fmt.Sprintf("first segment has %d entries, not one per slot (%d)", r.Entries(), slots))
	}
	vbytes := 4 * meta.Dim
	for {
		b, k, off, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		e := payload.Reader{B: b}
		for j := range k {
			s := e.Uvarint()
			flags := e.Byte()
			switch {
			case e.Err != nil:
				return r.Corrupt(off, fmt.Sprintf("entry %d of the block: %v", j, e.Err))
			case s >= slots:
				return r.Corrupt(off, fmt.Sprintf("entry %d of the block: slot %d out of range %d", j, s, slots))
			case flags&^(segVector|segRecord) != 0:
				return r.Corrupt(off, fmt.Sprintf("entry %d of the block: unknown flags %#x", j, flags))
			}
			slot := uint32(s)
			if flags&segVector != 0 {
				if len(e.B) < vbytes {
					return r.Corrupt(off, fmt.Sprintf("entry %d of the block: vector cut short", j))
				}
				v := st.vectors.At(slot)
				for x := range v {
					v[x] = math.Float32frombits(binary.LittleEndian.Uint32(e.B[4*x:]))
				}
				e.B = e.B[vbytes:]
			}
			if flags&segRecord == 0 {
				st.recs[slot] = record{}
				st.live.Remove(slot)
				continue
			}
			rec := readRecord(&e)
			if e.Err != nil {
				return r.Corrupt(off, fmt.Sprintf("entry %d of the block: record: %v", j, e.Err))
			}
			st.recs[slot] = rec
			st.live.Add(slot)
		}
		if len(e.B) != 0 {
			return r.Corrupt(off, fmt.Sprintf("%d bytes after the block's %d entries", len(e.B), k))
		}
	}
}

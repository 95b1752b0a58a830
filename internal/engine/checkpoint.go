package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/index/hnsw"
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
// the WAL segments it covers. It holds the indexer between two of its
// graph changes (ix.quiet) meanwhile, so that the graph is serialized with
// the graph shared: queries search it meanwhile. A graph written in the
// middle of a batch holds part of it; open queues the rest again and walks
// the graph for cut-off nodes once.
func (c *Collection) checkpoint() error {
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	start := time.Now()

	c.ix.quiet.Lock()
	defer c.ix.quiet.Unlock()
	c.writeMu.Lock()
	seg, err := c.wal.Rotate()
	if err != nil {
		c.writeMu.Unlock()
		c.fail(err)
		return fmt.Errorf("rotate WAL: %w", err)
	}
	c.mu.RLock()
	st := &c.mu.state
	meta := ckptMeta{Version: 1, Dim: st.dim, Slots: st.nextSlot, Seq: st.seq, WALSegment: seg,
		Applied: c.applied, Guardrails: true}
	files := []ckpt.File{{Name: fileRecords, Data: encodeRecords(nil, st)}}
	vb := make([]byte, 0, int(st.nextSlot)*st.dim*4)
	for s := uint32(0); s < st.nextSlot; s++ {
		for _, f := range st.vectors.At(s) {
			vb = binary.LittleEndian.AppendUint32(vb, math.Float32bits(f))
		}
	}
	files = append(files, ckpt.File{Name: fileVectors, Data: vb})
	files = append(files, ckpt.File{Name: filePayload, Data: st.pidx.AppendBinary(nil)})
	if st.graph != nil {
		// Pending slots are not in it; open queues them again.
		meta.Graph = true
		files = append(files, ckpt.File{Name: fileGraph, Data: st.graph.AppendBinary(nil)})
	}
	c.mu.RUnlock()
	files = append(files, ckpt.File{Name: fileGuard, Data: c.mon.appendAllGuardrails(nil)})
	c.ckptN++
	n := c.ckptN
	c.walBytes = 0
	c.writeMu.Unlock()

	if err := ckpt.Write(c.opts.FS, c.opts.Dir, n, files, meta.encode()); err != nil {
		return fmt.Errorf("write checkpoint %d: %w", n, err)
	}
	if err := c.wal.RemoveBefore(seg); err != nil {
		return fmt.Errorf("remove WAL before segment %d: %w", seg, err)
	}
	c.ckpts.Add(1)
	c.ckptDur.Store(int64(time.Since(start)))
	c.log.Debug("checkpoint written", "n", n, "wal_segment", seg, "duration", time.Since(start))
	return nil
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
		return 0, ckpt.Sweep(fs, dir, 0)
	}
	if err := ckpt.Sweep(fs, dir, m.Checkpoint); err != nil {
		return 0, err
	}
	var meta ckptMeta
	if err := json.Unmarshal(m.Meta, &meta); err != nil {
		return 0, fmt.Errorf("checkpoint %d of %s: meta: %w", m.Checkpoint, dir, err)
	}
	if meta.Version != 1 {
		return 0, fmt.Errorf("checkpoint %d of %s: unknown version %d", m.Checkpoint, dir, meta.Version)
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
	vb, err := read(fileVectors)
	if err != nil {
		return 0, err
	}
	if len(vb) != int(meta.Slots)*meta.Dim*4 {
		return 0, fmt.Errorf("checkpoint %d of %s: vectors file has %d bytes, want %d", m.Checkpoint, dir, len(vb), int(meta.Slots)*meta.Dim*4)
	}
	st.vectors.Grow(int(meta.Slots))
	for s := uint32(0); s < meta.Slots; s++ {
		v := st.vectors.At(s)
		off := int(s) * meta.Dim * 4
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(vb[off+4*j:]))
		}
	}
	rb, err := read(fileRecords)
	if err != nil {
		return 0, err
	}
	recs, err := decodeRecords(rb, meta.Slots)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %d of %s: %w", m.Checkpoint, dir, err)
	}
	st.nextSlot = meta.Slots
	st.recs = make([]record, meta.Slots+1024)
	for _, d := range recs {
		if st.live.Contains(d.slot) {
			return 0, fmt.Errorf("checkpoint %d of %s: slot %d appears twice", m.Checkpoint, dir, d.slot)
		}
		if _, dup := st.ids[d.rec.id]; dup {
			return 0, fmt.Errorf("checkpoint %d of %s: id %q appears twice", m.Checkpoint, dir, d.rec.id)
		}
		if c.cfg.Metric != vec.Cosine {
			// The norm of a vector stored as given (checkpoints of the
			// first format hold 1 there).
			d.rec.norm = float32(vec.Norm(st.vectors.At(d.slot)))
		}
		st.recs[d.slot] = d.rec
		st.ids[d.rec.id] = d.slot
		st.live.Add(d.slot)
		st.order = append(st.order, orderEntry{seq: d.rec.seq, vidx: d.rec.vidx, slot: d.slot})
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
		for _, d := range recs {
			st.pidx.Add(d.slot, d.rec.meta, d.rec.doc)
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

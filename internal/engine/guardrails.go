package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sextantdb/sextant/internal/monitor"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/storage/wal"
	"github.com/sextantdb/sextant/internal/vec"
)

// The guardrail state (what the operator was told: open findings and how
// they were resolved, drift baselines, the recall estimator's window, the
// autopilot's ef with its history and the degraded state, the metric check)
// is durable, in the same log as the data (docs/format/guardrails.md):
//
//   - the checkpoint holds all of it, as of the checkpoint's last record
//     (file "guardrails");
//   - write batches are replayed through drift detection and the ledger in
//     log order (observeWrite), so the baselines and write findings after the
//     checkpoint are rebuilt, with the batches' own times and indexes;
//   - what queries and the monitor change is appended to the WAL as a
//     guardrail record holding the sections changed since the last one: at
//     once (and synced) when a finding opens or resolves, ef or the degraded
//     state changes, or an operator acts; otherwise (new recall samples,
//     metric-check samples, a finding seen again) at most every
//     persistInterval, and then only when the change is material (below).
//     A kill -9 loses at most that much of the latter.
//
// Material, for a non-urgent change: something other than the monitor's
// idle probes happened since the last record (monitorSet.activity: a
// command written, a graph repair, a sampled live query re-run, an
// on-demand measurement, a probe while records waited for the indexer; or
// queries changed the query side of drift), or the metric check's verdict
// changed, or the recall window gets its first sample. What is left out is
// an idle collection's probes re-measuring a graph and data that have not
// changed since the last record — the same quantity, estimated again, and a
// finding they raise again (its count and last-seen time): written with
// the next record, checkpoint or clean close, and on a kill -9 measured
// anew after the restart. So a collection that nobody writes to or queries
// appends no record at all (its WAL does not grow, and no checkpoint
// follows), while everything an operator acts on (findings, ef, auto_ef,
// degraded, the metric verdict) is still durable at once or within
// persistInterval. A rule on the estimate's value ("changed beyond
// rounding") would not do: the estimate of a fixed graph wanders by its
// sampling noise, and the records would follow the noise.
//
// Replay applies the sections in log order; the last state wins.

// persistInterval bounds how long non-urgent guardrail changes stay only in
// memory.
const persistInterval = 30 * time.Second

// Section tags of guardrail state (checkpoint file and WAL records).
const (
	secDrift       = 1 // whole drift state (checkpoint; after a baseline reset)
	secRecall      = 2 // recall samples (all in a checkpoint, the new ones in a record)
	secAutopilot   = 3
	secLedger      = 4
	secMetricCheck = 5
	secDriftQuery  = 6 // the query side of drift: result-distance histogram, nearest-distance baseline
)

// savedState is what the last guardrail record (or checkpoint) covered.
type savedState struct {
	at         time.Time
	ledger     uint64 // Ledger.Version
	ledgerOpen uint64 // Ledger.OpenVersion
	autopilot  uint64 // Autopilot.Version
	metric     uint64 // MetricCheck.Version
	recallSeq  uint64 // RecallEstimator.Seq
	driftQuery uint64 // Drift.QueryVersion
	driftReset bool   // the baseline was reset since
	activity   uint64 // monitorSet.activity
	verdict    string // MetricCheck.Verdict
}

func appendSection(dst []byte, tag byte, body []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// appendAllGuardrails appends every section: the checkpoint's guardrail file.
func (m *monitorSet) appendAllGuardrails(dst []byte) []byte {
	dst = appendSection(dst, secDrift, m.drift.AppendState(nil))
	dst = appendSection(dst, secRecall, m.est.AppendState(nil))
	dst = appendSection(dst, secAutopilot, m.ap.AppendState(nil))
	dst = appendSection(dst, secLedger, m.ledger.AppendState(nil))
	return appendSection(dst, secMetricCheck, m.metric.AppendState(nil))
}

// restoreGuardrails applies sections read from a checkpoint or a WAL record.
// A section that does not decode leaves its piece as it was; the others are
// applied, and the errors returned together.
func (m *monitorSet) restoreGuardrails(b []byte) error {
	r := payload.Reader{B: b}
	var errList []error
	for len(r.B) > 0 {
		tag := r.Byte()
		body := r.Bytes(r.Uvarint())
		if r.Err != nil {
			return fmt.Errorf("guardrail section: %w", monitor.ErrCorruptState)
		}
		var err error
		switch tag {
		case secDrift:
			err = m.drift.RestoreState(body)
		case secRecall:
			err = m.est.RestoreState(body)
		case secAutopilot:
			err = m.ap.RestoreState(body)
		case secLedger:
			err = m.ledger.RestoreState(body)
		case secMetricCheck:
			err = m.metric.RestoreState(body)
		case secDriftQuery:
			err = m.drift.RestoreQueryState(body)
		default:
			// A section of a newer version: skip it rather than refuse the
			// collection (it is monitor state, not data).
			continue
		}
		if err != nil {
			errList = append(errList, fmt.Errorf("guardrail section %d: %w", tag, err))
		}
	}
	return errors.Join(errList...)
}

// versions captures the pieces' versions now.
func (m *monitorSet) versions(at time.Time) savedState {
	return savedState{at: at, ledger: m.ledger.Version(), ledgerOpen: m.ledger.OpenVersion(),
		autopilot: m.ap.Version(), metric: m.metric.Version(), recallSeq: m.est.Seq(), driftQuery: m.drift.QueryVersion(),
		activity: m.activity.Load(), verdict: m.metric.Verdict()}
}

// markSaved records that the state as it is now is durable.
func (m *monitorSet) markSaved(at time.Time) { m.saved = m.versions(at) }

// changed compares the versions captured in next with the last saved ones:
// whether anything changed, and whether a change is urgent.
func (m *monitorSet) changed(next savedState) (dirty, urgent bool) {
	s := &m.saved
	urgent = s.driftReset || next.autopilot != s.autopilot || next.ledgerOpen != s.ledgerOpen
	dirty = urgent || next.recallSeq != s.recallSeq || next.ledger != s.ledger || next.metric != s.metric ||
		next.driftQuery != s.driftQuery
	return dirty, urgent
}

// material reports whether a non-urgent change captured in next is worth a
// record of its own (see the top of this file): something other than the
// idle probes happened, or the metric verdict changed, or the recall window
// gets its first sample.
func (m *monitorSet) material(next savedState) bool {
	s := &m.saved
	return next.activity != s.activity || next.driftQuery != s.driftQuery || next.verdict != s.verdict ||
		s.recallSeq == 0 && next.recallSeq != 0
}

// changedSections appends the sections changed between the last save and
// next (versions captured before this call: each piece's state is read
// after its version, so what is written holds at least what next says, and
// a change made meanwhile is written again next time, never skipped; the
// recall samples are deduplicated by sequence number on restore).
func (m *monitorSet) changedSections(dst []byte, next savedState) []byte {
	s := &m.saved
	if s.driftReset {
		dst = appendSection(dst, secDrift, m.drift.AppendState(nil))
	} else if next.driftQuery != s.driftQuery {
		dst = appendSection(dst, secDriftQuery, m.drift.AppendQueryState(nil))
	}
	if next.recallSeq != s.recallSeq {
		dst = appendSection(dst, secRecall, m.est.AppendSamplesSince(nil, s.recallSeq))
	}
	if next.autopilot != s.autopilot {
		dst = appendSection(dst, secAutopilot, m.ap.AppendState(nil))
	}
	if next.ledger != s.ledger || next.ledgerOpen != s.ledgerOpen {
		dst = appendSection(dst, secLedger, m.ledger.AppendState(nil))
	}
	if next.metric != s.metric {
		dst = appendSection(dst, secMetricCheck, m.metric.AppendState(nil))
	}
	return dst
}

// persistGuardrails appends a guardrail record with the sections changed
// since the last one and waits until it is durable: always when force,
// otherwise when a change is urgent, or material and the last save is
// persistInterval old.
// It does nothing on a read-only (failed) collection; it runs while the
// collection closes (the final record), so public callers check
// checkWritable first.
func (c *Collection) persistGuardrails(force bool) error {
	c.writeMu.Lock()
	pos, ok, err := c.appendGuardrailsLocked(force)
	c.writeMu.Unlock()
	if err != nil || !ok {
		return err
	}
	if err := c.wal.Sync(pos); err != nil {
		c.fail(err)
		return fmt.Errorf("sync WAL: %w", err)
	}
	return nil
}

// appendGuardrailsLocked is persistGuardrails without the sync; ok reports
// whether a record was appended. It runs on a closing collection too (its
// final record, before the final checkpoint), not on a failed one.
// REQUIRES: writeMu held.
func (c *Collection) appendGuardrailsLocked(force bool) (wal.Pos, bool, error) {
	if c.failed.Load() != nil || c.wal == nil {
		return wal.Pos{}, false, nil
	}
	now := c.mon.opts.Clock()
	next := c.mon.versions(now)
	anyChange, urgent := c.mon.changed(next)
	if !anyChange || !force && !urgent && (now.Sub(c.mon.saved.at) < persistInterval || !c.mon.material(next)) {
		return wal.Pos{}, false, nil
	}
	sections := c.mon.changedSections(nil, next)
	rec := appendGuardrailRecord(nil, c.applied+1, now.UnixNano(), sections)
	pos, err := c.wal.Append(rec)
	if err != nil {
		c.fail(err)
		return wal.Pos{}, false, fmt.Errorf("write WAL: %w", err)
	}
	c.applied++
	c.walBytes += int64(len(rec))
	c.mon.saved = next
	if c.walBytes >= c.opts.CheckpointBytes {
		c.startCheckpoint()
	}
	return pos, true, nil
}

// Acknowledge resolves the open findings with the given codes (with all,
// every open finding) as acknowledged by who, durably, and returns them.
// With resetBaseline the drift baselines are forgotten too (after a
// deliberate model change: the next vectors written build new ones).
func (c *Collection) Acknowledge(codes []string, all, resetBaseline bool, who string) ([]monitor.ResolvedFinding, error) {
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	c.writeMu.Lock()
	now := c.mon.opts.Clock()
	res := c.mon.ledger.Acknowledge(codes, all, now, who)
	if resetBaseline {
		c.mon.drift.ResetBaseline()
		c.mon.saved.driftReset = true
	}
	pos, ok, err := c.appendGuardrailsLocked(true)
	c.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	if ok {
		if err := c.wal.Sync(pos); err != nil {
			c.fail(err)
			return nil, fmt.Errorf("sync WAL: %w", err)
		}
	}
	for _, r := range res {
		c.log.Info("guardrail finding acknowledged", "code", r.Code, "by", who, "first_seen", r.FirstSeen)
	}
	if resetBaseline {
		c.log.Info("drift baselines reset", "by", who)
	}
	return res, nil
}

// seedBaseline builds the drift baseline from the stored records, for a
// checkpoint written before guardrail state was saved (the vectors as given
// are the stored ones times the record's norm under cosine).
// REQUIRES: exclusive access during Open.
func (c *Collection) seedBaseline() {
	st := &c.mu.state
	if st.vectors == nil || st.live.IsEmpty() {
		return
	}
	const chunk = 4096
	batch := make([][]float32, 0, chunk)
	var buf []float32 // the vectors as given, under cosine: one buffer per chunk, reused
	if c.cfg.Metric == vec.Cosine {
		buf = make([]float32, chunk*st.dim)
	}
	flush := func() {
		c.mon.drift.Absorb(batch)
		batch = batch[:0]
	}
	it := st.live.Iterator()
	for it.HasNext() {
		s := it.Next()
		v := st.vectors.At(s)
		if buf != nil {
			raw := buf[len(batch)*st.dim : (len(batch)+1)*st.dim]
			n := st.recs[s].norm
			for i, x := range v {
				raw[i] = x * n
			}
			v = raw
		}
		batch = append(batch, v)
		if len(batch) == chunk {
			flush()
		}
	}
	flush()
	c.log.Info("drift baseline seeded from the stored records (checkpoint without guardrail state)",
		"records", st.live.GetCardinality())
}

// metricTopK is a tiny top-k of (distance, slot), nearest first.
type metricTopK struct {
	k   int
	ns  []vec.Neighbor
	max float32
}

func (t *metricTopK) offer(slot uint32, d float32) {
	if len(t.ns) == t.k && d >= t.max {
		return
	}
	i := len(t.ns)
	if i < t.k {
		t.ns = append(t.ns, vec.Neighbor{})
	} else {
		i--
	}
	for i > 0 && t.ns[i-1].Dist > d {
		t.ns[i] = t.ns[i-1]
		i--
	}
	t.ns[i] = vec.Neighbor{Slot: slot, Dist: d}
	t.max = t.ns[len(t.ns)-1].Dist
}

// overlap is the share of a's slots (up to k) that b holds.
func overlap(a, b []vec.Neighbor, k int) float64 {
	n := min(k, len(a))
	if n == 0 {
		return math.NaN()
	}
	hit := 0
	for _, x := range a[:n] {
		for _, y := range b[:min(k, len(b))] {
			if x.Slot == y.Slot {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(n)
}

// metricScanChunk: slots scanned per hold of the collection's read lock, so
// that a pass over a large collection never holds writers for long.
const metricScanChunk = 16384

// metricProbe takes one metric-check sample when it is due and the budget
// allows: a random stored vector is run as a query against every live record
// under cosine, l2 and ip (one dot product per record gives all three), and
// the overlap of the collection metric's exact top-k with the others' is
// recorded, with the norms of every live record.
func (c *Collection) metricProbe() {
	m := c.mon
	c.mu.RLock()
	live, next := int(c.mu.live.GetCardinality()), c.mu.nextSlot
	c.mu.RUnlock()
	if !m.metric.Due(m.opts.Clock(), live) || !m.samp.Reserve() {
		return
	}
	start := time.Now()
	k := m.metric.K()
	c.mu.RLock()
	slot, err := c.mu.live.Select(uint32(m.rng.IntN(live)))
	if err != nil || c.mu.vectors == nil {
		c.mu.RUnlock()
		m.samp.Done(time.Since(start))
		return
	}
	q := append([]float32(nil), c.mu.vectors.At(slot)...)
	rq := float64(c.mu.recs[slot].norm)
	c.mu.RUnlock()
	cosine := c.cfg.Metric == vec.Cosine
	tops := [3]metricTopK{{k: k}, {k: k}, {k: k}} // cosine, l2, ip; the query itself left out
	var norms struct {
		n, mean, m2, min, max float64
		unit                  int
	}
	norms.min, norms.max = math.Inf(1), math.Inf(-1)
	for lo := uint32(0); lo < next; lo += metricScanChunk {
		hi := min(lo+metricScanChunk, next)
		c.mu.RLock()
		st := &c.mu.state
		it := st.live.Iterator()
		it.AdvanceIfNeeded(lo)
		for it.HasNext() {
			s := it.PeekNext()
			if s >= hi {
				break
			}
			it.Next()
			rx := float64(st.recs[s].norm)
			d := float64(vec.Dot(q, st.vectors.At(s)))
			var cos, dot float64
			if cosine {
				cos, dot = d, d*rq*rx
			} else {
				dot = d
				if rq > 0 && rx > 0 {
					cos = d / (rq * rx)
				}
			}
			if s != slot {
				tops[0].offer(s, float32(1-cos))
				tops[1].offer(s, float32(rq*rq+rx*rx-2*dot))
				tops[2].offer(s, float32(1-dot))
			}
			norms.n++
			delta := rx - norms.mean
			norms.mean += delta / norms.n
			norms.m2 += delta * (rx - norms.mean)
			norms.min, norms.max = min(norms.min, rx), max(norms.max, rx)
			if math.Abs(rx-1) <= 1e-3 {
				norms.unit++
			}
		}
		c.mu.RUnlock()
	}
	m.samp.Done(time.Since(start))
	own := map[vec.Metric]int{vec.Cosine: 0, vec.L2: 1, vec.IP: 2}[c.cfg.Metric]
	smp := monitor.MetricSample{Cosine: math.NaN(), L2: math.NaN(), IP: math.NaN(), Components: len(q)}
	for i, dst := range []*float64{&smp.Cosine, &smp.L2, &smp.IP} {
		if i != own {
			*dst = overlap(tops[own].ns, tops[i].ns, k)
		}
	}
	for _, x := range q {
		if x < 0 {
			smp.Negative++
		}
	}
	ns := monitor.NormSummary{Count: int(norms.n), Mean: norms.mean, Min: norms.min, Max: norms.max, FromCollection: true}
	if norms.n > 1 {
		ns.Std = math.Sqrt(norms.m2 / (norms.n - 1))
	}
	if norms.n > 0 {
		ns.UnitShare = float64(norms.unit) / norms.n
	}
	now := m.opts.Clock()
	c.judge(m.metric.Observe(smp, ns, c.cfg.Metric, now), now, nil)
}

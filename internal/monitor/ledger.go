package monitor

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of LedgerOptions.
const (
	// A write finding (not_normalized, norm_shift, direction_shift) is
	// resolved once DefaultResolveBatches later batches holding at least
	// DefaultResolveVectors vectors were judged by its rule and passed.
	DefaultResolveVectors = 200
	DefaultResolveBatches = 2
	// DefaultResolvedKept: resolved findings kept for the health document.
	DefaultResolvedKept = 32
)

// LedgerOptions configure a Ledger. Zero fields take the defaults.
type LedgerOptions struct {
	ResolveVectors int
	ResolveBatches int
	ResolvedKept   int
}

func (o LedgerOptions) ensureDefaults() LedgerOptions {
	if o.ResolveVectors <= 0 {
		o.ResolveVectors = DefaultResolveVectors
	}
	if o.ResolveBatches <= 0 {
		o.ResolveBatches = DefaultResolveBatches
	}
	if o.ResolvedKept <= 0 {
		o.ResolvedKept = DefaultResolvedKept
	}
	return o
}

// BatchRef names the write batch that raised a finding: its index in the
// collection's log, when it was written, how many vectors it held and its
// first and last ids, so that an operator can find the job that wrote it.
type BatchRef struct {
	Index   uint64    `json:"index"`
	At      time.Time `json:"at"`
	Vectors int       `json:"vectors"`
	FirstID string    `json:"first_id"`
	LastID  string    `json:"last_id"`
}

// OpenFinding is a finding that has not been resolved: the latest figures,
// when it was first and last raised, how often, and the batches (for write
// findings) that first and last raised it. Evidence counts what was judged
// clean by its rule since it was last raised.
type OpenFinding struct {
	Finding
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
	Batch     *BatchRef `json:"batch,omitempty"`      // the batch that first raised it
	LastBatch *BatchRef `json:"last_batch,omitempty"` // the batch that last raised it
	// Evidence: units (vectors, queries, distances, checks) and
	// observations (batches, windows, checks) judged clean since LastSeen.
	EvidenceUnits int `json:"evidence_units"`
	EvidenceObs   int `json:"evidence_observations"`
}

// ResolvedFinding is a finding that was resolved, by evidence or by an
// operator, with when and how.
type ResolvedFinding struct {
	OpenFinding
	ResolvedAt time.Time `json:"resolved_at"`
	Resolution string    `json:"resolution"`
}

// Ledger keeps a collection's open findings and resolves them only on
// evidence (the rule that raised a finding judged later data and found it
// within bounds) or on an operator's acknowledgement — never because time
// passed or the process restarted. Its state is saved with AppendState.
//
// Resolution rules: a write finding resolves after ResolveBatches clean
// batches holding ResolveVectors vectors; a query or result-distance finding
// after one clean window; metric_mismatch after one clean metric check. An
// acknowledged metric_mismatch is not raised again until a metric check
// passes (its verdict is about the data as a whole, so it would be raised
// on every check); other codes are raised again by new evidence.
//
// Ledger is safe for concurrent use.
type Ledger struct {
	opts LedgerOptions
	mu   struct {
		sync.Mutex
		open     map[string]*OpenFinding
		resolved []ResolvedFinding // oldest first
		muted    map[string]bool   // acknowledged codes not raised again until clean
		version  uint64            // any change
		openVer  uint64            // a finding opened, resolved or acknowledged
	}
}

// NewLedger returns an empty ledger.
func NewLedger(opts LedgerOptions) *Ledger {
	l := &Ledger{opts: opts.ensureDefaults()}
	l.mu.open = map[string]*OpenFinding{}
	l.mu.muted = map[string]bool{}
	return l
}

// writeCodes are the findings raised by write batches.
var writeCodes = map[string]bool{CodeNotNormalized: true, CodeNormShift: true, CodeDirectionShift: true}

// stickyCodes are muted by an acknowledgement until their rule passes.
var stickyCodes = map[string]bool{CodeMetricMismatch: true}

// Raise records a finding raised at time at (by batch, for write findings;
// nil otherwise). It reports whether the finding is newly open (the caller
// logs it once). A muted code is not opened.
func (l *Ledger) Raise(f Finding, at time.Time, batch *BatchRef) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.muted[f.Code] {
		return false
	}
	l.mu.version++
	o := l.mu.open[f.Code]
	if o == nil {
		o = &OpenFinding{FirstSeen: at, Batch: batch}
		l.mu.open[f.Code] = o
		l.mu.openVer++
	}
	severityUp := f.Severity > o.Severity
	if f.Figures == nil {
		f.Figures = map[string]float64{}
	}
	o.Finding, o.LastSeen, o.LastBatch = f, at, batch
	o.Count++
	o.EvidenceUnits, o.EvidenceObs = 0, 0
	if severityUp {
		l.mu.openVer++
	}
	return o.Count == 1
}

// Clean records that the rule of code judged units (vectors, queries, ...)
// at time at and found them within bounds. It returns the finding it
// resolved, if the evidence now suffices.
func (l *Ledger) Clean(code string, units int, at time.Time) (ResolvedFinding, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if stickyCodes[code] && l.mu.muted[code] {
		delete(l.mu.muted, code)
		l.mu.version++
	}
	o := l.mu.open[code]
	if o == nil {
		return ResolvedFinding{}, false
	}
	l.mu.version++
	o.EvidenceUnits += units
	o.EvidenceObs++
	if writeCodes[code] && (o.EvidenceObs < l.opts.ResolveBatches || o.EvidenceUnits < l.opts.ResolveVectors) {
		return ResolvedFinding{}, false
	}
	what := "window"
	switch {
	case writeCodes[code]:
		what = "batch"
	case code == CodeMetricMismatch:
		what = "metric check"
	}
	r := l.resolveLocked(code, at, fmt.Sprintf("evidence: %d later %s(es) (%d judged) within bounds", o.EvidenceObs, what, o.EvidenceUnits))
	return r, true
}

// Acknowledge resolves the open findings with the given codes (or, with
// all, every open finding) as acknowledged by who, and returns them.
func (l *Ledger) Acknowledge(codes []string, all bool, at time.Time, who string) []ResolvedFinding {
	l.mu.Lock()
	defer l.mu.Unlock()
	if all {
		codes = codes[:0:0]
		for c := range l.mu.open {
			codes = append(codes, c)
		}
		slices.Sort(codes)
	}
	var out []ResolvedFinding
	for _, c := range codes {
		if _, ok := l.mu.open[c]; !ok {
			continue
		}
		if stickyCodes[c] {
			l.mu.muted[c] = true
		}
		out = append(out, l.resolveLocked(c, at, "acknowledged by "+who))
	}
	return out
}

// resolveLocked moves the open finding of code to the resolved list.
// REQUIRES: mu held; code open.
func (l *Ledger) resolveLocked(code string, at time.Time, how string) ResolvedFinding {
	r := ResolvedFinding{OpenFinding: *l.mu.open[code], ResolvedAt: at, Resolution: how}
	delete(l.mu.open, code)
	if len(l.mu.resolved) >= l.opts.ResolvedKept {
		l.mu.resolved = slices.Delete(l.mu.resolved, 0, len(l.mu.resolved)-l.opts.ResolvedKept+1)
	}
	l.mu.resolved = append(l.mu.resolved, r)
	l.mu.version++
	l.mu.openVer++
	return r
}

// Open returns the open findings, most severe first, then by code.
func (l *Ledger) Open() []OpenFinding {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]OpenFinding, 0, len(l.mu.open))
	for _, o := range l.mu.open {
		c := *o
		c.Figures = cloneFigures(o.Figures)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b OpenFinding) int {
		if a.Severity != b.Severity {
			return int(b.Severity) - int(a.Severity)
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out
}

// Resolved returns the resolved findings kept, oldest first.
func (l *Ledger) Resolved() []ResolvedFinding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.resolved)
}

// Muted returns the acknowledged codes not raised again until their rule
// passes.
func (l *Ledger) Muted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for c := range l.mu.muted {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Version counts every change; OpenVersion only the changes of which
// findings are open (and their severity): those are persisted at once.
func (l *Ledger) Version() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.version
}

// OpenVersion: see Version.
func (l *Ledger) OpenVersion() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.openVer
}

func cloneFigures(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func appendBatchRef(dst []byte, b *BatchRef) []byte {
	if b == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, b.Index)
	dst = appendTime(dst, b.At)
	dst = binary.AppendUvarint(dst, uint64(b.Vectors))
	return appendStr(appendStr(dst, b.FirstID), b.LastID)
}

func (r *reader) batchRef() *BatchRef {
	if !r.bool() {
		return nil
	}
	return &BatchRef{Index: r.Uvarint(), At: r.time(), Vectors: r.int(), FirstID: r.String(), LastID: r.String()}
}

func appendOpen(dst []byte, o *OpenFinding) []byte {
	dst = append(dst, byte(o.Severity))
	dst = appendStr(dst, o.Code)
	dst = appendStr(dst, o.Message)
	dst = appendFigures(dst, o.Figures)
	dst = appendTime(dst, o.FirstSeen)
	dst = appendTime(dst, o.LastSeen)
	dst = binary.AppendUvarint(dst, uint64(o.Count))
	dst = appendBatchRef(dst, o.Batch)
	dst = appendBatchRef(dst, o.LastBatch)
	dst = binary.AppendUvarint(dst, uint64(o.EvidenceUnits))
	return binary.AppendUvarint(dst, uint64(o.EvidenceObs))
}

func (r *reader) open() OpenFinding {
	var o OpenFinding
	sev := r.Byte()
	if sev > byte(Critical) {
		r.fail()
	}
	o.Severity = Severity(sev)
	o.Code, o.Message, o.Figures = r.String(), r.String(), r.figures()
	o.FirstSeen, o.LastSeen, o.Count = r.time(), r.time(), r.int()
	o.Batch, o.LastBatch = r.batchRef(), r.batchRef()
	o.EvidenceUnits, o.EvidenceObs = r.int(), r.int()
	return o
}

// AppendState appends the open findings, the resolved ones kept and the
// muted codes.
func (l *Ledger) AppendState(dst []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	dst = append(dst, stateVersion)
	codes := make([]string, 0, len(l.mu.open))
	for c := range l.mu.open {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	dst = binary.AppendUvarint(dst, uint64(len(codes)))
	for _, c := range codes {
		dst = appendOpen(dst, l.mu.open[c])
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.mu.resolved)))
	for i := range l.mu.resolved {
		r := &l.mu.resolved[i]
		dst = appendOpen(dst, &r.OpenFinding)
		dst = appendTime(dst, r.ResolvedAt)
		dst = appendStr(dst, r.Resolution)
	}
	muted := make([]string, 0, len(l.mu.muted))
	for c := range l.mu.muted {
		muted = append(muted, c)
	}
	slices.Sort(muted)
	dst = binary.AppendUvarint(dst, uint64(len(muted)))
	for _, c := range muted {
		dst = appendStr(dst, c)
	}
	return dst
}

// RestoreState replaces the ledger's state with one AppendState wrote. On
// error the ledger is unchanged.
func (l *Ledger) RestoreState(b []byte) error {
	r := newReader(b)
	if err := r.version("ledger"); err != nil {
		return err
	}
	open := map[string]*OpenFinding{}
	for range r.count(20) {
		o := r.open()
		if r.Err != nil || o.Code == "" || open[o.Code] != nil {
			r.fail()
			break
		}
		open[o.Code] = &o
	}
	n := r.count(22)
	resolved := make([]ResolvedFinding, 0, n)
	for range n {
		rf := ResolvedFinding{OpenFinding: r.open()}
		rf.ResolvedAt, rf.Resolution = r.time(), r.String()
		resolved = append(resolved, rf)
	}
	muted := map[string]bool{}
	for range r.count(1) {
		muted[r.String()] = true
	}
	if err := r.done("ledger"); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.open, l.mu.resolved, l.mu.muted = open, resolved, muted
	l.mu.version++
	l.mu.openVer++
	return nil
}

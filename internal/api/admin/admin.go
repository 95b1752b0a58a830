package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/sextantdb/sextant"
)

// Route patterns.
const (
	prefix   = "/sextant/v1"
	collPath = prefix + "/tenants/{tenant}/databases/{database}/collections/{name}"
)

// Options configure a Handler. The zero value is valid.
type Options struct {
	// Logger receives internal errors. Default: discard.
	Logger *slog.Logger
	// MaxMeasure bounds the n of an on-demand recall measurement. Default
	// 10000.
	MaxMeasure int
}

// Handler serves the admin endpoints for a DB.
type Handler struct {
	db   *sextant.DB
	opts Options
}

// New returns a Handler serving db.
func New(db *sextant.DB, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMeasure <= 0 {
		opts.MaxMeasure = 10_000
	}
	return &Handler{db: db, opts: opts}
}

// Register mounts the admin routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		fn      func(w http.ResponseWriter, r *http.Request) error
	}{
		{"GET " + prefix + "/health", h.listHealth},
		{"GET " + collPath + "/health", h.health},
		{"POST " + collPath + "/health/measure", h.measure},
		{"POST " + collPath + "/health/acknowledge", h.acknowledge},
		{"PUT " + collPath + "/auto_ef", h.autoEf},
		{"PUT " + collPath + "/embedding_model", h.embeddingModel},
		{"POST " + collPath + "/explain", h.explain},
	}
	for _, rt := range routes {
		fn := rt.fn
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				h.writeError(w, r, err)
			}
		})
	}
}

// apiError is an error with its HTTP status and name.
type apiError struct {
	status int
	name   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "InvalidArgumentError", fmt.Sprintf(format, args...)}
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "InternalError", err.Error()}
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			ae.status, ae.name = http.StatusRequestEntityTooLarge, "ChromaError"
		case errors.Is(err, sextant.ErrNotFound):
			ae.status, ae.name = http.StatusNotFound, "NotFoundError"
		case errors.Is(err, sextant.ErrInvalidFilter), errors.Is(err, sextant.ErrInvalidArgument),
			errors.Is(err, sextant.ErrInvalidName), errors.Is(err, sextant.ErrDimensionMismatch),
			errors.Is(err, sextant.ErrInvalidVector):
			ae.status, ae.name = http.StatusBadRequest, "InvalidArgumentError"
		case errors.Is(err, sextant.ErrModelMismatch):
			ae.status, ae.name = http.StatusConflict, "ChromaError"
		case errors.Is(err, sextant.ErrClosed):
			ae.status, ae.name = http.StatusServiceUnavailable, "ChromaError"
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			ae.status, ae.name = http.StatusServiceUnavailable, "ChromaError"
		}
	}
	if ae.status >= 500 {
		h.opts.Logger.Error("admin api: request failed", "method", r.Method, "path", r.URL.Path,
			"status", ae.status, "err", err)
	}
	writeJSON(w, ae.status, struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{ae.name, ae.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "InternalError", "message": "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decode reads a JSON body into dst; an empty body leaves dst as it is.
func decode(r *http.Request, dst any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

// collection resolves the request's tenant, database and collection name.
func (h *Handler) collection(r *http.Request) (*sextant.Collection, error) {
	c, err := h.db.Database(r.PathValue("tenant"), r.PathValue("database")).GetCollection(r.PathValue("name"))
	if errors.Is(err, sextant.ErrNotFound) {
		return nil, &apiError{http.StatusNotFound, "NotFoundError", err.Error()}
	}
	return c, err
}

// Interval is a recall estimate in JSON; Estimate is null without samples.
type Interval struct {
	Estimate *float64 `json:"estimate"`
	Low      float64  `json:"low"`
	High     float64  `json:"high"`
	Samples  int      `json:"samples"`
}

// Recall is the rolling recall estimate, overall and split.
type Recall struct {
	Interval
	Filtered   Interval `json:"filtered"`
	Unfiltered Interval `json:"unfiltered"`
}

// EfChange is one change of the effective ef.
type EfChange struct {
	At     time.Time `json:"at"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
}

// Finding is an open guardrail finding: what was found (the latest
// figures), when it was first and last raised and how often, the write
// batch that first (and last) raised it, and the evidence gathered since.
type Finding struct {
	Severity  string             `json:"severity"`
	Code      string             `json:"code"`
	Message   string             `json:"message"`
	Figures   map[string]float64 `json:"figures"`
	At        time.Time          `json:"at"` // = last_seen
	FirstSeen time.Time          `json:"first_seen"`
	LastSeen  time.Time          `json:"last_seen"`
	Count     int                `json:"count"`
	Batch     *Batch             `json:"batch"`      // null unless a write batch raised it
	LastBatch *Batch             `json:"last_batch"` // the latest batch that raised it
	// Evidence judged within bounds since last_seen, toward resolving it.
	EvidenceUnits        int `json:"evidence_units"`
	EvidenceObservations int `json:"evidence_observations"`
}

// Batch names a write batch: its index in the collection's log, when it was
// written, its vector count and first/last ids.
type Batch struct {
	Index   uint64    `json:"index"`
	At      time.Time `json:"at"`
	Vectors int       `json:"vectors"`
	FirstID string    `json:"first_id"`
	LastID  string    `json:"last_id"`
}

// ResolvedFinding is a finding resolved by evidence or acknowledged.
type ResolvedFinding struct {
	Finding
	ResolvedAt time.Time `json:"resolved_at"`
	Resolution string    `json:"resolution"`
}

// MetricCheck is the metric check: the overlap of the collection metric's
// exact top-k with the other metrics' on stored vectors, the norms, the sign
// make-up, and the verdict.
type MetricCheck struct {
	Samples       int      `json:"samples"`
	K             int      `json:"k"`
	Overlap       Overlaps `json:"overlap"`
	NormCV        float64  `json:"norm_cv"`
	NormMean      float64  `json:"norm_mean"`
	NormMin       float64  `json:"norm_min"`
	NormMax       float64  `json:"norm_max"`
	NegativeShare float64  `json:"negative_share"`
	// Verdict: pending (too few samples), ok, or "mismatch: made for X".
	Verdict   string     `json:"verdict"`
	Suggested string     `json:"suggested"`
	At        *time.Time `json:"at"`
}

// Overlaps are top-k overlaps with each other metric (null: the
// collection's own, or not measured yet).
type Overlaps struct {
	Cosine *float64 `json:"cosine"`
	L2     *float64 `json:"l2"`
	IP     *float64 `json:"ip"`
}

func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func batchOf(b *sextant.BatchRef) *Batch {
	if b == nil {
		return nil
	}
	return &Batch{Index: b.Index, At: b.At, Vectors: b.Vectors, FirstID: b.FirstID, LastID: b.LastID}
}

func findingOf(f sextant.OpenFinding) Finding {
	figs := map[string]float64{}
	for k, v := range f.Figures {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			figs[k] = v
		}
	}
	return Finding{Severity: f.Severity.String(), Code: f.Code, Message: f.Message, Figures: figs,
		At: f.LastSeen, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Count: f.Count,
		Batch: batchOf(f.Batch), LastBatch: batchOf(f.LastBatch),
		EvidenceUnits: f.EvidenceUnits, EvidenceObservations: f.EvidenceObs}
}

// Index describes the collection's index.
type Index struct {
	Mode         string  `json:"mode"` // exact, building or hnsw
	Live         int     `json:"live"`
	Slots        int     `json:"slots"`
	Tombstones   int     `json:"tombstones"`
	Unindexed    int     `json:"unindexed"` // live records not in the graph yet (during a build)
	BuildSeconds float64 `json:"build_seconds"`
	// Graph repairs by this process, the duration of the last, and its
	// pause: the part during which the collection's queries waited.
	Repairs                int64   `json:"repairs"`
	LastRepairSeconds      float64 `json:"last_repair_seconds"`
	LastRepairPauseSeconds float64 `json:"last_repair_pause_seconds"`
}

// Memory is the collection's memory, in bytes.
type Memory struct {
	Vectors int64 `json:"vectors"`
	Graph   int64 `json:"graph"`
	Index   int64 `json:"index"`
}

// Model is a collection's pinned embedding model.
type Model struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Dimension int    `json:"dimension"` // 0 until the first write fixes it
	Pin       string `json:"pin"`       // NAME[@VERSION], as the header declares it
}

func modelOf(p sextant.ModelPin) *Model {
	if p.IsZero() {
		return nil
	}
	return &Model{Name: p.Name, Version: p.Version, Dimension: p.Dimension, Pin: p.String()}
}

// Config is the part of the collection's configuration the triage needs.
type Config struct {
	Metric         string  `json:"metric"`
	Dimension      int     `json:"dimension"`
	EmbeddingModel *Model  `json:"embedding_model"` // null: not pinned
	EfSearch       int     `json:"ef_search"`
	RecallTarget   float64 `json:"recall_target"`
	ManualEf       bool    `json:"manual_ef"`
	ExactThreshold int     `json:"exact_threshold"`
}

// Norms summarize the norms of written vectors (before normalization).
type Norms struct {
	Count     uint64  `json:"count"`      // every vector written since open
	Mean      float64 `json:"mean"`       // over Count
	UnitShare float64 `json:"unit_share"` // share of Count within the histogram bucket holding 1
	// History is the drift baseline: the vectors judged normal.
	History          int     `json:"history"`
	HistoryMean      float64 `json:"history_mean"`
	HistoryStd       float64 `json:"history_std"`
	HistoryUnitShare float64 `json:"history_unit_share"`
	Rejected         uint64  `json:"rejected"`
}

// Sampler are the recall sampler's counters.
type Sampler struct {
	Offered      uint64  `json:"offered"`
	Live         uint64  `json:"live"`
	Stored       uint64  `json:"stored"`
	SpentSeconds float64 `json:"spent_seconds"`
}

// Health is a collection's health document.
type Health struct {
	ID          string     `json:"id"` // the collection's UUID
	Tenant      string     `json:"tenant"`
	Database    string     `json:"database"`
	Collection  string     `json:"collection"`
	Status      string     `json:"status"` // ok or degraded
	Reason      string     `json:"reason"`
	Recall      Recall     `json:"recall"`
	Target      float64    `json:"target"`
	EffectiveEf int        `json:"effective_ef"`
	AutoEf      bool       `json:"auto_ef"`
	EfHistory   []EfChange `json:"ef_history"`
	Findings    []Finding  `json:"findings"`
	// Resolved: findings resolved recently (by evidence or acknowledged),
	// oldest first. Muted: acknowledged codes not raised again until their
	// rule passes.
	Resolved    []ResolvedFinding `json:"resolved_findings"`
	Muted       []string          `json:"muted"`
	MetricCheck MetricCheck       `json:"metric_check"`
	Index       Index             `json:"index"`
	WALBytes    int64             `json:"wal_bytes"`
	Checkpoints int64             `json:"checkpoints"`
	Memory      Memory            `json:"memory"`
	Config      Config            `json:"config"`
	Norms       Norms             `json:"norms"`
	Sampler     Sampler           `json:"sampler"`
}

func interval(recall float64, samples int, low, high float64) Interval {
	iv := Interval{Low: low, High: high, Samples: samples}
	if samples > 0 && !math.IsNaN(recall) {
		iv.Estimate = &recall
	}
	return iv
}

// healthOf builds the health document of c from its engine health.
func healthOf(c *sextant.Collection, eh sextant.Health) (Health, error) {
	st, err := c.Stats()
	if err != nil {
		return Health{}, err
	}
	cfg := c.Config()
	e := eh.Recall
	h := Health{
		ID: c.ID(), Tenant: c.Tenant(), Database: c.Database(), Collection: c.Name(),
		Status: eh.Status, Reason: eh.Reason,
		Recall: Recall{
			Interval:   interval(e.Recall, e.Samples, e.Low, e.High),
			Filtered:   interval(e.Filtered.Recall, e.Filtered.Samples, e.Filtered.Low, e.Filtered.High),
			Unfiltered: interval(e.Unfiltered.Recall, e.Unfiltered.Samples, e.Unfiltered.Low, e.Unfiltered.High),
		},
		Target: eh.Target, EffectiveEf: eh.EffectiveEf, AutoEf: eh.AutoEf,
		EfHistory: []EfChange{}, Findings: []Finding{}, Resolved: []ResolvedFinding{}, Muted: []string{},
		Index: Index{Mode: st.Mode, Live: st.Live, Slots: st.Slots, Tombstones: st.Tombstones,
			Unindexed: st.Unindexed, BuildSeconds: eh.BuildSeconds,
			Repairs: st.Repairs, LastRepairSeconds: st.LastRepairSecs, LastRepairPauseSeconds: st.LastRepairPauseSecs},
		WALBytes: st.WALBytes, Checkpoints: st.Checkpoints,
		Memory: Memory{Vectors: st.VectorBytes, Graph: st.GraphBytes, Index: st.IndexBytes},
		Config: Config{Metric: string(cfg.Metric), Dimension: cfg.Dimension, EmbeddingModel: modelOf(cfg.EmbeddingModel),
			EfSearch: cfg.EfSearch, RecallTarget: cfg.RecallTarget, ManualEf: cfg.ManualEf,
			ExactThreshold: cfg.ExactThreshold},
		Norms: Norms{
			Count: eh.NormHist.Count, History: eh.Drift.Vectors, HistoryMean: eh.Drift.NormMean,
			HistoryStd: eh.Drift.NormStd, HistoryUnitShare: eh.Drift.UnitShare, Rejected: eh.Drift.Rejected,
		},
		Sampler: Sampler{Offered: eh.Sampler.Offered, Live: eh.Sampler.Live, Stored: eh.Sampler.Stored,
			SpentSeconds: eh.Sampler.Spent.Seconds()},
	}
	if nh := eh.NormHist; nh.Count > 0 {
		h.Norms.Mean = nh.Sum / float64(nh.Count)
		for i, b := range nh.Bounds {
			lo := 0.0
			if i > 0 {
				lo = nh.Bounds[i-1]
			}
			if lo < 1 && 1 <= b && i < len(nh.Counts) {
				h.Norms.UnitShare = float64(nh.Counts[i]) / float64(nh.Count)
			}
		}
	}
	for _, ch := range eh.EfHistory {
		h.EfHistory = append(h.EfHistory, EfChange{At: ch.At, From: ch.From, To: ch.To, Reason: ch.Reason})
	}
	for _, f := range eh.Findings {
		h.Findings = append(h.Findings, findingOf(f))
	}
	for _, r := range eh.Resolved {
		h.Resolved = append(h.Resolved, ResolvedFinding{Finding: findingOf(r.OpenFinding), ResolvedAt: r.ResolvedAt, Resolution: r.Resolution})
	}
	h.Muted = append(h.Muted, eh.Muted...)
	m := eh.Metric
	h.MetricCheck = MetricCheck{Samples: m.Samples, K: m.K,
		Overlap: Overlaps{Cosine: finite(m.Cosine), L2: finite(m.L2), IP: finite(m.IP)},
		NormCV:  m.Norms.CV(), NormMean: m.Norms.Mean, NormMin: m.Norms.Min, NormMax: m.Norms.Max,
		NegativeShare: m.NegativeShare, Verdict: m.Verdict, Suggested: m.Suggested}
	if m.Norms.Count == 0 {
		h.MetricCheck.NormMin, h.MetricCheck.NormMax = 0, 0
	}
	if !m.At.IsZero() {
		at := m.At
		h.MetricCheck.At = &at
	}
	return h, nil
}

// writeHealth answers with the health document of c, or with err.
func writeHealth(w http.ResponseWriter, c *sextant.Collection, eh sextant.Health, err error) error {
	if err != nil {
		return err
	}
	doc, err := healthOf(c, eh)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collection(r)
	if err != nil {
		return err
	}
	eh, err := c.Health()
	return writeHealth(w, c, eh, err)
}

func (h *Handler) measure(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collection(r)
	if err != nil {
		return err
	}
	req := struct {
		N int `json:"n"`
	}{N: 200}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.N < 1 || req.N > h.opts.MaxMeasure {
		return badRequest("n %d outside [1, %d]", req.N, h.opts.MaxMeasure)
	}
	eh, err := c.MeasureRecall(r.Context(), req.N)
	return writeHealth(w, c, eh, err)
}

// ModelRequest is the body of PUT .../embedding_model: the model as
// "pin": "NAME[@VERSION]", or by its parts.
type ModelRequest struct {
	Pin       string `json:"pin"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Dimension int    `json:"dimension"`
	// Replace must be true to replace another pin (after the vectors were
	// re-embedded with the new model).
	Replace bool `json:"replace"`
}

func (h *Handler) embeddingModel(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collection(r)
	if err != nil {
		return err
	}
	var req ModelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p := sextant.ModelPin{Name: req.Name, Version: req.Version, Dimension: req.Dimension}
	switch {
	case req.Pin != "" && req.Name != "":
		return badRequest(`give "pin" or "name" (and "version"), not both`)
	case req.Pin != "":
		if p, err = sextant.ParseModelPin(req.Pin); err != nil {
			return err
		}
		p.Dimension = req.Dimension
	}
	if err := c.SetEmbeddingModel(p, req.Replace); err != nil {
		return err
	}
	eh, err := c.Health()
	return writeHealth(w, c, eh, err)
}

// AcknowledgeRequest is the body of POST .../health/acknowledge.
type AcknowledgeRequest struct {
	Codes []string `json:"codes"` // the finding codes to acknowledge; with all, omitted
	All   bool     `json:"all"`   // every open finding
	// ResetBaseline also forgets the drift baselines (after a deliberate
	// change of embedding model).
	ResetBaseline bool   `json:"reset_baseline"`
	By            string `json:"by"` // who acknowledges, for the record (default "operator")
}

// AcknowledgeResponse lists what was acknowledged, and the health after.
type AcknowledgeResponse struct {
	Acknowledged []ResolvedFinding `json:"acknowledged"`
	Health       Health            `json:"health"`
}

func (h *Handler) acknowledge(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collection(r)
	if err != nil {
		return err
	}
	var req AcknowledgeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Codes) == 0 && !req.All && !req.ResetBaseline {
		return badRequest(`body must name the findings: {"codes": ["not_normalized", ...]} or {"all": true} (and/or "reset_baseline": true)`)
	}
	res, err := c.Acknowledge(r.Context(), sextant.AcknowledgeOptions{Codes: req.Codes, All: req.All,
		ResetBaseline: req.ResetBaseline, By: req.By})
	if err != nil {
		return err
	}
	eh, err := c.Health()
	if err != nil {
		return err
	}
	doc, err := healthOf(c, eh)
	if err != nil {
		return err
	}
	out := AcknowledgeResponse{Acknowledged: []ResolvedFinding{}, Health: doc}
	for _, f := range res {
		out.Acknowledged = append(out.Acknowledged, ResolvedFinding{Finding: findingOf(f.OpenFinding), ResolvedAt: f.ResolvedAt, Resolution: f.Resolution})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) autoEf(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collection(r)
	if err != nil {
		return err
	}
	var req struct {
		On *bool `json:"on"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.On == nil {
		return badRequest(`body must be {"on": true|false}`)
	}
	if err := c.SetAutoEf(*req.On); err != nil {
		return err
	}
	eh, err := c.Health()
	return writeHealth(w, c, eh, err)
}

// Summary is one collection's line in GET /sextant/v1/health.
type Summary struct {
	Tenant      string    `json:"tenant"`
	Database    string    `json:"database"`
	Collection  string    `json:"collection"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
	Recall      *float64  `json:"recall"`
	Samples     int       `json:"samples"`
	Target      float64   `json:"target"`
	EffectiveEf int       `json:"effective_ef"`
	Findings    []Finding `json:"findings"`
}

// Overview is the answer of GET /sextant/v1/health.
type Overview struct {
	Status      string    `json:"status"` // degraded when any collection is
	Collections []Summary `json:"collections"`
}

func (h *Handler) listHealth(w http.ResponseWriter, _ *http.Request) error {
	out := Overview{Status: "ok", Collections: []Summary{}}
	for _, tenant := range h.db.ListTenants() {
		dbs, err := h.db.ListDatabases(tenant, 0, 0)
		if err != nil {
			continue // deleted meanwhile
		}
		for _, d := range dbs {
			colls, err := h.db.Database(tenant, d.Name).ListCollections(0, 0)
			if err != nil {
				continue
			}
			for _, c := range colls {
				eh, err := c.Health()
				if err != nil {
					continue // dropped meanwhile
				}
				doc, err := healthOf(c, eh)
				if err != nil {
					continue
				}
				if doc.Status != "ok" {
					out.Status = "degraded"
				}
				out.Collections = append(out.Collections, Summary{
					Tenant: tenant, Database: d.Name, Collection: c.Name(), Status: doc.Status, Reason: doc.Reason,
					Recall: doc.Recall.Estimate, Samples: doc.Recall.Samples, Target: doc.Target,
					EffectiveEf: doc.EffectiveEf, Findings: doc.Findings,
				})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ExplainRequest is the body of POST .../explain.
type ExplainRequest struct {
	QueryEmbedding []float32      `json:"query_embedding"` // omitted: a stored vector
	Where          map[string]any `json:"where"`
	WhereDocument  map[string]any `json:"where_document"`
	NResults       int            `json:"n_results"`
	Ef             int            `json:"ef"`
}

// Plan is how a query was executed.
type Plan struct {
	Kind                 string  `json:"kind"`
	Ef                   int     `json:"ef"`
	Matches              int     `json:"matches"`
	Live                 int     `json:"live"`
	Selectivity          float64 `json:"selectivity"` // matches / live
	DistanceComputations int     `json:"distance_computations"`
	Fallback             bool    `json:"fallback"`
	Filter               string  `json:"filter"`
	Results              int     `json:"results"`
	Seconds              float64 `json:"seconds"`
	StoredQuery          bool    `json:"stored_query"` // the query was a stored vector
}

func (h *Handler) explain(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collection(r)
	if err != nil {
		return err
	}
	var req ExplainRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.NResults == 0 {
		req.NResults = 10
	}
	if req.NResults < 1 {
		return badRequest("n_results %d must be at least 1", req.NResults)
	}
	q, stored := req.QueryEmbedding, false
	if len(q) == 0 {
		got, err := c.Get(r.Context(), sextant.GetOptions{Limit: 1, Include: sextant.IncludeEmbeddings})
		if err != nil {
			return err
		}
		if len(got.IDs) == 0 {
			// Nothing to search: the filter is still checked (a bad one is
			// a 400), and the plan is that nothing matches.
			if _, err := c.Get(r.Context(), sextant.GetOptions{Where: req.Where, WhereDocument: req.WhereDocument,
				Limit: 1, Include: sextant.IncludeNone}); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, Plan{Kind: "exact", Ef: req.Ef})
			return nil
		}
		q, stored = got.Embeddings[0], true
	}
	start := time.Now()
	res, err := c.Query(r.Context(), sextant.QueryOptions{
		Embeddings: [][]float32{q}, K: req.NResults, Ef: req.Ef,
		Where: req.Where, WhereDocument: req.WhereDocument,
		Include: sextant.IncludeNone, Explain: true,
	})
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if len(res.Plans) == 0 {
		return errors.New("explain: the query returned no plan")
	}
	p := res.Plans[0]
	out := Plan{Kind: p.Kind, Ef: p.Ef, Matches: p.Matches, Live: p.Live,
		DistanceComputations: p.DistanceComputations, Fallback: p.Fallback, Filter: p.Filter,
		Seconds: secs, StoredQuery: stored}
	if p.Live > 0 {
		out.Selectivity = float64(p.Matches) / float64(p.Live)
	}
	if len(res.IDs) > 0 {
		out.Results = len(res.IDs[0])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

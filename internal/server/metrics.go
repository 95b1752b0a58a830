package server

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/monitor"
)

// httpMetrics are the per-route request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sextant_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sextant_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *httpMetrics) observe(route string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, code).Inc()
	m.latency.WithLabelValues(route, code).Observe(d.Seconds())
}

func registerRuntimeCollectors(reg prometheus.Registerer) {
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

func (s *Server) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return h.ServeHTTP
}

// collectionCollector reads every collection's figures at scrape time,
// walking every tenant, database and collection of the DB.
type collectionCollector struct {
	db  func() *sextant.DB // nil until the database is open
	log *slog.Logger

	records, walBytes, memBytes, checkpoints, lastCheckpoint, building *prometheus.Desc
	repairs, lastRepair, lastRepairPause                               *prometheus.Desc

	// Recall guardrails (from Collection.Health).
	recall, recallSamples, recallTarget, effectiveEf, degraded        *prometheus.Desc
	vectorNorm, resultDistance, buildSeconds, queryDuration, findings *prometheus.Desc
	metricOverlap, metricSamples, normCV                              *prometheus.Desc
}

func newCollectionCollector(db func() *sextant.DB, log *slog.Logger) *collectionCollector {
	labels := []string{"tenant", "database", "collection"}
	return &collectionCollector{
		db: db, log: log,
		records: prometheus.NewDesc("sextant_collection_records",
			"Live records in the collection.", labels, nil),
		walBytes: prometheus.NewDesc("sextant_collection_wal_bytes",
			"Bytes of write-ahead log not yet covered by a checkpoint.", labels, nil),
		memBytes: prometheus.NewDesc("sextant_collection_memory_bytes",
			"Memory held by the collection's vectors, graph and payload indexes.", labels, nil),
		checkpoints: prometheus.NewDesc("sextant_collection_checkpoints_total",
			"Checkpoints of the collection written by this process.", labels, nil),
		lastCheckpoint: prometheus.NewDesc("sextant_collection_last_checkpoint_seconds",
			"Duration of the collection's last checkpoint (snapshot under the writer lock and write to disk); 0 before the first.",
			labels, nil),
		repairs: prometheus.NewDesc("sextant_collection_graph_repairs_total",
			"Graph repairs of the collection run by this process (deleted nodes unlinked, their slots freed).", labels, nil),
		lastRepair: prometheus.NewDesc("sextant_collection_last_graph_repair_seconds",
			"Duration of the collection's last graph repair (writes waited for it, queries only for its pause); 0 before the first.",
			labels, nil),
		lastRepairPause: prometheus.NewDesc("sextant_collection_last_graph_repair_pause_seconds",
			"Part of the collection's last graph repair that held the graph exclusively: its queries waited that long; 0 before the first.",
			labels, nil),
		building: prometheus.NewDesc("sextant_collection_index_building",
			"1 while a background HNSW build of the collection runs (queries are exact meanwhile), else 0.", labels, nil),
		recall: prometheus.NewDesc("sextant_recall_estimate",
			"Rolling recall@k estimate of the collection, from sampled queries re-run with exact search (absent before the first sample).",
			labels, nil),
		recallSamples: prometheus.NewDesc("sextant_recall_estimate_samples",
			"Samples behind sextant_recall_estimate.", labels, nil),
		recallTarget: prometheus.NewDesc("sextant_recall_target",
			"Recall target the collection holds.", labels, nil),
		effectiveEf: prometheus.NewDesc("sextant_effective_ef",
			"Effective ef_search of queries that give none (moved by the ef autopilot when auto_ef is on).", labels, nil),
		degraded: prometheus.NewDesc("sextant_collection_degraded",
			"1 while the collection cannot hold its recall target, else 0.", labels, nil),
		vectorNorm: prometheus.NewDesc("sextant_vector_norm",
			"Norms of written vectors, before normalization.", labels, nil),
		resultDistance: prometheus.NewDesc("sextant_result_distance",
			"Distances of returned query results.", labels, nil),
		buildSeconds: prometheus.NewDesc("sextant_index_build_seconds",
			"Duration of the collection's last HNSW build; 0 before the first.", labels, nil),
		queryDuration: prometheus.NewDesc("sextant_query_duration_seconds",
			"Query duration inside the engine, by plan.", append(slices.Clone(labels), "plan"), nil),
		findings: prometheus.NewDesc("sextant_drift_findings",
			"Open guardrail findings of the collection (1 per code and severity); a finding closes only on evidence or acknowledgement.",
			append(slices.Clone(labels), "code", "severity"), nil),
		metricOverlap: prometheus.NewDesc("sextant_metric_overlap",
			"Metric check: share of the collection metric's exact top-k that the exact top-k under another metric holds, over sampled stored vectors (low with varying norms: a wrong metric).",
			append(slices.Clone(labels), "against"), nil),
		metricSamples: prometheus.NewDesc("sextant_metric_check_samples",
			"Stored vectors behind sextant_metric_overlap.", labels, nil),
		normCV: prometheus.NewDesc("sextant_vector_norm_cv",
			"Coefficient of variation (std/mean) of the stored vectors' norms, as given, from the metric check.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.walBytes
	ch <- c.memBytes
	ch <- c.checkpoints
	ch <- c.lastCheckpoint
	ch <- c.repairs
	ch <- c.lastRepair
	ch <- c.lastRepairPause
	ch <- c.building
	for _, d := range []*prometheus.Desc{c.recall, c.recallSamples, c.recallTarget, c.effectiveEf, c.degraded,
		c.vectorNorm, c.resultDistance, c.buildSeconds, c.queryDuration, c.findings,
		c.metricOverlap, c.metricSamples, c.normCV} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collectionCollector) Collect(ch chan<- prometheus.Metric) {
	db := c.db()
	if db == nil {
		return // still opening
	}
	for _, tenant := range db.ListTenants() {
		dbs, err := db.ListDatabases(tenant, 0, 0)
		if err != nil {
			continue // deleted meanwhile, or the DB is closed
		}
		for _, d := range dbs {
			colls, err := db.Database(tenant, d.Name).ListCollections(0, 0)
			if err != nil {
				continue
			}
			for _, coll := range colls {
				st, err := coll.Stats()
				if err != nil {
					c.log.LogAttrs(context.Background(), slog.LevelDebug, "metrics: collection stats",
						slog.String("collection", coll.Name()), slog.Any("err", err))
					continue
				}
				lv := []string{tenant, d.Name, coll.Name()}
				ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(st.Live), lv...)
				ch <- prometheus.MustNewConstMetric(c.walBytes, prometheus.GaugeValue, float64(st.WALBytes), lv...)
				ch <- prometheus.MustNewConstMetric(c.memBytes, prometheus.GaugeValue,
					float64(st.VectorBytes+st.GraphBytes+st.IndexBytes), lv...)
				ch <- prometheus.MustNewConstMetric(c.checkpoints, prometheus.CounterValue, float64(st.Checkpoints), lv...)
				ch <- prometheus.MustNewConstMetric(c.lastCheckpoint, prometheus.GaugeValue, st.LastCheckpointSecs, lv...)
				ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(st.Repairs), lv...)
				ch <- prometheus.MustNewConstMetric(c.lastRepair, prometheus.GaugeValue, st.LastRepairSecs, lv...)
				ch <- prometheus.MustNewConstMetric(c.lastRepairPause, prometheus.GaugeValue, st.LastRepairPauseSecs, lv...)
				building := 0.0
				if st.Mode == "building" {
					building = 1
				}
				ch <- prometheus.MustNewConstMetric(c.building, prometheus.GaugeValue, building, lv...)
				c.collectHealth(ch, coll, lv)
			}
		}
	}
}

// collectHealth emits the recall guardrail metrics of one collection.
func (c *collectionCollector) collectHealth(ch chan<- prometheus.Metric, coll *sextant.Collection, lv []string) {
	h, err := coll.Health()
	if err != nil {
		c.log.LogAttrs(context.Background(), slog.LevelDebug, "metrics: collection health",
			slog.String("collection", coll.Name()), slog.Any("err", err))
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if h.Recall.Samples > 0 && !math.IsNaN(h.Recall.Recall) {
		gauge(c.recall, h.Recall.Recall, lv...)
	}
	gauge(c.recallSamples, float64(h.Recall.Samples), lv...)
	gauge(c.recallTarget, h.Target, lv...)
	gauge(c.effectiveEf, float64(h.EffectiveEf), lv...)
	deg := 0.0
	if h.Status == "degraded" {
		deg = 1
	}
	gauge(c.degraded, deg, lv...)
	gauge(c.buildSeconds, h.BuildSeconds, lv...)
	hist := func(d *prometheus.Desc, hg monitor.Histogram, labels ...string) {
		if len(hg.Counts) == 0 {
			return
		}
		buckets := make(map[float64]uint64, len(hg.Bounds))
		var cum uint64
		for i, b := range hg.Bounds {
			cum += hg.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(d, hg.Count, hg.Sum, buckets, labels...)
	}
	hist(c.vectorNorm, h.NormHist, lv...)
	hist(c.resultDistance, h.DistanceHist, lv...)
	for plan, qh := range h.QueryHist {
		hist(c.queryDuration, qh, append(slices.Clone(lv), plan)...)
	}
	for _, f := range h.Findings {
		gauge(c.findings, 1, append(slices.Clone(lv), f.Code, f.Severity.String())...)
	}
	m := h.Metric
	gauge(c.metricSamples, float64(m.Samples), lv...)
	for against, v := range map[string]float64{"cosine": m.Cosine, "l2": m.L2, "ip": m.IP} {
		if m.Samples > 0 && !math.IsNaN(v) {
			gauge(c.metricOverlap, v, append(slices.Clone(lv), against)...)
		}
	}
	if m.Norms.Count > 0 {
		gauge(c.normCV, m.Norms.CV(), lv...)
	}
}

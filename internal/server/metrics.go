package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sextantdb/sextant"
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
		building: prometheus.NewDesc("sextant_collection_index_building",
			"1 while a background HNSW build of the collection runs (queries are exact meanwhile), else 0.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.walBytes
	ch <- c.memBytes
	ch <- c.checkpoints
	ch <- c.lastCheckpoint
	ch <- c.building
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
				building := 0.0
				if st.Mode == "building" {
					building = 1
				}
				ch <- prometheus.MustNewConstMetric(c.building, prometheus.GaugeValue, building, lv...)
			}
		}
	}
}

package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// tenantSet is the tenants the collection collector walks. The root package
// has no way to list tenants, so the set starts with the default tenant and
// grows with every tenant a successful request names in its path.
type tenantSet struct {
	mu struct {
		sync.Mutex
		names map[string]bool
	}
}

func newTenantSet(names ...string) *tenantSet {
	t := &tenantSet{}
	t.mu.names = map[string]bool{}
	for _, n := range names {
		t.mu.names[n] = true
	}
	return t
}

const tenantsPrefix = "/api/v2/tenants/"

// noteFromPath adds the tenant of a /api/v2/tenants/{tenant}/... path.
func (t *tenantSet) noteFromPath(path string) {
	rest, ok := strings.CutPrefix(path, tenantsPrefix)
	if !ok {
		return
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == "" {
		return
	}
	t.mu.Lock()
	t.mu.names[name] = true
	t.mu.Unlock()
}

func (t *tenantSet) list() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.mu.names))
	for n := range t.mu.names {
		out = append(out, n)
	}
	return out
}

// collectionCollector reads every collection's figures at scrape time.
type collectionCollector struct {
	db      *sextant.DB
	tenants *tenantSet
	log     *slog.Logger

	records, walBytes, memBytes *prometheus.Desc
}

func newCollectionCollector(db *sextant.DB, tenants *tenantSet, log *slog.Logger) *collectionCollector {
	labels := []string{"tenant", "database", "collection"}
	return &collectionCollector{
		db: db, tenants: tenants, log: log,
		records: prometheus.NewDesc("sextant_collection_records",
			"Live records in the collection.", labels, nil),
		walBytes: prometheus.NewDesc("sextant_collection_wal_bytes",
			"Bytes of write-ahead log not yet covered by a checkpoint.", labels, nil),
		memBytes: prometheus.NewDesc("sextant_collection_memory_bytes",
			"Memory held by the collection's vectors, graph and payload indexes.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.walBytes
	ch <- c.memBytes
}

// Collect implements prometheus.Collector.
func (c *collectionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, tenant := range c.tenants.list() {
		dbs, err := c.db.ListDatabases(tenant, 0, 0)
		if err != nil {
			continue // deleted tenant, or the DB is closed
		}
		for _, d := range dbs {
			colls, err := c.db.Database(tenant, d.Name).ListCollections(0, 0)
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
			}
		}
	}
}

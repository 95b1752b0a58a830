package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sextantdb/sextant"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxBodyBytes      = 40 << 20 // Chroma's default max_payload_size_bytes
	DefaultMaxBatchSize      = 5461
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
)

// Key is an API key.
type Key struct {
	Token string
	// ReadOnly keys may read but get 403 on writes.
	ReadOnly bool
}

// Config configures a Server. The zero value is valid.
type Config struct {
	// APIKeys, when non-empty, are the keys every request except heartbeat,
	// /healthz and /readyz must carry. Empty: no authentication.
	APIKeys []Key
	// CORSOrigins are the origins browsers may call from ("*" for any).
	// Empty: no CORS headers.
	CORSOrigins []string
	// MaxBodyBytes limits request bodies; larger ones get 413.
	MaxBodyBytes int64
	// MaxBatchSize is the most records one add/update/upsert may carry; it is
	// advertised in pre-flight-checks.
	MaxBatchSize int
	// Version is what GET /api/v2/version answers.
	Version string
	// Logger receives the request log and errors. Default: discard.
	Logger *slog.Logger

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

func (c *Config) ensureDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxBatchSize <= 0 {
		c.MaxBatchSize = DefaultMaxBatchSize
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
}

// Server serves a DB over HTTP. See the package doc for the routes, the
// middleware and the shutdown order.
//
// Server is safe for concurrent use.
type Server struct {
	db      *sextant.DB
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	http    *http.Server
	reg     *prometheus.Registry
	metrics *httpMetrics
	tenants *tenantSet

	// own are the patterns the server registers itself (not the Chroma API).
	own []string

	ready        atomic.Bool
	shuttingDown atomic.Bool
}

// New returns a server for db, which it owns from now on: Shutdown closes
// it. db is open (and every collection recovered) when Open returns, so the
// server is ready at once.
func New(db *sextant.DB, cfg Config) *Server {
	cfg.ensureDefaults()
	s := &Server{
		db:      db,
		cfg:     cfg,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		reg:     prometheus.NewRegistry(),
		tenants: newTenantSet(sextant.DefaultTenant),
	}
	s.metrics = newHTTPMetrics(s.reg)
	s.reg.MustRegister(newCollectionCollector(db, s.tenants, s.log))
	registerRuntimeCollectors(s.reg)

	registerAPI(s.mux, db, cfg)
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", s.metricsHandler())
	s.handle("GET /openapi.json", serveOpenAPI)

	s.handler = s.instrument(s.recoverPanics(s.cors(s.authenticate(s.limitBody(s.mux)))))
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.ready.Store(true)
	return s
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, h)
	s.own = append(s.own, pattern)
}

// Handler returns the server's whole HTTP handler, middleware included (for
// tests and for embedding in another server).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server: it marks it not ready, stops accepting
// connections, waits for in-flight requests until ctx ends (then closes the
// connections left), and closes the DB. It returns every error met.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	var errList []error
	if err := s.http.Shutdown(ctx); err != nil {
		errList = append(errList, fmt.Errorf("drain HTTP requests: %w", err))
		if err := s.http.Close(); err != nil {
			errList = append(errList, fmt.Errorf("close HTTP connections: %w", err))
		}
	}
	if err := s.db.Close(); err != nil {
		errList = append(errList, fmt.Errorf("close database: %w", err))
	}
	return errors.Join(errList...)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case s.shuttingDown.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
	case !s.ready.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("recovering\n"))
	default:
		_, _ = w.Write([]byte("ready\n"))
	}
}

// writeError writes Chroma's error shape.
func writeError(w http.ResponseWriter, status int, name, msg string) {
	b, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{name, msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

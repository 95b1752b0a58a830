package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
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
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	http    *http.Server
	reg     *prometheus.Registry
	metrics *httpMetrics

	// db is nil until the database is open (see NewPending and Ready).
	db atomic.Pointer[sextant.DB]
	// mux routes every request. Before Ready it is built on a nil DB: it
	// names the route of a request but the Chroma handlers behind it are
	// never called (gate answers 503 first); Ready swaps in one on the DB.
	mux atomic.Pointer[http.ServeMux]

	// mu orders Ready against Shutdown, so that a DB handed over while the
	// server shuts down is refused rather than leaked.
	mu           sync.Mutex
	ready        atomic.Bool
	shuttingDown atomic.Bool
}

// ownRoutes are the patterns the server registers itself (not the Chroma
// API); they answer while the database is still opening.
var ownRoutes = []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json"}

// New returns a server for db, which it owns from now on: Shutdown closes
// it. db is open (and every collection recovered) when Open returns, so the
// server is ready at once.
func New(db *sextant.DB, cfg Config) *Server {
	s := NewPending(cfg)
	if err := s.Ready(db); err != nil {
		panic(err) // unreachable: nothing can have shut s down yet
	}
	return s
}

// NewPending returns a server whose database is not open yet: until Ready,
// /healthz answers 200, /readyz 503, /metrics and /openapi.json as usual,
// and every other route 503 in Chroma's error shape ("ServiceUnavailable",
// "database is recovering"). It lets a process listen, and answer probes,
// while sextant.Open recovers the collections.
func NewPending(cfg Config) *Server {
	cfg.ensureDefaults()
	s := &Server{
		cfg: cfg,
		log: cfg.Logger,
		reg: prometheus.NewRegistry(),
	}
	s.mux.Store(s.newMux(nil))
	s.metrics = newHTTPMetrics(s.reg)
	s.reg.MustRegister(newCollectionCollector(s.db.Load, s.log))
	registerRuntimeCollectors(s.reg)

	s.handler = s.instrument(s.recoverPanics(s.cors(s.authenticate(s.gate(s.limitBody(s.dispatch()))))))
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// ErrShuttingDown is Ready's error once Shutdown has begun.
var ErrShuttingDown = errors.New("server: shutting down")

// Ready hands the server its open database, which it owns from now on
// (Shutdown closes it), and makes it ready. It returns ErrShuttingDown, and
// keeps nothing, when Shutdown has begun: the caller then closes db.
func (s *Server) Ready(db *sextant.DB) error {
	if db == nil {
		return errors.New("server: Ready with a nil DB")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown.Load() {
		return ErrShuttingDown
	}
	if s.db.Load() != nil {
		return errors.New("server: Ready called twice")
	}
	s.db.Store(db)
	s.mux.Store(s.newMux(db))
	s.ready.Store(true)
	return nil
}

// newMux returns a mux with the Chroma API on db (nil: routes only) and the
// server's own routes.
func (s *Server) newMux(db *sextant.DB) *http.ServeMux {
	mux := http.NewServeMux()
	registerAPI(mux, db, s.cfg)
	own := map[string]http.HandlerFunc{
		"GET /healthz":      s.healthz,
		"GET /readyz":       s.readyz,
		"GET /metrics":      s.metricsHandler(),
		"GET /openapi.json": serveOpenAPI,
	}
	for _, p := range ownRoutes {
		mux.Handle(p, own[p])
	}
	return mux
}

// dispatch serves the request with the current mux. A request that no
// route takes is answered in Chroma's error shape rather than with the
// mux's plain text: see noRoute.
func (s *Server) dispatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux := s.mux.Load()
		if routeOf(r) == "" && noRoute(mux, w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// noRoute answers a request that matched no pattern of mux: 404
// NotFoundError, or, when the path is routed for other methods, 405
// ChromaError with the mux's Allow header and a message naming the method,
// the path and the allowed methods. It returns false, having written
// nothing, when the mux answers otherwise (a redirect to the cleaned path).
//
// The mux's own answer is taken from the handler it returns for r, run
// against a writer that keeps only the status and headers, so the Allow
// list is exactly the mux's.
func noRoute(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) bool {
	h, _ := mux.Handler(r)
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "ChromaError",
			fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	default:
		return false
	}
	return true
}

// headerProbe is a ResponseWriter that keeps the status and the headers of
// a response and drops its body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// gate answers 503 on every route but the server's own until Ready.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.ready.Load() || slices.Contains(ownRoutes, routeOf(r)) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "database is recovering")
	})
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
// connections left), and closes the DB if Ready handed it one. It returns
// every error met.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown.Store(true)
	s.mu.Unlock()
	var errList []error
	if err := s.http.Shutdown(ctx); err != nil {
		errList = append(errList, fmt.Errorf("drain HTTP requests: %w", err))
		if err := s.http.Close(); err != nil {
			errList = append(errList, fmt.Errorf("close HTTP connections: %w", err))
		}
	}
	if db := s.db.Load(); db != nil {
		if err := db.Close(); err != nil {
			errList = append(errList, fmt.Errorf("close database: %w", err))
		}
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

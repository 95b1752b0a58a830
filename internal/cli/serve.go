package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextantdb/sextant"
)

// serveConfig is what runServe needs; tests fill it directly.
type serveConfig struct {
	dataDir string
	addr    string
	logger  *slog.Logger
	// onListen, if set, is called with the bound address once the listener
	// is open (the port is known even for ":0").
	onListen func(net.Addr)
}

// shutdownTimeout bounds how long in-flight requests may take to finish on
// shutdown.
const shutdownTimeout = 10 * time.Second

func newServeCmd() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the database over HTTP",
		Long: `Serve opens the database in --data (created if needed) and serves HTTP on --addr
until SIGINT or SIGTERM; then it stops accepting requests, waits for those in flight
and closes the database (writing final checkpoints).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			return runServe(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.dataDir, "data", "./sextant-data", "data directory")
	cmd.Flags().StringVar(&cfg.addr, "addr", "127.0.0.1:8000", "address to listen on")
	return cmd
}

// runServe serves until ctx is done, then shuts the server down and closes
// the DB, in that order.
func runServe(ctx context.Context, cfg serveConfig) error {
	log := cfg.logger
	db, err := sextant.Open(cfg.dataDir, &sextant.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("open database %s: %w", cfg.dataDir, err)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.addr, err), db.Close())
	}
	srv := &http.Server{
		Handler:           newHandler(db, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "data", cfg.dataDir, "version", Version)
	if cfg.onListen != nil {
		cfg.onListen(ln.Addr())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var errList []error
	select {
	case err := <-serveErr: // failed without being asked to stop
		errList = append(errList, fmt.Errorf("serve: %w", err))
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			errList = append(errList, fmt.Errorf("shut down HTTP server: %w", err))
		}
		cancel()
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			errList = append(errList, fmt.Errorf("serve: %w", err))
		}
	}
	if err := db.Close(); err != nil {
		errList = append(errList, fmt.Errorf("close database: %w", err))
	}
	if err := errors.Join(errList...); err != nil {
		log.Error("stopped with errors", "err", err)
		return err
	}
	log.Info("stopped")
	return nil
}

// newHandler returns the HTTP API. For now: Chroma's heartbeat and version,
// and a health check. The Chroma API proper will live in internal/api/chroma.
func newHandler(db *sextant.DB, log *slog.Logger) http.Handler {
	_ = db // the API handlers will use it
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/heartbeat", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, log, map[string]int64{"nanosecond heartbeat": time.Now().UnixNano()})
	})
	mux.HandleFunc("GET /api/v2/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, log, Version)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.Error("BUG: encode response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/server"
)

// serveConfig is what runServe needs; tests fill it directly.
type serveConfig struct {
	dataDir string
	addr    string
	server  server.Config // Logger is taken from logger
	logger  *slog.Logger
	// onListen, if set, is called with the bound address once the listener
	// is open (the port is known even for ":0"), before the database is.
	onListen func(net.Addr)
	// open opens the database; nil: sextant.Open. Tests delay or fail it.
	open func(dir string, opts *sextant.Options) (*sextant.DB, error)
}

// shutdownTimeout bounds how long in-flight requests may take to finish on
// shutdown; the DB is closed after them either way.
const shutdownTimeout = 10 * time.Second

// envPrefix prefixes the environment variable of every serve flag:
// --max-body-bytes is SEXTANT_MAX_BODY_BYTES.
const envPrefix = "SEXTANT_"

// serveFlags are the flags of sextant serve.
type serveFlags struct {
	data, addr           string
	apiKeys, apiKeysFile string
	corsOrigins          string
	maxBodyBytes         int64
	maxBatchSize         int
	logLevel, logFormat  string
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.data, "data", "./sextant-data", "data directory (created if needed)")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8000", "address to listen on")
	fs.StringVar(&f.apiKeys, "api-keys", "", "comma-separated API keys; a :ro suffix makes a key read-only (k1,k2:ro)")
	fs.StringVar(&f.apiKeysFile, "api-keys-file", "", "file of API keys, one per line (:ro suffix = read-only; # comments)")
	fs.StringVar(&f.corsOrigins, "cors-origins", "", "comma-separated origins browsers may call from (* for any)")
	fs.Int64Var(&f.maxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request body accepted (larger: 413)")
	fs.IntVar(&f.maxBatchSize, "max-batch-size", server.DefaultMaxBatchSize, "most records in one add/update/upsert (advertised to clients)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if set. The command line wins.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errList []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "help" {
			return
		}
		v, ok := lookup(envName(fl.Name))
		if !ok {
			return
		}
		if err := fs.Set(fl.Name, v); err != nil {
			errList = append(errList, fmt.Errorf("%s=%q: %w", envName(fl.Name), v, err))
		}
	})
	return errors.Join(errList...)
}

// config turns the flags into a serveConfig, logging to w.
func (f *serveFlags) config(w io.Writer) (serveConfig, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return serveConfig{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch f.logFormat {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return serveConfig{}, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	keys, err := parseKeys(f.apiKeys, "--api-keys")
	if err != nil {
		return serveConfig{}, err
	}
	if f.apiKeysFile != "" {
		b, err := os.ReadFile(f.apiKeysFile)
		if err != nil {
			return serveConfig{}, fmt.Errorf("--api-keys-file: %w", err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		more, err := parseKeys(strings.Join(lines, ","), "--api-keys-file "+f.apiKeysFile)
		if err != nil {
			return serveConfig{}, err
		}
		if len(more) == 0 {
			return serveConfig{}, fmt.Errorf("--api-keys-file %s: no keys in it", f.apiKeysFile)
		}
		keys = append(keys, more...)
	}
	if f.maxBodyBytes <= 0 {
		return serveConfig{}, fmt.Errorf("--max-body-bytes %d: must be > 0", f.maxBodyBytes)
	}
	if f.maxBatchSize <= 0 {
		return serveConfig{}, fmt.Errorf("--max-batch-size %d: must be > 0", f.maxBatchSize)
	}
	return serveConfig{
		dataDir: f.data,
		addr:    f.addr,
		logger:  slog.New(h),
		server: server.Config{
			APIKeys:      keys,
			CORSOrigins:  splitList(f.corsOrigins),
			MaxBodyBytes: f.maxBodyBytes,
			MaxBatchSize: f.maxBatchSize,
			Version:      Version,
		},
	}, nil
}

// parseKeys parses "k1,k2:ro".
func parseKeys(s, what string) ([]server.Key, error) {
	var keys []server.Key
	for _, tok := range splitList(s) {
		k := server.Key{Token: tok}
		if t, ok := strings.CutSuffix(tok, ":ro"); ok {
			k = server.Key{Token: t, ReadOnly: true}
		}
		if k.Token == "" {
			return nil, fmt.Errorf("%s: empty key", what)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the database over HTTP (Chroma-compatible API)",
		Long: `Serve opens the database in --data (created if needed) and serves Chroma's HTTP API v2
on --addr, plus /healthz, /readyz, /metrics and /openapi.json, until SIGINT or SIGTERM.
It listens before the database is open: while the collections recover, /healthz answers
200, /readyz 503 and the API 503 ({"error":"ServiceUnavailable",...}); if the database
cannot be opened it logs why and exits non-zero. On SIGINT or SIGTERM
then it stops accepting requests, waits for those in flight (at most ` + shutdownTimeout.String() + `)
and closes the database, which makes every acknowledged write durable and checkpoints.

Started by 'go run' on Linux, it also stops (as on SIGTERM) when go run exits, so that
a SIGTERM sent to go run stops the server too. Services (systemd, containers,
supervisors) should run the built binary: make build && bin/sextant serve.

Every flag can also be set by an environment variable, SEXTANT_ and the flag name in
upper snake case (--max-body-bytes: SEXTANT_MAX_BODY_BYTES). A flag given on the command
line wins.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			cfg, err := f.config(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			stopWithGoRun(cfg.logger) // after NotifyContext: it may SIGTERM us at once
			return runServe(ctx, cfg)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// runServe listens, then opens the database while already answering
// /healthz (200) and /readyz (503, like the API) so that a slow recovery is
// visible; once the database is open the server is ready. It serves until
// ctx is done, then shuts the server down (which drains requests and closes
// the DB). A failure to open the database is logged and returned.
func runServe(ctx context.Context, cfg serveConfig) error {
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	open := cfg.open
	if open == nil {
		open = sextant.Open
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	scfg := cfg.server
	scfg.Logger = log
	if scfg.Version == "" {
		scfg.Version = Version
	}
	srv := server.NewPending(scfg)
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "data", cfg.dataDir, "version", Version,
		"api_keys", len(scfg.APIKeys), "cors_origins", len(scfg.CORSOrigins))
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.onListen != nil {
		cfg.onListen(ln.Addr())
	}

	type opened struct {
		db  *sextant.DB
		err error
	}
	openDone := make(chan opened, 1)
	start := time.Now()
	log.Info("opening database", "data", cfg.dataDir)
	go func() {
		db, err := open(cfg.dataDir, &sextant.Options{Logger: log})
		openDone <- opened{db, err}
	}()

	// stop shuts the server down within shutdownTimeout.
	stop := func(errList []error) []error {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			errList = append(errList, err)
		}
		return errList
	}
	var errList []error
	select {
	case o := <-openDone:
		if o.err != nil {
			err := fmt.Errorf("open database %s: %w", cfg.dataDir, o.err)
			log.Error("cannot open the database", "data", cfg.dataDir, "err", o.err)
			errList = stop([]error{err})
			if err := <-serveErr; err != nil {
				errList = append(errList, fmt.Errorf("serve: %w", err))
			}
			return errors.Join(errList...)
		}
		if err := srv.Ready(o.db); err != nil { // unreachable: nothing shut srv down
			return errors.Join(err, o.db.Close())
		}
		log.Info("serving", "addr", "http://"+ln.Addr().String(), "open_duration", time.Since(start).Round(time.Millisecond))
	case err := <-serveErr: // failed while the database was opening
		errList = append(errList, fmt.Errorf("serve: %w", err))
		errList = stop(errList)
		if o := <-openDone; o.err == nil {
			if err := o.db.Close(); err != nil {
				errList = append(errList, fmt.Errorf("close database: %w", err))
			}
		}
		return errors.Join(errList...)
	case <-ctx.Done():
		log.Info("stopped while the database was opening; waiting for it to open, then closing it")
		errList = stop(errList)
		if err := <-serveErr; err != nil {
			errList = append(errList, fmt.Errorf("serve: %w", err))
		}
		o := <-openDone
		if o.err != nil {
			errList = append(errList, fmt.Errorf("open database %s: %w", cfg.dataDir, o.err))
		} else if err := o.db.Close(); err != nil {
			errList = append(errList, fmt.Errorf("close database: %w", err))
		}
		if err := errors.Join(errList...); err != nil {
			log.Error("stopped with errors", "err", err)
			return err
		}
		log.Info("stopped")
		return nil
	}

	select {
	case err := <-serveErr: // failed without being asked to stop
		errList = append(errList, fmt.Errorf("serve: %w", err))
		errList = stop(errList)
	case <-ctx.Done():
		log.Info("shutting down", "timeout", shutdownTimeout)
		errList = stop(errList)
		if err := <-serveErr; err != nil {
			errList = append(errList, fmt.Errorf("serve: %w", err))
		}
	}
	if err := errors.Join(errList...); err != nil {
		log.Error("stopped with errors", "err", err)
		return err
	}
	log.Info("stopped")
	return nil
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/server"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs syncBuffer
	addrc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, serveConfig{
			dataDir: dir, addr: "127.0.0.1:0",
			logger:   slog.New(slog.NewTextHandler(&logs, nil)),
			onListen: func(a net.Addr) { addrc <- a },
		})
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve stopped before listening: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start listening in 30s")
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path string) (int, string, []byte) {
		t.Helper()
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}

	// Serve listens before the database is open: wait until it is ready.
	require.Eventually(t, func() bool { c, _, _ := get("/readyz"); return c == http.StatusOK },
		30*time.Second, 5*time.Millisecond)
	before := time.Now().UnixNano()
	code, ctype, body := get("/api/v2/heartbeat")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", ctype)
	var hb map[string]int64
	require.NoError(t, json.Unmarshal(body, &hb))
	require.Len(t, hb, 1)
	require.GreaterOrEqual(t, hb["nanosecond heartbeat"], before)

	code, _, body = get("/api/v2/version")
	require.Equal(t, http.StatusOK, code)
	var v string
	require.NoError(t, json.Unmarshal(body, &v))
	require.Equal(t, Version, v)

	code, _, body = get("/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", string(body))

	code, _, _ = get("/api/v2/nope")
	require.Equal(t, http.StatusNotFound, code)
	resp, err := client.Post(base+"/api/v2/heartbeat", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	client.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down in 30s")
	}
	require.Contains(t, logs.String(), "stopped")
	_, err = os.Stat(filepath.Join(dir, "catalog.json"))
	require.NoError(t, err, "the database was created in --data")
}

// TestServeReadyAfterOpen: serve listens before the database is open and is
// not ready (nor is the API) until Open returns.
func TestServeReadyAfterOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	release := make(chan struct{})
	addrc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, serveConfig{
			dataDir: dir, addr: "127.0.0.1:0",
			logger:   slog.New(slog.NewTextHandler(&logs, nil)),
			onListen: func(a net.Addr) { addrc <- a },
			open: func(dir string, opts *sextant.Options) (*sextant.DB, error) {
				<-release // a long recovery
				return sextant.Open(dir, opts)
			},
		})
	}()
	base := "http://" + (<-addrc).String()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	code, body = get("/api/v2/tenants/default_tenant/databases/default_database/collections")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"error":"ServiceUnavailable","message":"database is recovering"}`, body)

	close(release)
	require.Eventually(t, func() bool { c, _ := get("/readyz"); return c == http.StatusOK },
		30*time.Second, 10*time.Millisecond)
	code, body = get("/api/v2/tenants/default_tenant/databases/default_database/collections")
	require.Equal(t, http.StatusOK, code, body)

	client.CloseIdleConnections()
	cancel()
	require.NoError(t, <-done, logs.String())
	require.Contains(t, logs.String(), "open_duration")
}

// TestServeOpenError: a database that cannot be opened is logged and
// returned (the command exits non-zero); the listener is closed.
func TestServeOpenError(t *testing.T) {
	var logs syncBuffer
	err := runServe(context.Background(), serveConfig{
		dataDir: "/nonexistent/data", addr: "127.0.0.1:0",
		logger: slog.New(slog.NewTextHandler(&logs, nil)),
		open: func(string, *sextant.Options) (*sextant.DB, error) {
			return nil, errors.New("catalog is corrupt")
		},
	})
	require.ErrorContains(t, err, "open database /nonexistent/data: catalog is corrupt")
	require.Contains(t, logs.String(), "cannot open the database")
}

// TestServeStopWhileOpening: a signal during recovery stops the listener at
// once, waits for Open and closes the database cleanly.
func TestServeStopWhileOpening(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	opening := make(chan struct{})
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, serveConfig{
			dataDir: dir, addr: "127.0.0.1:0", logger: slog.New(slog.DiscardHandler),
			open: func(dir string, opts *sextant.Options) (*sextant.DB, error) {
				close(opening)
				<-release
				return sextant.Open(dir, opts)
			},
		})
	}()
	<-opening
	cancel()
	time.Sleep(20 * time.Millisecond)
	close(release)
	require.NoError(t, <-done)
	_, err := os.Stat(filepath.Join(dir, "catalog.json"))
	require.NoError(t, err)
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = runServe(context.Background(), serveConfig{
		dataDir: t.TempDir(), addr: ln.Addr().String(), logger: slog.New(slog.DiscardHandler),
	})
	require.ErrorContains(t, err, "listen on "+ln.Addr().String())
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, Main(context.Background(), []string{"version"}, &out, &errb), errb.String())
	require.Contains(t, out.String(), "sextant "+Version)
}

func TestServeFlagsFromEnv(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(keysFile, []byte("# ops\nfile-key\n\nfile-ro:ro\n"), 0o600))
	env := map[string]string{
		"SEXTANT_DATA":           "/env/data",
		"SEXTANT_ADDR":           "0.0.0.0:9999", // the flag below wins
		"SEXTANT_API_KEYS":       "k1, k2:ro",
		"SEXTANT_API_KEYS_FILE":  keysFile,
		"SEXTANT_CORS_ORIGINS":   "http://a.example,http://b.example",
		"SEXTANT_MAX_BODY_BYTES": "4096",
		"SEXTANT_MAX_BATCH_SIZE": "77",
		"SEXTANT_LOG_LEVEL":      "debug",
		"SEXTANT_LOG_FORMAT":     "json",
	}
	var f serveFlags
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f.register(fs)
	require.NoError(t, fs.Parse([]string{"--addr", "127.0.0.1:7000"}))
	require.NoError(t, applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	var logs bytes.Buffer
	cfg, err := f.config(&logs)
	require.NoError(t, err)
	require.Equal(t, "/env/data", cfg.dataDir)
	require.Equal(t, "127.0.0.1:7000", cfg.addr, "the flag wins over SEXTANT_ADDR")
	require.Equal(t, []server.Key{{Token: "k1"}, {Token: "k2", ReadOnly: true}, {Token: "file-key"}, {Token: "file-ro", ReadOnly: true}},
		cfg.server.APIKeys)
	require.Equal(t, []string{"http://a.example", "http://b.example"}, cfg.server.CORSOrigins)
	require.EqualValues(t, 4096, cfg.server.MaxBodyBytes)
	require.Equal(t, 77, cfg.server.MaxBatchSize)
	cfg.logger.Debug("hello")
	require.Contains(t, logs.String(), `"msg":"hello"`, "json format, debug level")

	// A bad value names its variable.
	var g serveFlags
	fs = pflag.NewFlagSet("serve", pflag.ContinueOnError)
	g.register(fs)
	require.NoError(t, fs.Parse(nil))
	err = applyEnv(fs, func(k string) (string, bool) { return "lots", k == "SEXTANT_MAX_BODY_BYTES" })
	require.ErrorContains(t, err, "SEXTANT_MAX_BODY_BYTES")
}

// TestServeEnvEndToEnd runs the serve command as a user would, configured
// only by environment variables: keys are enforced and it stops cleanly.
func TestServeEnvEndToEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	t.Setenv("SEXTANT_DATA", filepath.Join(t.TempDir(), "data"))
	t.Setenv("SEXTANT_ADDR", addr)
	t.Setenv("SEXTANT_API_KEYS", "secret,reader:ro")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"serve"}, &out, &errb) }()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, errb.String())

	get := func(path, key string) int {
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("x-chroma-token", key)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/api/v2/heartbeat", ""))
	require.Equal(t, http.StatusUnauthorized, get("/api/v2/version", ""))
	require.Equal(t, http.StatusOK, get("/api/v2/version", "secret"))
	require.Equal(t, http.StatusOK, get("/metrics", "reader"))

	client.CloseIdleConnections()
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop in 30s")
	}
	require.Contains(t, errb.String(), "stopped")
}

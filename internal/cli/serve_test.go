package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/server"
	"github.com/sextantdb/sextant/internal/testutil"
	"github.com/sextantdb/sextant/internal/vecio"
)

// TestLoad runs the load generator for 2 s against a real server (and the
// embedded API) on a slice of glove-twitter-25: no errors, both kinds.
func TestLoad(t *testing.T) {
	dir, err := testutil.DataDir()
	require.NoError(t, err)
	base, err := vecio.ReadFvecsFile(filepath.Join(dir, "glove-twitter-25.base.fvecs"), 2000)
	require.NoError(t, err)
	qs, err := vecio.ReadFvecsFile(filepath.Join(dir, "glove-twitter-25.query.fvecs"), 200)
	require.NoError(t, err)

	db, err := sextant.Open(t.TempDir(), nil)
	require.NoError(t, err)
	srv := server.New(db, server.Config{Logger: slog.New(slog.DiscardHandler), APIKeys: []server.Key{{Token: "tok"}}})
	ts := httptest.NewServer(srv.Handler())
	defer func() {
		ts.Close()
		require.NoError(t, srv.Shutdown(context.Background()))
	}()

	cfg := loadConfig{
		url: ts.URL, token: "tok", collection: "load_test",
		base: rows(base), queries: rows(qs),
		clients: 4, duration: 2 * time.Second, upsertRatio: 0.3, k: 10, batch: 2,
		embedded: true, seed: 7,
	}
	if testing.Short() {
		cfg.duration = time.Second
	}
	rep, err := runLoad(context.Background(), cfg)
	require.NoError(t, err)
	for _, run := range []*runReport{rep.HTTP, rep.Embedded} {
		require.NotNil(t, run)
		require.Zero(t, run.Errors, "%s: %v", run.Mode, run.ErrorSamples)
		require.Equal(t, 2000, run.LoadedRows, run.Mode)
		require.Positive(t, run.Kinds[kindQuery].Requests, run.Mode)
		require.Positive(t, run.Kinds[kindUpsert].Requests, run.Mode)
		require.Equal(t, run.Requests, run.Kinds[kindQuery].Requests+run.Kinds[kindUpsert].Requests)
		require.Positive(t, run.Kinds[kindQuery].P50Ms, run.Mode)
		require.LessOrEqual(t, run.Kinds[kindQuery].P50Ms, run.Kinds[kindQuery].P99Ms)
		require.LessOrEqual(t, run.Kinds[kindQuery].P99Ms, run.Kinds[kindQuery].MaxMs)
		require.Positive(t, run.RSSStartBytes, run.Mode)
		require.Positive(t, run.RSSEndBytes, run.Mode)
	}
	require.Equal(t, "process_resident_memory_bytes from /metrics", rep.HTTP.RSSSource)
	require.NotNil(t, rep.Overhead)
	require.Positive(t, rep.Overhead.QueryP50Ratio)
	require.Positive(t, rep.Overhead.ThroughputRatio)

	// The data is there, upserts kept the ids, and a second run does not
	// load again.
	c, err := db.Default().GetCollection("load_test")
	require.NoError(t, err)
	n, err := c.Count(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2000, n)
	cfg.embedded, cfg.duration, cfg.serverPID = false, 300*time.Millisecond, 0
	rep, err = runLoad(context.Background(), cfg)
	require.NoError(t, err)
	require.Zero(t, rep.HTTP.LoadedRows)
	require.Zero(t, rep.HTTP.Errors, rep.HTTP.ErrorSamples)

	var out bytes.Buffer
	printLoadReport(&out, rep)
	require.Contains(t, out.String(), "requests/s")
}

func TestProcRSS(t *testing.T) {
	v, err := procRSS("self")
	require.NoError(t, err)
	require.Greater(t, v, int64(1<<20))
	_, err = procRSS("0")
	require.Error(t, err)
}

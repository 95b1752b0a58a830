package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant"
	"github.com/sextantdb/sextant/internal/server"
	"github.com/sextantdb/sextant/internal/testutil"
)

// serveDir serves the DB in dir (as doctorServer does) until the returned
// stop is called.
func serveDir(t *testing.T, dir string) (*sextant.DB, string, func()) {
	t.Helper()
	db, err := sextant.Open(dir, &sextant.Options{MonitorBudget: 1, ExactThreshold: 1000})
	require.NoError(t, err)
	srv := server.New(db, server.Config{Logger: slog.New(slog.DiscardHandler), APIKeys: []server.Key{{Token: "tok"}}})
	ts := httptest.NewServer(srv.Handler())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ts.Close()
			require.NoError(t, srv.Shutdown(context.Background()))
		}
	}
	t.Cleanup(stop)
	return db, ts.URL, stop
}

// TestDoctorFindingsSurviveRestart: the seed incident (a batch that is not
// normalized into a cosine collection of unit vectors) stays critical after
// a restart, with when it was first seen and the batch that raised it; the
// next clean batch raises nothing; an operator's acknowledgement resolves
// it, durably.
func TestDoctorFindingsSurviveRestart(t *testing.T) {
	ds, err := testutil.LoadDataset("wordnet-use512", 800)
	require.NoError(t, err)
	dir := t.TempDir()
	db, url, stop := serveDir(t, dir)
	c, err := db.Default().CreateCollection("incident", &sextant.CollectionConfig{Metric: sextant.Cosine, ExactThreshold: 1 << 30})
	require.NoError(t, err)
	addRows(t, c, ds.Base[:600], "u", 100)
	addRows(t, c, unnormalized(ds.Base[600:700]), "s", 100)
	code, before := runDoctorCmd(t, url, "--collection", "incident")
	require.Equal(t, 2, code, "%+v", before)
	stop()

	_, url, _ = serveDir(t, dir)
	code, after := runDoctorCmd(t, url, "--collection", "incident")
	require.Equal(t, 2, code, "a restart must not forget a critical finding: %+v", after)
	fs := findingsOf(after, "normalization")
	require.Len(t, fs, 1)
	require.Equal(t, findingsOf(before, "normalization")[0].Message, fs[0].Message, "same finding, same first seen")
	require.Contains(t, fs[0].Message, "first seen")
	require.Contains(t, fs[0].Message, `100 vectors, ids "s0".."s99"`)

	// The next clean batch raises nothing new (no model_drift blamed on it).
	body := map[string]any{"ids": []string{"c1", "c2"}, "embeddings": [][]float32{ds.Base[700], ds.Base[701]}}
	var coll struct{ ID string }
	doJSON(t, "GET", url+"/api/v2/tenants/default_tenant/databases/default_database/collections/incident", nil, &coll)
	doJSON(t, "POST", url+"/api/v2/tenants/default_tenant/databases/default_database/collections/"+coll.ID+"/add", body, nil)
	code, rep := runDoctorCmd(t, url, "--collection", "incident")
	require.Equal(t, 2, code)
	require.Empty(t, findingsOf(rep, "model_drift"), "%+v", rep)

	// Acknowledged by an operator: resolved, and it stays so.
	var ack struct {
		Acknowledged []struct{ Code, Resolution string }
	}
	doJSON(t, "POST", url+"/sextant/v1/tenants/default_tenant/databases/default_database/collections/incident/health/acknowledge",
		map[string]any{"codes": []string{"not_normalized"}, "by": "on-call"}, &ack)
	require.Len(t, ack.Acknowledged, 1)
	require.Equal(t, "acknowledged by on-call", ack.Acknowledged[0].Resolution)
	code, rep = runDoctorCmd(t, url, "--collection", "incident")
	require.Equal(t, 0, code, "%+v", rep)
}

func doJSON(t *testing.T, method, url string, body, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("x-chroma-token", "tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, url, raw)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out))
	}
}

// TestDoctorMetricMismatch: GloVe (signed, non-unit word vectors, made for
// cosine) in a default-l2 collection is a metric warning naming cosine.
func TestDoctorMetricMismatch(t *testing.T) {
	ds, err := testutil.LoadDataset("glove-twitter-25", 3000)
	require.NoError(t, err)
	db, url := doctorServer(t)
	c, err := db.Default().CreateCollection("glove-in-l2", &sextant.CollectionConfig{ExactThreshold: 1 << 30})
	require.NoError(t, err)
	addRows(t, c, ds.Base, "g", 500)
	var rep doctorReport
	code := 0
	require.Eventually(t, func() bool {
		code, rep = runDoctorCmd(t, url, "--collection", "glove-in-l2")
		return len(findingsOf(rep, "metric")) == 1 && strings.Contains(findingsOf(rep, "metric")[0].Message, "metric_mismatch")
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 1, code)
	f := findingsOf(rep, "metric")[0]
	require.Equal(t, sevWarning, f.Severity)
	require.Contains(t, f.Message, "hnsw:space cosine")
	require.Contains(t, f.Action, "acknowledge")
	require.Less(t, f.Figures["overlap_cosine"], 0.9)
}

// TestDoctorHintOnce: an unpinned collection is a hint, not a finding: it
// leaves the status ok and is given once per server and collection.
func TestDoctorHintOnce(t *testing.T) {
	db, url := doctorServer(t)
	_, err := db.Default().CreateCollection("unpinned", nil)
	require.NoError(t, err)
	state := t.TempDir()
	run := func(args ...string) (int, doctorReport) {
		return runDoctorCmd(t, url, append([]string{"--state-dir", state}, args...)...)
	}
	code, rep := run()
	require.Equal(t, 0, code)
	require.Equal(t, sevOK, rep.Status)
	require.Len(t, rep.Hints, 1, "%+v", rep)
	require.Equal(t, "embedding_model", rep.Hints[0].Check)
	require.Contains(t, rep.Hints[0].Action, "x-sextant-embedding-model")
	require.Empty(t, findingsOf(rep, "embedding_model"), "not a finding")
	_, rep = run()
	require.Empty(t, rep.Hints, "given once")
	_, rep = run("--all-hints")
	require.Len(t, rep.Hints, 1)
}

// TestDoctorUsageErrors: a triage that cannot run exits 64, distinct from
// warnings (1) and critical findings (2), and --json still prints JSON.
func TestDoctorUsageErrors(t *testing.T) {
	db, url := doctorServer(t)
	_, err := db.Default().CreateCollection("coll", nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"where not JSON", []string{"--where", "{lang: en"}, "--where: not a JSON object"},
		{"unknown operator", []string{"--where", `{"lang": {"$like": "e%"}}`}, "$like"},
		{"unknown flag", []string{"--frobnicate"}, "unknown flag"},
		{"argument", []string{"extra"}, "unexpected arguments"},
		{"negative measure", []string{"--measure", "-1"}, "--measure"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"doctor", "--url", url, "--api-key", "tok", "--state-dir", "", "--json"}, tc.args...)
		code := Main(context.Background(), args, &out, &errb)
		require.Equal(t, doctorExitUsage, code, "%s: %s %s", tc.name, out.String(), errb.String())
		var rep doctorReport
		require.NoError(t, json.Unmarshal(out.Bytes(), &rep), "%s: --json must print JSON, got %q", tc.name, out.String())
		require.Equal(t, "error", rep.Status, tc.name)
		require.Contains(t, rep.Error, tc.msg, tc.name)
		require.Empty(t, errb.String(), tc.name)

		out.Reset()
		errb.Reset()
		code = Main(context.Background(), append([]string{"doctor", "--url", url, "--api-key", "tok"}, tc.args...), &out, &errb)
		require.Equal(t, doctorExitUsage, code, tc.name)
		require.Contains(t, errb.String(), tc.msg, tc.name)
	}
}

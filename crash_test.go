package sextant

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The crash test: a child process (this test binary, re-executed) ingests
// batches and prints each acknowledgement; the parent kills it with SIGKILL
// at a random moment, reopens the database and checks that every
// acknowledged write is there, intact, that no batch is half-applied, and
// that the graph checker passes.

const (
	crashEnvDir   = "SEXTANT_CRASH_CHILD_DIR"
	crashEnvStart = "SEXTANT_CRASH_CHILD_START"
	crashBatch    = 25
	crashDim      = 16
)

func crashOptions() *Options {
	// A low threshold and small checkpoints, so that the kill lands in graph
	// builds, checkpoints and WAL rotation too.
	return &Options{ExactThreshold: 400, CheckpointBytes: 128 << 10}
}

func crashVector(batch, i int) []float32 {
	r := rand.New(rand.NewPCG(uint64(batch), uint64(i)))
	v := make([]float32, crashDim)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	return v
}

func crashID(batch, i int) string { return fmt.Sprintf("b%d-%d", batch, i) }

// runCrashChild runs the child's ingest loop when the test binary was
// started as a crash child. It never returns in that case.
func runCrashChild() bool {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		return false
	}
	start, _ := strconv.Atoi(os.Getenv(crashEnvStart))
	out := os.Stdout
	db, err := Open(dir, crashOptions())
	if err != nil {
		fmt.Fprintf(out, "ERR open: %v\n", err)
		os.Exit(2)
	}
	c, err := db.Default().GetOrCreateCollection("crash", &CollectionConfig{Metric: Cosine, Dimension: crashDim})
	if err != nil {
		fmt.Fprintf(out, "ERR collection: %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintln(out, "READY")
	for b := start; ; b++ {
		if b%4 == 3 {
			// Delete an earlier batch of this run as one atomic batch.
			victim := b - 2
			ids := make([]string, crashBatch)
			for i := range ids {
				ids[i] = crashID(victim, i)
			}
			if _, err := c.Delete(ctx, ids); err != nil {
				fmt.Fprintf(out, "ERR delete: %v\n", err)
				os.Exit(2)
			}
			fmt.Fprintf(out, "D %d\n", victim)
			continue
		}
		recs := make([]Record, crashBatch)
		for i := range recs {
			recs[i] = Record{ID: crashID(b, i), Embedding: crashVector(b, i), Metadata: Metadata{"batch": b, "i": i}, Document: Str(crashID(b, i))}
		}
		if err := c.Add(ctx, recs); err != nil {
			fmt.Fprintf(out, "ERR add: %v\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(out, "A %d\n", b)
	}
}

func TestCrashRecovery(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 6
	}
	if s := os.Getenv("SEXTANT_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		rounds = n
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(42, uint64(time.Now().UnixNano())))
	added := map[int]bool{}     // acknowledged adds
	deleted := map[int]bool{}   // acknowledged deletes
	maybeGone := map[int]bool{} // batches whose delete was in flight at the kill
	totalAcks := 0
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvStart+"="+strconv.Itoa(round*100_000))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Wait for READY, then let it run for a random while.
		select {
		case l := <-lines:
			require.Equal(t, "READY", l, "child failed to start")
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("child did not start")
		}
		time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		acks := 0
		start := round * 100_000
		done := start - 1 // last batch the child completed
		for l := range lines {
			f := strings.Fields(l)
			require.Len(t, f, 2, "child said %q", l)
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			switch f[0] {
			case "A":
				added[n] = true
				done = n
			case "D":
				deleted[n] = true
				done = n + 2
			default:
				t.Fatalf("child said %q", l)
			}
			acks++
		}
		_ = cmd.Wait()
		totalAcks += acks
		if inFlight := done + 1; inFlight%4 == 3 {
			maybeGone[inFlight-2] = true
		}
		checkCrashState(t, dir, added, deleted, maybeGone)
	}
	t.Logf("%d rounds, %d acknowledged batches, all present after SIGKILL", rounds, totalAcks)
}

func checkCrashState(t *testing.T, dir string, added, deleted, maybeGone map[int]bool) {
	t.Helper()
	db, err := Open(dir, crashOptions())
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	c, err := db.Default().GetOrCreateCollection("crash", &CollectionConfig{Metric: Cosine, Dimension: crashDim})
	require.NoError(t, err)
	require.NoError(t, c.WaitIndexed())
	require.NoError(t, c.Verify())
	all, err := c.Get(ctx, GetOptions{Include: IncludeEmbeddings | IncludeMetadatas | IncludeDocuments})
	require.NoError(t, err)
	perBatch := map[int]int{}
	for i, id := range all.IDs {
		b := int(all.Metadatas[i]["batch"].(int64))
		j := int(all.Metadatas[i]["i"].(int64))
		require.Equal(t, crashID(b, j), id)
		require.Equal(t, id, *all.Documents[i])
		want := crashVector(b, j)
		for d := range want {
			require.InEpsilon(t, want[d], all.Embeddings[i][d], 1e-5, "record %s is not intact", id)
		}
		perBatch[b]++
	}
	for b, n := range perBatch {
		require.Equal(t, crashBatch, n, "batch %d is half-present", b)
		require.False(t, deleted[b], "batch %d was deleted (acknowledged) but is present", b)
	}
	for b := range added {
		if !deleted[b] && !maybeGone[b] {
			require.Equal(t, crashBatch, perBatch[b], "acknowledged batch %d is missing", b)
		}
	}
	// Queries work and return only live records.
	res, err := c.Query(ctx, QueryOptions{Embeddings: [][]float32{crashVector(1, 1)}, K: 5})
	require.NoError(t, err)
	require.Len(t, res.IDs[0], min(5, len(all.IDs)))
}

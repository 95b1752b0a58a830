package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

// countFS counts the bytes written to each file, outside the WAL.
type countFS struct {
	vfs.FS
	mu      sync.Mutex
	written map[string]int64
}

func newCountFS(fs vfs.FS) *countFS { return &countFS{FS: fs, written: map[string]int64{}} }

type countFile struct {
	vfs.File
	fs   *countFS
	name string
}

func (f *countFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.fs.mu.Lock()
	f.fs.written[f.name] += int64(n)
	f.fs.mu.Unlock()
	return n, err
}

func (c *countFS) Create(name string) (vfs.File, error) {
	f, err := c.FS.Create(name)
	if err != nil || strings.Contains(name, "/wal/") {
		return f, err
	}
	return &countFile{File: f, fs: c, name: name}, nil
}

// take returns the bytes written since the last take, by file (the .tmp
// suffix dropped), and their total.
func (c *countFS) take() (map[string]int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, total := map[string]int64{}, int64(0)
	for k, v := range c.written {
		out[strings.TrimSuffix(k, vfs.TmpSuffix)] += v
		total += v
	}
	c.written = map[string]int64{}
	return out, total
}

// TestMeasureCheckpointBytes prints the bytes a checkpoint writes after 1,000
// upserts into a 50,000 x 128 collection (exact mode: no graph file). Set
// SEXTANT_MEASURE=1 to run it.
func TestMeasureCheckpointBytes(t *testing.T) {
	if os.Getenv("SEXTANT_MEASURE") == "" {
		t.Skip("set SEXTANT_MEASURE=1")
	}
	const n, dim, ups = 50_000, 128, 1_000
	fs := newCountFS(vfs.NewMem())
	c, err := Open(Options{FS: fs, Dir: "/db/coll", CheckpointBytes: 1 << 40},
		Config{Dim: dim, Metric: vec.L2, M: 16, EfConstruction: 100, EfSearch: 40, ExactThreshold: 1 << 30})
	require.NoError(t, err)
	verifyAtCleanup(t, c)
	r := rand.New(rand.NewPCG(1, 2))
	v := func() []float32 {
		x := make([]float32, dim)
		for i := range x {
			x[i] = r.Float32()
		}
		return x
	}
	for b := 0; b < n/1000; b++ {
		puts := make([]Put, 1000)
		for i := range puts {
			puts[i] = Put{ID: fmt.Sprintf("id-%d", b*1000+i), Vector: v(), Meta: map[string]any{"b": int64(b)}}
		}
		require.NoError(t, c.Upsert(puts))
	}
	require.NoError(t, c.Checkpoint())
	_, full := fs.take()
	puts := make([]Put, ups)
	for i, j := range r.Perm(n)[:ups] {
		puts[i] = Put{ID: fmt.Sprintf("id-%d", j), Vector: v(), Meta: map[string]any{"b": int64(-1)}}
	}
	require.NoError(t, c.Upsert(puts))
	require.NoError(t, c.Checkpoint())
	by, total := fs.take()
	var files []string
	for k, v := range by {
		files = append(files, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(files)
	t.Logf("first checkpoint: %d bytes; after %d upserts: %d bytes: %v", full, ups, total, files)
	require.NoError(t, c.Close())
}

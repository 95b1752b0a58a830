package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/storage/ckpt"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/storage/wal"
	"github.com/sextantdb/sextant/internal/vec"
)

const testDim = 8

func testVec(b, i int) []float32 {
	r := rand.New(rand.NewPCG(uint64(b), uint64(i)))
	v := make([]float32, testDim)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	return v
}

func testID(b, i int) string { return fmt.Sprintf("b%d-%d", b, i) }

func openMem(t *testing.T, fs vfs.FS, threshold int) *Collection {
	t.Helper()
	c, err := Open(Options{FS: fs, Dir: "/db/coll", CheckpointBytes: 1 << 30},
		Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: threshold})
	require.NoError(t, err)
	verifyAtCleanup(t, c)
	return c
}

func addBatch(t *testing.T, c *Collection, b, n int) {
	t.Helper()
	puts := make([]Put, n)
	for i := range puts {
		doc := fmt.Sprintf("batch %d record %d", b, i)
		puts[i] = Put{ID: testID(b, i), Vector: testVec(b, i), Meta: map[string]any{"b": int64(b), "odd": i%2 == 1}, Doc: &doc}
	}
	require.NoError(t, c.Add(puts))
}

// presentBatches returns how many records of each batch are present.
func presentBatches(t *testing.T, c *Collection) map[int]int {
	t.Helper()
	hits, err := c.Get(context.Background(), GetRequest{Include: Include{Vectors: true}})
	require.NoError(t, err)
	out := map[int]int{}
	for _, h := range hits {
		var b, i int
		_, err := fmt.Sscanf(h.ID, "b%d-%d", &b, &i)
		require.NoError(t, err)
		want := testVec(b, i)
		for j := range want {
			require.InEpsilon(t, want[j], h.Vector[j], 1e-5, "record %s not intact", h.ID)
		}
		out[b]++
	}
	return out
}

// TestPowerCutMemFS crashes a crashable in-memory FS after acknowledged
// batches (keeping a random part of what was not synced) and checks each
// acknowledged batch is intact and no batch is half-present.
func TestPowerCutMemFS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		mem := vfs.NewMem()
		c := openMem(t, mem, 50)
		n := 1 + rng.IntN(12)
		for b := 0; b < n; b++ {
			addBatch(t, c, b, 10)
			if b%5 == 4 {
				require.NoError(t, c.Checkpoint())
			}
		}
		crashed := mem.CrashClone(rng)
		closeVerified(t, c)

		c2 := openMem(t, crashed, 50)
		got := presentBatches(t, c2)
		for b := 0; b < n; b++ {
			require.Equal(t, 10, got[b], "round %d: acknowledged batch %d", round, b)
		}
		// The payload indexes (checkpoint + WAL replay) agree exactly.
		for b := 0; b < n; b++ {
			f, err := filter.Parse(map[string]any{"$and": []any{map[string]any{"b": b}, map[string]any{"odd": true}}},
				map[string]any{"$contains": fmt.Sprintf("batch %d ", b)})
			require.NoError(t, err)
			hits, err := c2.Get(context.Background(), GetRequest{Filter: f})
			require.NoError(t, err)
			require.Len(t, hits, 5, "round %d batch %d", round, b)
		}
		c2.WaitIndexed()
		closeVerified(t, c2)
	}
}

func walSegments(t *testing.T, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List("/db/coll/wal")
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			out = append(out, path.Join("/db/coll/wal", n))
		}
	}
	return out
}

func readAll(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func writeAll(t *testing.T, fs vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fs.Create(name)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// crashedWithWAL returns a crashed FS whose WAL holds batches 0..n-1 and no
// checkpoint.
func crashedWithWAL(t *testing.T, n int) *vfs.MemFS {
	mem := vfs.NewMem()
	c := openMem(t, mem, 1000)
	for b := 0; b < n; b++ {
		addBatch(t, c, b, 10)
	}
	crashed := mem.CrashClone(rand.New(rand.NewPCG(5, 6)))
	closeVerified(t, c)
	return crashed
}

func TestTornTailIsTruncated(t *testing.T) {
	fs := crashedWithWAL(t, 6)
	segs := walSegments(t, fs)
	require.NotEmpty(t, segs)
	last := segs[len(segs)-1]
	b := readAll(t, fs, last)
	writeAll(t, fs, last, b[:len(b)-7]) // tear the last batch
	c := openMem(t, fs, 1000)
	defer closeVerified(t, c)
	got := presentBatches(t, c)
	for bi := 0; bi < 5; bi++ {
		require.Equal(t, 10, got[bi])
	}
	require.Zero(t, got[5], "the torn batch must vanish entirely")
	// The repaired log takes new writes.
	addBatch(t, c, 9, 10)
	require.Equal(t, 60, c.Count())
}

func TestCorruptionInTheMiddleRefusesToOpen(t *testing.T) {
	fs := crashedWithWAL(t, 6)
	segs := walSegments(t, fs)
	last := segs[len(segs)-1]
	b := readAll(t, fs, last)
	off := len(b) / 3
	b[off] ^= 0xff
	writeAll(t, fs, last, b)
	_, err := Open(Options{FS: fs, Dir: "/db/coll"}, Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 1000})
	require.Error(t, err)
	var ce *wal.CorruptionError
	require.True(t, errors.As(err, &ce), "want a wal.CorruptionError, got %v", err)
	require.Contains(t, err.Error(), last)
	t.Logf("refused: %v", err)
}

func TestCheckpointCorruptionRefusesToOpen(t *testing.T) {
	mem := vfs.NewMem()
	c := openMem(t, mem, 20)
	for b := 0; b < 5; b++ {
		addBatch(t, c, b, 10)
	}
	c.WaitIndexed()
	closeVerified(t, c) // writes a checkpoint
	dirs, err := mem.List("/db/coll")
	require.NoError(t, err)
	var ck string
	for _, d := range dirs {
		if strings.HasPrefix(d, "ckpt-") {
			ck = path.Join("/db/coll", d)
		}
	}
	require.NotEmpty(t, ck)
	for _, p := range []string{path.Join(ck, fileGraph), path.Join(ck, filePayload), "/db/coll/seg/000001.seg"} {
		t.Run(path.Base(p), func(t *testing.T) {
			fs := mem.CrashClone(rand.New(rand.NewPCG(1, 1)))
			b := readAll(t, fs, p)
			b[len(b)/2] ^= 0x55
			writeAll(t, fs, p, b)
			_, err := Open(Options{FS: fs, Dir: "/db/coll"}, Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 20})
			require.Error(t, err)
			require.True(t, ckpt.IsCorruption(err), "%v", err)
			require.Contains(t, err.Error(), p)
		})
	}
	// Unharmed, it reopens from the checkpoint with the graph.
	c = openMem(t, mem, 20)
	require.Equal(t, 50, c.Count())
	require.Equal(t, "hnsw", c.Stats().Mode)
	closeVerified(t, c)
}

// TestFullDiskLosesNothing injects ENOSPC into WAL writes: the write fails
// with an error saying so, nothing of it is visible after reopen, and what
// was acknowledged before is intact.
func TestFullDiskLosesNothing(t *testing.T) {
	mem := vfs.NewMem()
	inj := vfs.NewCountdown(errors.New("no space left on device"), vfs.OpWrite|vfs.OpSync, "/wal/", 0)
	inj.SetEnabled(false)
	fs := vfs.WithErrors(mem, inj)
	c := openMem(t, fs, 1000)
	addBatch(t, c, 0, 10)
	inj.SetEnabled(true)
	puts := []Put{{ID: "x", Vector: testVec(9, 9)}}
	err := c.Add(puts)
	require.Error(t, err)
	require.Contains(t, err.Error(), "no space left on device")
	// The collection refuses further writes rather than pretend.
	err = c.Add([]Put{{ID: "y", Vector: testVec(9, 8)}})
	require.Error(t, err)
	inj.SetEnabled(false)
	crashed := mem.CrashClone(rand.New(rand.NewPCG(1, 1)))
	_ = c.Close()
	c2 := openMem(t, crashed, 1000)
	defer closeVerified(t, c2)
	got := presentBatches(t, c2)
	require.Equal(t, map[int]int{0: 10}, got)
}

func TestBatchCodecRoundTrip(t *testing.T) {
	doc := "hello"
	ops := []op{
		{kind: opPut, id: "a", vec: []float32{1, 2, 3}, meta: map[string]any{"k": "v", "n": int64(3), "f": 1.5, "b": true, "l": []string{"x"}}, doc: &doc},
		{kind: opSet, id: "b", setMeta: true, meta: nil, setDoc: true, doc: &doc},
		{kind: opDel, id: "c"},
	}
	got, err := decodeRecord(appendBatch(nil, 7, -3, ops))
	require.NoError(t, err)
	require.Equal(t, walRecord{kind: recBatch, index: 7, at: -3, ops: ops}, got)

	// A batch of the first format (kind 1: no index, no time) still reads.
	legacy := append([]byte{recLegacyBatch}, appendBatch(nil, 1, 0, ops)[3:]...)
	got, err = decodeRecord(legacy)
	require.NoError(t, err)
	require.Equal(t, walRecord{kind: recLegacyBatch, ops: ops}, got)

	g, err := decodeRecord(appendGuardrailRecord(nil, 9, 12345, []byte{1, 2, 3}))
	require.NoError(t, err)
	require.Equal(t, walRecord{kind: recGuardrails, index: 9, at: 12345, guard: []byte{1, 2, 3}}, g)

	for _, bad := range [][]byte{{}, {9}, {recBatch, 0, 0, 0}, {recGuardrails}} {
		_, err := decodeRecord(bad)
		require.Error(t, err, "% x", bad)
	}
}

// reencode writes a decoded record back in its own kind.
func reencode(r walRecord) []byte {
	switch r.kind {
	case recGuardrails:
		return appendGuardrailRecord(nil, r.index, r.at, r.guard)
	case recLegacyBatch:
		b := appendBatch(nil, 1, 0, r.ops)
		return append([]byte{recLegacyBatch}, b[3:]...)
	}
	return appendBatch(nil, r.index, r.at, r.ops)
}

func FuzzDecodeRecord(f *testing.F) {
	doc := "d"
	f.Add(appendBatch(nil, 1, 5, []op{{kind: opPut, id: "a", vec: []float32{1, 2}, doc: &doc, meta: map[string]any{"x": []int64{1, 2}}}}))
	f.Add(appendBatch(nil, 300, -1, []op{{kind: opDel, id: "zz"}, {kind: opSet, id: "q", setMeta: true, meta: map[string]any{"a": 1.0}}}))
	f.Add(appendGuardrailRecord(nil, 2, 1, []byte{secLedger, 1, 1}))
	f.Add([]byte{recLegacyBatch, 1, 3, 1, 'x'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		// What decodes re-encodes canonically, and that decodes to the same.
		canon := reencode(r)
		r2, err := decodeRecord(canon)
		require.NoError(t, err)
		require.Equal(t, canon, reencode(r2))
	})
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte{0}, uint32(10))
	f.Add([]byte{1, 3, 1, 1, 'a', 0, 0, 128, 63, 0, 0}, uint32(10))
	f.Fuzz(func(t *testing.T, b []byte, slots uint32) {
		_, _ = decodeRecords(b, slots%100000)
	})
}

package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/ckpt"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

// fixtureWrites are the writes behind testdata/ckpt-v1: batches past the
// exact threshold (a graph), replacements, metadata-only updates and deletes.
func fixtureWrites(t *testing.T, c *Collection) {
	t.Helper()
	for b := 0; b < 4; b++ {
		addBatch(t, c, b, 10)
	}
	c.WaitIndexed()
	require.NoError(t, c.Upsert([]Put{{ID: testID(1, 3), Vector: testVec(7, 3)}}))
	require.NoError(t, c.Update([]Update{{ID: testID(2, 4), Meta: map[string]any{"tag": "x"}}}))
	_, err := c.Delete([]string{testID(0, 1), testID(3, 9)})
	require.NoError(t, err)
}

// loadFixture copies the collection directory testdata/<name> into a MemFS at
// /db/coll.
func loadFixture(t *testing.T, name string) *vfs.MemFS {
	t.Helper()
	mem := vfs.NewMem()
	root := filepath.Join("testdata", name)
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		require.NoError(t, err)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		dst := filepath.ToSlash(filepath.Join("/db/coll", rel))
		require.NoError(t, mem.MkdirAll(filepath.Dir(dst), 0o755))
		writeAll(t, mem, dst, b)
		return nil
	}))
	return mem
}

func allRecords(t *testing.T, c *Collection) []Hit {
	t.Helper()
	hits, err := c.Get(context.Background(), GetRequest{Include: Include{Vectors: true, Metadatas: true, Documents: true}})
	require.NoError(t, err)
	return hits
}

// TestCheckpointV1Loads opens testdata/ckpt-v1, a checkpoint of the first
// format (whole vectors and records files, written by the code before
// segments), and checks it holds what the same writes make; a checkpoint
// written on top of it reopens the same.
func TestCheckpointV1Loads(t *testing.T) {
	want := openMem(t, vfs.NewMem(), 20)
	fixtureWrites(t, want)
	defer closeVerified(t, want)

	mem := loadFixture(t, "ckpt-v1")
	c := openMem(t, mem, 20)
	require.Equal(t, allRecords(t, want), allRecords(t, c))
	require.Equal(t, "hnsw", c.Stats().Mode)
	addBatch(t, c, 9, 5)
	addBatch(t, want, 9, 5)
	require.NoError(t, c.Checkpoint())
	closeVerified(t, c)
	c = openMem(t, mem, 20)
	require.Equal(t, allRecords(t, want), allRecords(t, c))
	closeVerified(t, c)
}

// segFiles returns the sizes of the segment files in fs, by number.
func segFiles(t *testing.T, fs vfs.FS) map[uint64]int64 {
	t.Helper()
	names, err := fs.List("/db/coll/seg")
	if vfs.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	out := map[uint64]int64{}
	for _, n := range names {
		var k uint64
		_, err := fmt.Sscanf(n, "%06d.seg", &k)
		require.NoError(t, err, n)
		st, err := fs.Stat("/db/coll/seg/" + n)
		require.NoError(t, err)
		out[k] = st.Size()
	}
	return out
}

func openSeg(t *testing.T, fs vfs.FS, maxSegs int) *Collection {
	t.Helper()
	c, err := Open(Options{FS: fs, Dir: "/db/coll", CheckpointBytes: 1 << 30, MaxSegments: maxSegs},
		Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 50})
	require.NoError(t, err)
	verifyAtCleanup(t, c)
	return c
}

// TestCheckpointWritesWhatChanged checks that a checkpoint after a few writes
// writes a segment of those records only, whatever the collection's size,
// and that the segments, deltas and compactions alike, reopen to the state.
func TestCheckpointWritesWhatChanged(t *testing.T) {
	// Bytes of one entry with a vector and a record of addBatch, about.
	const entryMax = 1 + 1 + 4*testDim + 80
	mem := vfs.NewMem()
	c := openSeg(t, mem, 4)
	for b := 0; b < 20; b++ {
		addBatch(t, c, b, 50) // 1,000 records: past the threshold, a graph
	}
	c.WaitIndexed()
	require.NoError(t, c.Checkpoint())
	first := segFiles(t, mem)
	require.Len(t, first, 1)
	require.Greater(t, first[1], int64(1000*(4*testDim+20)), "the first segment holds every record")

	doc := "changed"
	for _, tc := range []struct {
		name    string
		write   func()
		entries uint64 // of the delta
		vectors int    // entries with a vector
		segs    []uint64
	}{
		{"insert 5", func() { addBatch(t, c, 100, 5) }, 5, 5, []uint64{1, 2}},
		{"replace 3 vectors", func() {
			require.NoError(t, c.Upsert([]Put{{ID: testID(3, 1), Vector: testVec(50, 1)}, {ID: testID(3, 2), Vector: testVec(50, 2)}, {ID: testID(100, 0), Vector: testVec(50, 3)}}))
		}, 6, 3, []uint64{1, 2, 3}}, // the old slots (nodes) deleted, new ones written
		{"nothing changed", func() {}, 0, 0, []uint64{1, 2, 3}},
		{"metadata of 4", func() {
			ups := make([]Update, 4)
			for i := range ups {
				ups[i] = Update{ID: testID(7, i), Meta: map[string]any{"k": int64(i)}, SetDoc: true, Doc: &doc}
			}
			require.NoError(t, c.Update(ups))
		}, 4, 0, []uint64{1, 2, 3, 5}},
		{"delete 2: compaction (4 segments)", func() {
			_, err := c.Delete([]string{testID(9, 9), testID(100, 4)})
			require.NoError(t, err)
		}, 0, 0, []uint64{6}},
		{"delete 1 after the compaction", func() {
			_, err := c.Delete([]string{testID(9, 8)})
			require.NoError(t, err)
		}, 1, 0, []uint64{6, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.WaitIndexed() // replaced records are nodes: their slots are not reused
			before := segFiles(t, mem)
			tc.write()
			require.NoError(t, c.Checkpoint())
			require.Equal(t, tc.segs, segNumbers(c.segs))
			after := segFiles(t, mem)
			require.Len(t, after, len(tc.segs), "files: only the manifest's segments remain")
			last := c.segs[len(c.segs)-1]
			if len(tc.segs) == 1 {
				require.Equal(t, uint64(c.Stats().Slots), last.Entries, "a full segment")
				return
			}
			if _, old := before[last.N]; old {
				require.Zero(t, tc.entries, "no new segment")
				return
			}
			require.Equal(t, tc.entries, last.Entries)
			require.Equal(t, after[last.N], last.Bytes)
			// O(changed): header and one block, the entries, no more.
			require.LessOrEqual(t, last.Bytes, int64(40+tc.vectors*4*testDim+int(tc.entries)*80))
			require.Less(t, last.Bytes, int64(entryMax)*int64(max(tc.entries, 1)))
		})
	}
	want := allRecords(t, c)
	closeVerified(t, c)
	c = openSeg(t, mem, 4)
	require.Equal(t, want, allRecords(t, c))
	require.Equal(t, "hnsw", c.Stats().Mode)
	closeVerified(t, c)
}

// TestCheckpointCrash cuts the power at every file operation of a checkpoint
// (segment, checkpoint files, MANIFEST, sweeps) and checks the reopened
// collection holds every record acknowledged before the checkpoint started,
// whichever MANIFEST survived, and no segment the MANIFEST does not name
// after the reopen.
func TestCheckpointCrash(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxSegs int
	}{{"delta", 8}, {"compaction", 2}} {
		t.Run(tc.name, func(t *testing.T) { testCheckpointCrash(t, tc.maxSegs) })
	}
}

func testCheckpointCrash(t *testing.T, maxSegs int) {
	done := false // the checkpoint ran to its end before the power cut
	for after := 0; !done; after++ {
		require.Less(t, after, 200)
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			mem := vfs.NewMem()
			c := openSeg(t, mem, maxSegs)
			addBatch(t, c, 0, 60)
			require.NoError(t, c.Checkpoint())
			addBatch(t, c, 1, 10)
			require.NoError(t, c.Checkpoint()) // a delta: segments 1, 2
			_, err := c.Delete([]string{testID(0, 3)})
			require.NoError(t, err)
			addBatch(t, c, 2, 10)
			want := allRecords(t, c)
			// The next checkpoint writes a delta, or compacts (at 2
			// segments): the power goes after `after` operations of it.
			var crashed *vfs.MemFS
			left := after
			inj := vfs.InjectorFunc(func(op vfs.Op, p string) error {
				if crashed == nil && !strings.Contains(p, "/wal/") {
					if left == 0 {
						crashed = mem.CrashClone(rand.New(rand.NewPCG(uint64(after), 3)))
					}
					left--
				}
				return nil
			})
			c.opts.FS = vfs.WithErrors(mem, inj)
			require.NoError(t, c.Checkpoint())
			if crashed == nil {
				done = true
				crashed = mem.CrashClone(rand.New(rand.NewPCG(9, 3)))
			}
			closeVerified(t, c)
			c2 := openSeg(t, crashed, maxSegs)
			require.Equal(t, want, allRecords(t, c2))
			files := segFiles(t, crashed)
			require.Len(t, files, len(c2.segs), "segments on disk %v, manifest %v", files, c2.segs)
			for _, s := range c2.segs {
				require.Contains(t, files, s.N)
			}
			// And it checkpoints and reopens again.
			addBatch(t, c2, 3, 5)
			require.NoError(t, c2.Checkpoint())
			want = allRecords(t, c2)
			closeVerified(t, c2)
			c2 = openSeg(t, crashed, maxSegs)
			require.Equal(t, want, allRecords(t, c2))
			closeVerified(t, c2)
		})
	}
}

// TestSegmentCorruptionNamesFileAndOffset damages a delta segment's entry
// (its CRC made to match) and its manifest entry: open refuses, naming the
// file and the block's offset.
func TestSegmentCorruptionNamesFileAndOffset(t *testing.T) {
	mem := vfs.NewMem()
	c := openSeg(t, mem, 8)
	addBatch(t, c, 0, 10)
	require.NoError(t, c.Checkpoint())
	addBatch(t, c, 1, 3)
	require.NoError(t, c.Checkpoint())
	closeVerified(t, c)
	p := ckpt.SegmentPath("/db/coll", 2)
	good := readAll(t, mem, p)
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)-10] ^= 1; return b }, "at offset 26: block checksum mismatch"},
		{"bad flags", func(b []byte) []byte {
			b[26+12+1] = 0x80 // the first entry's flags (slot 10: one byte)
			return fixBlockCRC(b, 26)
		}, "at offset 26: entry 0 of the block: unknown flags 0x80"},
		{"slot out of range", func(b []byte) []byte {
			b[26+12] = 70
			return fixBlockCRC(b, 26)
		}, "at offset 26: entry 0 of the block: slot 70 out of range 13"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "at offset 0: segment has"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := mem.CrashClone(rand.New(rand.NewPCG(1, 1)))
			writeAll(t, fs, p, tc.edit(bytes.Clone(good)))
			_, err := Open(Options{FS: fs, Dir: "/db/coll"}, Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 50})
			require.Error(t, err)
			require.True(t, ckpt.IsCorruption(err), "%v", err)
			require.Contains(t, err.Error(), "ckpt: corruption in "+p+" "+tc.want)
		})
	}
}

// fixBlockCRC recomputes the CRC of the block at off, as a writer with a bug
// would have written it.
func fixBlockCRC(b []byte, off int) []byte {
	n := int(binary.LittleEndian.Uint32(b[off:]))
	tab := crc32.MakeTable(crc32.Castagnoli)
	crc := crc32.Update(crc32.Checksum(b[off:off+8], tab), tab, b[off+12:off+12+n])
	binary.LittleEndian.PutUint32(b[off+8:], crc)
	return b
}

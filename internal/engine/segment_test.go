package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
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

// dumpFS copies every file under /db/coll of fs into dir.
func dumpFS(t *testing.T, fs vfs.FS, from, dir string) {
	t.Helper()
	names, err := fs.List(from)
	require.NoError(t, err)
	for _, n := range names {
		p := from + "/" + n
		st, err := fs.Stat(p)
		require.NoError(t, err)
		if st.IsDir() {
			dumpFS(t, fs, p, filepath.Join(dir, n))
			continue
		}
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), readAll(t, fs, p), 0o644))
	}
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

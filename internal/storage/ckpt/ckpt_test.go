package ckpt

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

const dir = "/db/coll"

func files(gen int) []File {
	return []File{
		{Name: "vectors", Data: bytes.Repeat([]byte{byte(gen)}, 1000*gen)},
		{Name: "graph", Data: []byte(fmt.Sprintf("graph of generation %d", gen))},
		{Name: "empty", Data: nil},
	}
}

func meta(gen int) []byte { return []byte(fmt.Sprintf("meta %d", gen)) }

// checkCurrent verifies that the current checkpoint in fsys is whole and is
// generation gen's, and returns gen (0 if none).
func checkCurrent(t *testing.T, fsys vfs.FS) int {
	t.Helper()
	m, ok, err := ReadManifest(fsys, dir)
	require.NoError(t, err)
	if !ok {
		return 0
	}
	gen := int(m.Checkpoint)
	require.Equal(t, meta(gen), m.Meta)
	for _, f := range files(gen) {
		got, err := ReadFile(fsys, dir, m.Checkpoint, f.Name)
		require.NoError(t, err)
		require.Equal(t, len(f.Data), len(got))
		require.True(t, bytes.Equal(f.Data, got))
	}
	return gen
}

func TestRoundTrip(t *testing.T) {
	fsys := vfs.NewMem()
	_, ok, err := ReadManifest(fsys, dir)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, Sweep(fsys, dir, 0))

	for gen := 1; gen <= 3; gen++ {
		require.NoError(t, Write(fsys, dir, uint64(gen), files(gen), meta(gen)))
		require.Equal(t, gen, checkCurrent(t, fsys))
		names, err := fsys.List(dir)
		require.NoError(t, err)
		require.Equal(t, []string{ManifestName, DirName(uint64(gen))}, names)
	}
	// Durable once Write returns.
	c := fsys.CrashClone(rand.New(rand.NewPCG(1, 1)))
	require.Equal(t, 3, checkCurrent(t, c))

	require.ErrorIs(t, Write(fsys, dir, 3, files(3), nil), ErrBadNumber)
	require.ErrorIs(t, Write(fsys, dir, 0, nil, nil), ErrBadNumber)
	for _, bad := range []string{"", ".", "..", "a/b", "x.tmp", ManifestName} {
		require.ErrorIs(t, Write(fsys, dir, 9, []File{{Name: bad}}, nil), ErrBadName, bad)
	}
	require.ErrorIs(t, Write(fsys, dir, 9, []File{{Name: "a"}, {Name: "a"}}, nil), ErrBadName)
	_, err = ReadFile(fsys, dir, 3, "missing")
	require.True(t, vfs.IsNotExist(err))
}

func TestCrashDuringWrite(t *testing.T) {
	errCrash := errors.New("crash")
	for step := 1; ; step++ {
		mem := vfs.NewMem()
		require.NoError(t, Write(mem, dir, 1, files(1), meta(1)))
		var clones []*vfs.MemFS
		n := 0
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			n++
			if n == step {
				for i := range 4 {
					clones = append(clones, mem.CrashClone(rand.New(rand.NewPCG(uint64(step), uint64(i)))))
				}
				return errCrash
			}
			return nil
		})
		err := Write(vfs.WithErrors(mem, inj), dir, 2, files(2), meta(2))
		if err == nil {
			require.Equal(t, 2, checkCurrent(t, mem.CrashClone(rand.New(rand.NewPCG(0, 0)))))
			require.Greater(t, step, 10)
			return
		}
		require.ErrorIs(t, err, errCrash, "step %d", step)
		for _, c := range clones {
			gen := checkCurrent(t, c)
			require.Contains(t, []int{1, 2}, gen, "step %d", step)
			// Recovery: sweep, then the directory holds just the current one,
			// and a later checkpoint can be written.
			require.NoError(t, Sweep(c, dir, uint64(gen)))
			names, err := c.List(dir)
			require.NoError(t, err)
			require.Equal(t, []string{ManifestName, DirName(uint64(gen))}, names, "step %d", step)
			require.Equal(t, gen, checkCurrent(t, c))
			require.NoError(t, Write(c, dir, 3, files(3), meta(3)))
			require.Equal(t, 3, checkCurrent(t, c))
		}
		// Without a sweep or restart, a retry works too (with the same number
		// if the failed Write did not make it current).
		next := uint64(2)
		if checkCurrent(t, mem) == 2 {
			next = 3
		}
		require.NoError(t, Write(mem, dir, next, files(int(next)), meta(int(next))))
		require.Equal(t, int(next), checkCurrent(t, mem))
	}
}

func TestWriteErrors(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, Write(mem, dir, 1, files(1), meta(1)))
	inj := vfs.NewCountdown(syscall.ENOSPC, vfs.OpWrite, "", 1)
	err := Write(vfs.WithErrors(mem, inj), dir, 2, files(2), meta(2))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, 1, checkCurrent(t, mem))
}

func TestCorruption(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, Write(mem, dir, 1, files(1), meta(1)))
	path := filepath.Join(dir, DirName(1), "vectors")
	orig := readRaw(t, mem, path)
	for _, off := range []int{0, 5, 9, 16, 500, len(orig) - 1} {
		b := bytes.Clone(orig)
		b[off] ^= 0x10
		writeRaw(t, mem, path, b)
		_, err := ReadFile(mem, dir, 1, "vectors")
		var ce *CorruptionError
		require.ErrorAs(t, err, &ce, "offset %d", off)
		require.Equal(t, path, ce.File)
		require.Contains(t, err.Error(), path)
	}
	writeRaw(t, mem, path, orig[:len(orig)-1])
	_, err := ReadFile(mem, dir, 1, "vectors")
	require.True(t, IsCorruption(err))

	mpath := filepath.Join(dir, ManifestName)
	morig := readRaw(t, mem, mpath)
	for off := range morig {
		b := bytes.Clone(morig)
		b[off] ^= 0x01
		writeRaw(t, mem, mpath, b)
		_, _, err := ReadManifest(mem, dir)
		var ce *CorruptionError
		require.ErrorAs(t, err, &ce, "offset %d", off)
		require.Equal(t, mpath, ce.File)
	}
}

func readRaw(t *testing.T, fsys vfs.FS, path string) []byte {
	t.Helper()
	b, err := readAll(fsys, path, 0)
	require.NoError(t, err)
	return b
}

func writeRaw(t *testing.T, fsys vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fsys.Create(path)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestSweep(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll(filepath.Join(dir, "ckpt-000004.tmp"), 0o755))
	require.NoError(t, mem.MkdirAll(filepath.Join(dir, "ckpt-000003"), 0o755))
	require.NoError(t, mem.MkdirAll(filepath.Join(dir, "ckpt-000002"), 0o755))
	require.NoError(t, mem.MkdirAll(filepath.Join(dir, "wal"), 0o755))
	writeRaw(t, mem, filepath.Join(dir, "MANIFEST.tmp"), []byte("x"))
	require.NoError(t, Sweep(mem, dir, 3))
	names, err := mem.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"ckpt-000003", "wal"}, names)
}

func TestOSFS(t *testing.T) {
	d := t.TempDir()
	require.NoError(t, Write(vfs.Default, d, 1, []File{{Name: "a", Data: []byte("hello")}}, []byte("m")))
	require.NoError(t, Write(vfs.Default, d, 2, []File{{Name: "a", Data: []byte("world")}}, []byte("n")))
	m, ok, err := ReadManifest(vfs.Default, d)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Manifest{Checkpoint: 2, Meta: []byte("n")}, m)
	got, err := ReadFile(vfs.Default, d, 2, "a")
	require.NoError(t, err)
	require.Equal(t, []byte("world"), got)
}

func FuzzDecodeFile(f *testing.F) {
	f.Add(AppendFile(nil, []byte("payload")))
	f.Add(AppendFile(nil, nil))
	f.Add([]byte("SXCK"))
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, _, reason := decodeFile(b)
		if reason == "" && !bytes.Equal(AppendFile(nil, payload), b) {
			t.Fatal("accepted a file that does not re-encode identically")
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(appendManifest(nil, Manifest{Checkpoint: 7, Meta: []byte("meta")}))
	f.Add(appendManifest(nil, Manifest{Checkpoint: 1}))
	f.Add([]byte("SXMF\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, reason := decodeManifest(b)
		if reason == "" && !bytes.Equal(appendManifest(nil, m), b) {
			t.Fatal("accepted a manifest that does not re-encode identically")
		}
	})
}

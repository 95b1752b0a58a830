package vfs

import (
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func writeFile(t *testing.T, fsys FS, name string, data []byte, sync bool) {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
}

func TestMemBasics(t *testing.T) {
	m := NewMem()
	require.NoError(t, m.MkdirAll("/a/b", 0o755))
	writeFile(t, m, "/a/b/x", []byte("hello"), false)
	writeFile(t, m, "/a/b/y", nil, false)
	names, err := m.List("/a/b")
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, names)
	require.Equal(t, []byte("hello"), readAll(t, m, "/a/b/x"))

	_, err = m.Open("/a/b/z")
	require.True(t, IsNotExist(err))
	_, err = m.Stat("/nope/z")
	require.ErrorIs(t, err, fsErrNotExist())

	require.NoError(t, m.Rename("/a/b/x", "/a/b/y"))
	require.Equal(t, []byte("hello"), readAll(t, m, "/a/b/y"))
	require.Error(t, m.Remove("/a"))
	require.NoError(t, m.RemoveAll("/a"))
	require.NoError(t, m.RemoveAll("/a"))
	_, err = m.List("/a")
	require.True(t, IsNotExist(err))

	// Read-only files refuse writes; closed files refuse everything.
	writeFile(t, m, "/f", []byte("abc"), false)
	f, err := m.Open("/f")
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	require.Error(t, err)
	buf := make([]byte, 2)
	n, err := f.ReadAt(buf, 2)
	require.Equal(t, 1, n)
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, f.Close())
	_, err = f.Read(buf)
	require.Error(t, err)

	rw, err := m.OpenReadWrite("/f")
	require.NoError(t, err)
	require.NoError(t, rw.Truncate(1))
	st, err := rw.Stat()
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Size())
	require.Equal(t, "f", st.Name())
	require.NoError(t, rw.Close())
}

func fsErrNotExist() error { return errNotExist }

var errNotExist = func() error {
	_, err := NewMem().Open("x")
	return errors.Unwrap(err)
}()

func TestMemCrash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewMem()
	require.NoError(t, MkdirAllDurable(m, "/d"))

	// A synced file whose dir entry is synced survives.
	writeFile(t, m, "/d/synced", []byte("durable"), true)
	// A synced file whose dir entry is not synced is lost.
	require.NoError(t, SyncDir(m, "/d"))
	writeFile(t, m, "/d/nodirsync", []byte("lost"), true)

	c := m.CrashClone(rng)
	require.Equal(t, []byte("durable"), readAll(t, c, "/d/synced"))
	_, err := c.Stat("/d/nodirsync")
	require.True(t, IsNotExist(err))

	// An unsynced rename or remove is lost too.
	require.NoError(t, m.Rename("/d/synced", "/d/renamed"))
	c = m.CrashClone(rng)
	_, err = c.Stat("/d/renamed")
	require.True(t, IsNotExist(err))
	require.Equal(t, []byte("durable"), readAll(t, c, "/d/synced"))
	require.NoError(t, SyncDir(m, "/d"))
	c = m.CrashClone(rng)
	require.Equal(t, []byte("durable"), readAll(t, c, "/d/renamed"))
	_, err = c.Stat("/d/synced")
	require.True(t, IsNotExist(err))

	// Torn tail: unsynced appended bytes survive as a random prefix, and
	// every length is seen.
	f, err := m.OpenReadWrite("/d/renamed")
	require.NoError(t, err)
	_, err = f.ReadAt(make([]byte, 7), 0)
	require.NoError(t, err)
	f2, err := m.Create("/d/log")
	require.NoError(t, err)
	_, err = f2.Write([]byte("0123"))
	require.NoError(t, err)
	require.NoError(t, f2.Sync())
	require.NoError(t, SyncDir(m, "/d"))
	_, err = f2.Write([]byte("456789"))
	require.NoError(t, err)
	seen := map[string]bool{}
	for range 200 {
		c := m.CrashClone(rng)
		got := string(readAll(t, c, "/d/log"))
		require.Contains(t, []string{"0123", "01234", "012345", "0123456", "01234567", "012345678", "0123456789"}, got)
		seen[got] = true
	}
	require.Len(t, seen, 7)

	// Overwriting synced bytes: the crash keeps the synced contents.
	_, err = f.Write([]byte("DUR"))
	require.NoError(t, err)
	require.Equal(t, []byte("DURable"), readAll(t, m, "/d/renamed"))
	require.Equal(t, []byte("durable"), readAll(t, m.CrashClone(rng), "/d/renamed"))
	require.NoError(t, f.Sync())
	require.Equal(t, []byte("DURable"), readAll(t, m.CrashClone(rng), "/d/renamed"))
	// An unsynced truncate is lost.
	require.NoError(t, f.Truncate(3))
	require.Equal(t, []byte("DURable"), readAll(t, m.CrashClone(rng), "/d/renamed"))
	require.NoError(t, f.Close())
	require.NoError(t, f2.Close())

	// A clone is independent of its source.
	c = m.CrashClone(rng)
	writeFile(t, c, "/d/renamed", []byte("other"), true)
	require.Equal(t, []byte("DUR"), readAll(t, m, "/d/renamed"))
}

func TestErrorInjection(t *testing.T) {
	m := NewMem()
	inj := NewCountdown(syscall.ENOSPC, OpWrite|OpSync, "wal", 2)
	e := WithErrors(m, inj)
	f, err := e.Create("/x.wal")
	require.NoError(t, err)
	_, err = f.Write([]byte("a"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	_, err = f.Write([]byte("b"))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorIs(t, f.Sync(), syscall.ENOSPC)
	require.Equal(t, 2, inj.Injected())

	// Other paths and kinds are unaffected.
	g, err := e.Create("/other")
	require.NoError(t, err)
	_, err = g.Write([]byte("ok"))
	require.NoError(t, err)

	inj.SetEnabled(false)
	_, err = f.Write([]byte("c"))
	require.NoError(t, err)
	require.Equal(t, []byte("ac"), readAll(t, m, "/x.wal"))
	inj.SetEnabled(true)
	require.NoError(t, e.Rename("/x.wal", "/y.wal"), "rename is not in the mask")
}

func TestErrorInjectionKinds(t *testing.T) {
	for _, op := range []Op{OpCreate, OpRename, OpRemove, OpMkdir, OpOpen, OpList, OpStat} {
		t.Run(op.String(), func(t *testing.T) {
			m := NewMem()
			writeFile(t, m, "/a", []byte("x"), false)
			e := WithErrors(m, NewCountdown(syscall.EIO, op, "", 0))
			var err error
			switch op {
			case OpCreate:
				_, err = e.Create("/b")
			case OpRename:
				err = e.Rename("/a", "/b")
			case OpRemove:
				err = e.Remove("/a")
			case OpMkdir:
				err = e.MkdirAll("/d", 0o755)
			case OpOpen:
				_, err = e.Open("/a")
			case OpList:
				_, err = e.List("/")
			case OpStat:
				_, err = e.Stat("/a")
			}
			require.ErrorIs(t, err, syscall.EIO)
		})
	}
	require.Equal(t, "write|sync", (OpWrite | OpSync).String())
}

func TestWriteFileAtomicCrash(t *testing.T) {
	// Crash before each operation of WriteFileAtomic: the file holds the old
	// contents or the new ones, never a mix or nothing.
	oldData, newData := []byte("old contents"), []byte("the new contents, longer")
	for step := 1; ; step++ {
		m := NewMem()
		require.NoError(t, MkdirAllDurable(m, "/d"))
		require.NoError(t, WriteFileAtomic(m, "/d/F", oldData))
		var clones []*MemFS
		n := 0
		errCrash := errors.New("crash")
		e := WithErrors(m, InjectorFunc(func(op Op, path string) error {
			n++
			if n == step {
				for i := range 5 {
					clones = append(clones, m.CrashClone(rand.New(rand.NewPCG(uint64(step), uint64(i)))))
				}
				return errCrash
			}
			return nil
		}))
		err := WriteFileAtomic(e, "/d/F", newData)
		if err == nil {
			// Past the last step: the new contents are durable.
			c := m.CrashClone(rand.New(rand.NewPCG(1, 1)))
			require.Equal(t, newData, readAll(t, c, "/d/F"))
			require.Greater(t, step, 4)
			return
		}
		require.ErrorIs(t, err, errCrash)
		for _, c := range clones {
			got := readAll(t, c, "/d/F")
			if string(got) != string(oldData) && string(got) != string(newData) {
				t.Fatalf("step %d: got %q", step, got)
			}
			require.NoError(t, SweepTmp(c, "/d"))
			names, err := c.List("/d")
			require.NoError(t, err)
			require.Equal(t, []string{"F"}, names)
		}
	}
}

func TestOSFS(t *testing.T) {
	dir := t.TempDir()
	fsys := Default
	sub := filepath.Join(dir, "a", "b")
	require.NoError(t, MkdirAllDurable(fsys, sub))
	p := filepath.Join(sub, "f")
	require.NoError(t, WriteFileAtomic(fsys, p, []byte("v1")))
	require.NoError(t, WriteFileAtomic(fsys, p, []byte("v2")))
	require.Equal(t, []byte("v2"), readAll(t, fsys, p))
	writeFile(t, fsys, filepath.Join(sub, "junk.tmp"), []byte("x"), false)
	require.NoError(t, fsys.MkdirAll(filepath.Join(sub, "ckpt-000001.tmp"), 0o755))
	require.NoError(t, SweepTmp(fsys, sub))
	names, err := fsys.List(sub)
	require.NoError(t, err)
	require.Equal(t, []string{"f"}, names)
	_, err = fsys.Open(filepath.Join(sub, "missing"))
	require.True(t, IsNotExist(err))
	require.NoError(t, SweepTmp(fsys, filepath.Join(dir, "missing")))
}

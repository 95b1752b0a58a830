package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

const dir = "/db/wal"

var quiet = slog.New(slog.DiscardHandler)

func open(t testing.TB, fsys vfs.FS, mod ...func(*Options)) *Log {
	t.Helper()
	o := Options{FS: fsys, Dir: dir, Logger: quiet, SegmentSize: 256 << 10}
	for _, m := range mod {
		m(&o)
	}
	l, err := Open(o)
	require.NoError(t, err)
	return l
}

func replayAll(t testing.TB, l *Log, from int) [][]byte {
	t.Helper()
	var out [][]byte
	require.NoError(t, l.Replay(from, func(rec []byte) error {
		out = append(out, bytes.Clone(rec))
		return nil
	}))
	return out
}

// record i of a test: a deterministic payload of the given size.
func makeRec(i, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(i), uint64(size)))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

func randSize(r *rand.Rand) int {
	switch r.IntN(10) {
	case 0:
		return 0
	case 1:
		return 32<<10 + r.IntN(100<<10) // spans blocks, up to > 100 KiB
	case 2:
		return BlockSize - HeaderSize - 3 + r.IntN(7) // around a block's payload
	default:
		return r.IntN(300)
	}
}

func segFile(n int) string { return filepath.Join(dir, SegmentName(n)) }

func readFile(t testing.TB, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func writeFile(t testing.TB, fsys vfs.FS, name string, data []byte) {
	t.Helper()
	require.NoError(t, fsys.MkdirAll(filepath.Dir(name), 0o755))
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

func TestRoundTrip(t *testing.T) {
	fsys := vfs.NewMem()
	rng := rand.New(rand.NewPCG(1, 1))
	l := open(t, fsys)
	var want [][]byte
	for i := 0; i < 300; {
		batch := make([][]byte, 1+rng.IntN(4))
		for j := range batch {
			batch[j] = makeRec(i, randSize(rng))
			i++
		}
		want = append(want, batch...)
		pos, err := l.Append(batch...)
		require.NoError(t, err)
		if rng.IntN(3) == 0 {
			require.NoError(t, l.Sync(pos))
		}
	}
	require.Greater(t, l.Segment(), 3, "several segments")
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Close(), ErrClosed)
	_, err := l.Append(nil)
	require.ErrorIs(t, err, ErrClosed)

	// Survives a crash after Close, since Close syncs.
	c := fsys.CrashClone(rng)
	l2 := open(t, c)
	got := replayAll(t, l2, 0)
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i], got[i], "record %d", i)
	}
	// Replay from a later segment skips the earlier ones.
	first := replayAll(t, l2, 2)
	require.Less(t, len(first), len(want))
	require.Equal(t, want[len(want)-len(first):], first)
	require.NoError(t, l2.Close())
}

func TestOpenEmptyAndReuse(t *testing.T) {
	fsys := vfs.NewMem()
	l := open(t, fsys)
	require.Equal(t, 1, l.Segment())
	require.Empty(t, replayAll(t, l, 0))
	require.NoError(t, l.Close())
	// The empty segment 1 is reused rather than piling up empty segments.
	l = open(t, fsys)
	require.Equal(t, 1, l.Segment())
	pos, err := l.Append([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, Pos{1, HeaderSize + 1}, pos)
	require.NoError(t, l.Close())
	l = open(t, fsys)
	require.Equal(t, 2, l.Segment())
	require.Equal(t, [][]byte{[]byte("a")}, replayAll(t, l, 0))
	require.NoError(t, l.Close())
}

// writeSegment writes recs to a fresh log and returns the bytes of segment 1
// and the start offset of each record.
func writeSegment(t *testing.T, recs [][]byte) ([]byte, []int64) {
	t.Helper()
	fsys := vfs.NewMem()
	l := open(t, fsys, func(o *Options) { o.SegmentSize = 1 << 30 })
	var starts []int64
	for _, r := range recs {
		starts = append(starts, l.mu.off)
		_, err := l.Append(r)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return readFile(t, fsys, segFile(1)), starts
}

func TestTornTailEveryLength(t *testing.T) {
	for _, lastSize := range []int{0, 1, 100, 40000} {
		t.Run(fmt.Sprint(lastSize), func(t *testing.T) {
			recs := [][]byte{makeRec(0, 10), makeRec(1, BlockSize-30), makeRec(2, 5), makeRec(3, lastSize)}
			data, starts := writeSegment(t, recs)
			lastStart := starts[3]
			step := int64(1)
			if lastSize > 1000 {
				step = 97 // keep the test fast; still hits headers, padding, block boundaries
			}
			cuts := []int64{}
			for k := lastStart; k < int64(len(data)); k += step {
				cuts = append(cuts, k)
			}
			cuts = append(cuts, BlockSize, BlockSize+3, int64(len(data))-1)
			for _, k := range cuts {
				if k < lastStart || k >= int64(len(data)) {
					continue
				}
				fsys := vfs.NewMem()
				writeFile(t, fsys, segFile(1), data[:k])
				l := open(t, fsys)
				require.Equal(t, recs[:3], replayAll(t, l, 0), "cut at %d", k)
				// Truncated at the end of the last whole record (padding too).
				want := lastStart
				if want%BlockSize > BlockSize-HeaderSize {
					want = starts[2] + HeaderSize + 5
				}
				require.LessOrEqual(t, int64(len(readFile(t, fsys, segFile(1)))), want)
				// The repaired log takes new appends and replays fine.
				require.Equal(t, 2, l.Segment())
				pos, err := l.Append([]byte("new"))
				require.NoError(t, err)
				require.NoError(t, l.Sync(pos))
				require.NoError(t, l.Close())
				l = open(t, fsys)
				require.Equal(t, append(recs[:3:3], []byte("new")), replayAll(t, l, 0))
				require.NoError(t, l.Close())
			}
		})
	}
}

func TestTornTailZeroedAndGarbage(t *testing.T) {
	recs := [][]byte{makeRec(0, 10), makeRec(1, 20)}
	data, starts := writeSegment(t, recs)
	for name, tail := range map[string][]byte{
		"zeros":   make([]byte, 3*BlockSize),
		"garbage": makeRec(99, 2*BlockSize+17),
	} {
		t.Run(name, func(t *testing.T) {
			fsys := vfs.NewMem()
			writeFile(t, fsys, segFile(1), append(bytes.Clone(data[:starts[1]]), tail...))
			var logged bytes.Buffer
			l := open(t, fsys, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
			require.Equal(t, recs[:1], replayAll(t, l, 0))
			require.EqualValues(t, starts[1], len(readFile(t, fsys, segFile(1))))
			require.Contains(t, logged.String(), "truncated torn tail")
			require.Contains(t, logged.String(), "000001.wal")
			require.NoError(t, l.Close())
		})
	}
}

func TestCrashTornTail(t *testing.T) {
	// Synced records always survive a crash; unsynced ones survive whole or
	// not at all, in order.
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 7))
		fsys := vfs.NewMem()
		l := open(t, fsys, func(o *Options) { o.SegmentSize = 64 << 10 })
		var all [][]byte
		synced := 0
		for i := range 40 {
			rec := makeRec(i, randSize(rng))
			all = append(all, rec)
			pos, err := l.Append(rec)
			require.NoError(t, err)
			if rng.IntN(4) == 0 {
				require.NoError(t, l.Sync(pos))
				synced = len(all)
			}
		}
		// Hand unsynced bytes to the "OS" so that the crash can tear them.
		require.NoError(t, l.ioFlush())
		c := fsys.CrashClone(rng)
		l2 := open(t, c)
		got := replayAll(t, l2, 0)
		require.GreaterOrEqual(t, len(got), synced, "seed %d", seed)
		require.Equal(t, all[:len(got)], got, "seed %d", seed)
		pos, err := l2.Append([]byte("after"))
		require.NoError(t, err)
		require.NoError(t, l2.Sync(pos))
		require.NoError(t, l2.Close())
		l3 := open(t, c)
		require.Equal(t, append(got, []byte("after")), replayAll(t, l3, 0))
		require.NoError(t, l3.Close())
		require.NoError(t, l.Close())
	}
}

// ioFlush writes buffered bytes to the file without syncing (tests only).
func (l *Log) ioFlush() error {
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	return l.flushLocked(false)
}

func TestCorruptionMiddleOfLastSegment(t *testing.T) {
	var recs [][]byte
	for i := range 10 {
		recs = append(recs, makeRec(i, 50))
	}
	data, starts := writeSegment(t, recs)
	bad := bytes.Clone(data)
	bad[starts[5]+HeaderSize+3] ^= 0x40
	fsys := vfs.NewMem()
	writeFile(t, fsys, segFile(1), bad)
	_, err := Open(Options{FS: fsys, Dir: dir, Logger: quiet})
	require.True(t, IsCorruption(err), "%v", err)
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 1, ce.Segment)
	require.Equal(t, starts[5], ce.Offset)
	require.Contains(t, err.Error(), segFile(1))
	require.Contains(t, err.Error(), fmt.Sprint(starts[5]))
	// Left untouched for inspection.
	require.Equal(t, bad, readFile(t, fsys, segFile(1)))

	// A flipped byte in the very last record is a torn tail.
	bad = bytes.Clone(data)
	bad[starts[9]+HeaderSize+3] ^= 0x40
	fsys = vfs.NewMem()
	writeFile(t, fsys, segFile(1), bad)
	l := open(t, fsys)
	require.Equal(t, recs[:9], replayAll(t, l, 0))
	require.NoError(t, l.Close())
}

func TestCorruptionAcrossBlocks(t *testing.T) {
	// Damage in the first block; valid chunks start later blocks.
	recs := [][]byte{makeRec(0, 100), makeRec(1, 3*BlockSize), makeRec(2, 100)}
	data, starts := writeSegment(t, recs)
	bad := bytes.Clone(data)
	bad[starts[1]+2] ^= 1 // the first chunk's CRC
	fsys := vfs.NewMem()
	writeFile(t, fsys, segFile(1), bad)
	_, err := Open(Options{FS: fsys, Dir: dir, Logger: quiet})
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, starts[1], ce.Offset)
}

func TestCorruptionEarlierSegment(t *testing.T) {
	fsys := vfs.NewMem()
	l := open(t, fsys)
	for i := range 5 {
		_, err := l.Append(makeRec(i, 100))
		require.NoError(t, err)
	}
	seg, err := l.Rotate()
	require.NoError(t, err)
	require.Equal(t, 2, seg)
	_, err = l.Append(makeRec(9, 10))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	for _, off := range []int{3, 200, 500} { // CRC, payload, last record's payload
		data := readFile(t, fsys, segFile(1))
		data[off] ^= 0x80
		c := fsys.CrashClone(rand.New(rand.NewPCG(1, 1)))
		writeFile(t, c, segFile(1), data)
		_, err = Open(Options{FS: c, Dir: dir, Logger: quiet})
		var ce *CorruptionError
		require.ErrorAs(t, err, &ce, "offset %d", off)
		require.Equal(t, 1, ce.Segment)
	}
	// A torn end of an earlier segment is corruption too.
	data := readFile(t, fsys, segFile(1))
	c := fsys.CrashClone(rand.New(rand.NewPCG(1, 1)))
	writeFile(t, c, segFile(1), data[:len(data)-1])
	_, err = Open(Options{FS: c, Dir: dir, Logger: quiet})
	require.True(t, IsCorruption(err))
}

func TestRotateRemoveBeforeAndGaps(t *testing.T) {
	fsys := vfs.NewMem()
	l := open(t, fsys)
	var segs []int
	for i := range 4 {
		_, err := l.Append(makeRec(i, 10))
		require.NoError(t, err)
		s, err := l.Rotate()
		require.NoError(t, err)
		segs = append(segs, s)
	}
	require.Equal(t, []int{2, 3, 4, 5}, segs)
	require.NoError(t, l.RemoveBefore(3))
	names, err := fsys.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"000003.wal", "000004.wal", "000005.wal"}, names)
	require.NoError(t, l.Close())

	l = open(t, fsys)
	require.Equal(t, 5, l.Segment(), "empty segment 5 reused")
	require.Equal(t, [][]byte{makeRec(2, 10), makeRec(3, 10)}, replayAll(t, l, 3))
	require.Equal(t, [][]byte{makeRec(3, 10)}, replayAll(t, l, 4))
	require.Empty(t, replayAll(t, l, 5))
	require.True(t, IsCorruption(l.Replay(9, func([]byte) error { return nil })), "segments after the current one are missing")
	errStop := errors.New("stop")
	require.ErrorIs(t, l.Replay(0, func([]byte) error { return errStop }), errStop)
	require.NoError(t, l.Close())

	// A gap in the middle is corruption.
	require.NoError(t, fsys.Remove(segFile(4)))
	l = open(t, fsys)
	err = l.Replay(3, func([]byte) error { return nil })
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 4, ce.Segment)
	err = l.Replay(4, func([]byte) error { return nil })
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 4, ce.Segment)
	require.NoError(t, l.Close())
}

func TestAutoRotate(t *testing.T) {
	fsys := vfs.NewMem()
	l := open(t, fsys, func(o *Options) { o.SegmentSize = 10 << 10 })
	var last Pos
	for i := range 100 {
		pos, err := l.Append(makeRec(i, 1000))
		require.NoError(t, err)
		require.Positive(t, pos.Compare(last))
		last = pos
	}
	require.NoError(t, l.Sync(last))
	require.Greater(t, l.Segment(), 8)
	c := fsys.CrashClone(rand.New(rand.NewPCG(3, 3)))
	require.NoError(t, l.Close())
	l = open(t, c)
	require.Len(t, replayAll(t, l, 0), 100)
	require.NoError(t, l.Close())
}

// countingFS counts fsyncs of segment files and makes each take a while, as
// a disk would.
func countingFS(fsys vfs.FS, n *atomic.Int64, delay time.Duration) vfs.FS {
	return vfs.WithErrors(fsys, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpSync && filepath.Ext(path) == ".wal" {
			n.Add(1)
			time.Sleep(delay)
		}
		return nil
	}))
}

func TestGroupCommit(t *testing.T) {
	var syncs atomic.Int64
	mem := vfs.NewMem()
	l := open(t, countingFS(mem, &syncs, 200*time.Microsecond))
	const writers, commits = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range commits {
				pos, err := l.Append(binary.LittleEndian.AppendUint32([]byte{byte(w)}, uint32(i)))
				if err == nil {
					err = l.Sync(pos)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := syncs.Load()
	t.Logf("%d commits, %d fsyncs", writers*commits, n)
	require.Less(t, n, int64(writers*commits/2))
	require.NoError(t, l.Close())

	// Every writer's records are there, in its order.
	l = open(t, mem)
	next := make([]uint32, writers)
	for _, rec := range replayAll(t, l, 0) {
		w, i := rec[0], binary.LittleEndian.Uint32(rec[1:])
		require.Equal(t, next[w], i)
		next[w]++
	}
	for w := range writers {
		require.EqualValues(t, commits, next[w])
	}
	require.NoError(t, l.Close())
}

func TestConcurrentAppendRotate(t *testing.T) {
	mem := vfs.NewMem()
	l := open(t, mem, func(o *Options) { o.SegmentSize = 8 << 10 })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				rec := binary.LittleEndian.AppendUint32([]byte{byte(w)}, uint32(i))
				rec = append(rec, make([]byte, i%300)...)
				pos, err := l.Append(rec)
				if err == nil && i%7 == 0 {
					err = l.Sync(pos)
				}
				if err == nil && w == 0 && i%50 == 0 {
					_, err = l.Rotate()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	l = open(t, mem)
	next := make([]uint32, 4)
	recs := replayAll(t, l, 0)
	require.Len(t, recs, 800)
	for _, rec := range recs {
		w, i := rec[0], binary.LittleEndian.Uint32(rec[1:])
		require.Equal(t, next[w], i)
		next[w]++
	}
	require.NoError(t, l.Close())
}

func TestStickyErrors(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		t.Run(op.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			inj := vfs.NewCountdown(syscall.ENOSPC, op, ".wal", 2)
			l := open(t, vfs.WithErrors(mem, inj))
			var err error
			var pos Pos
			for i := 0; i < 10 && err == nil; i++ {
				pos, err = l.Append(makeRec(i, 100))
				require.NoError(t, err)
				err = l.Sync(pos)
			}
			require.ErrorIs(t, err, syscall.ENOSPC)
			// Sticky, even once the disk has room again.
			inj.SetEnabled(false)
			_, err = l.Append([]byte("x"))
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.ErrorIs(t, l.Sync(pos), syscall.ENOSPC)
			_, err = l.Rotate()
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.ErrorIs(t, l.Close(), syscall.ENOSPC)
			// What was acknowledged is there after a reopen (a record whose
			// fsync failed may be there too: it reached the OS).
			l = open(t, mem)
			require.GreaterOrEqual(t, len(replayAll(t, l, 0)), 2)
			require.NoError(t, l.Close())
		})
	}
	t.Run("create", func(t *testing.T) {
		mem := vfs.NewMem()
		inj := vfs.NewCountdown(syscall.ENOSPC, vfs.OpCreate, ".wal", 1)
		l := open(t, vfs.WithErrors(mem, inj))
		_, err := l.Rotate()
		require.ErrorIs(t, err, syscall.ENOSPC)
		_, err = l.Append([]byte("x"))
		require.ErrorIs(t, err, syscall.ENOSPC)
		require.ErrorIs(t, l.Close(), syscall.ENOSPC)
	})
}

func TestNoSync(t *testing.T) {
	var syncs atomic.Int64
	mem := vfs.NewMem()
	l := open(t, countingFS(mem, &syncs, 0), func(o *Options) { o.NoSync = true })
	pos, err := l.Append([]byte("a"))
	require.NoError(t, err)
	require.NoError(t, l.Sync(pos))
	require.Zero(t, syncs.Load())
	require.Len(t, readFile(t, mem, segFile(1)), HeaderSize+1, "handed to the OS")
	require.NoError(t, l.Close())
}

func TestOSFS(t *testing.T) {
	d := filepath.Join(t.TempDir(), "x", "wal")
	l, err := Open(Options{Dir: d, Logger: quiet})
	require.NoError(t, err)
	pos, err := l.Append([]byte("one"), []byte("two"))
	require.NoError(t, err)
	require.NoError(t, l.Sync(pos))
	require.NoError(t, l.Close())
	l, err = Open(Options{Dir: d, Logger: quiet})
	require.NoError(t, err)
	var got []string
	require.NoError(t, l.Replay(0, func(rec []byte) error { got = append(got, string(rec)); return nil }))
	require.Equal(t, []string{"one", "two"}, got)
	require.NoError(t, l.Close())
}

func TestOptions(t *testing.T) {
	_, err := Open(Options{FS: vfs.NewMem()})
	require.Error(t, err)
	_, err = Open(Options{FS: vfs.NewMem(), Dir: "/w", SegmentSize: -1})
	require.Error(t, err)
	for _, name := range []string{"1.wal", "00001x.wal", "000000.wal", "000001.log"} {
		_, ok := parseSegmentName(name)
		require.False(t, ok, name)
	}
	n, ok := parseSegmentName("1234567.wal")
	require.True(t, ok)
	require.Equal(t, 1234567, n)
}

func FuzzReplay(f *testing.F) {
	valid, _ := writeSegment(&testing.T{}, [][]byte{[]byte("a"), make([]byte, 40000), nil, []byte("zz")})
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add(make([]byte, 100))
	f.Add([]byte("\x00\x00\x00\x00\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := vfs.NewMem()
		writeFile(t, fsys, segFile(1), data)
		l, err := Open(Options{FS: fsys, Dir: dir, Logger: quiet})
		if err != nil {
			if !IsCorruption(err) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		n := 0
		if err := l.Replay(0, func([]byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		pos, err := l.Append([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(pos); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// A large record must not leave megabyte buffers behind once written: a Log
// lives as long as its collection.
func TestLargeRecordBuffersReleased(t *testing.T) {
	l := open(t, vfs.NewMem(), func(o *Options) { o.SegmentSize = 64 << 20 })
	big := makeRec(0, 3<<20)
	for range 3 {
		pos, err := l.Append(big)
		require.NoError(t, err)
		require.NoError(t, l.Sync(pos))
	}
	l.ioMu.Lock()
	spare := cap(l.spare)
	l.ioMu.Unlock()
	l.mu.Lock()
	buf := cap(l.mu.buf)
	l.mu.Unlock()
	require.LessOrEqual(t, spare, maxSpare)
	require.LessOrEqual(t, buf, maxSpare)
	// Rotation keeps the same bound.
	_, err := l.Append(big)
	require.NoError(t, err)
	_, err = l.Rotate()
	require.NoError(t, err)
	l.ioMu.Lock()
	require.LessOrEqual(t, cap(l.spare), maxSpare)
	l.ioMu.Unlock()
	require.NoError(t, l.Close())
}

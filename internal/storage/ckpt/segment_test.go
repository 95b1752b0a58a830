package ckpt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

// segEntries returns n entries of pseudo-random sizes; big adds one entry
// larger than a block.
func segEntries(n int, big bool) [][]byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	out := make([][]byte, n)
	for i := range out {
		e := make([]byte, 1+r.IntN(3000))
		for j := range e {
			e[j] = byte(r.Uint32())
		}
		out[i] = e
	}
	if big && n > 0 {
		out[n/2] = bytes.Repeat([]byte{0xab}, 3*blockTarget/2)
	}
	return out
}

func buildSegment(meta []byte, entries [][]byte) []byte {
	b := NewSegmentBuilder(meta, 0)
	for _, e := range entries {
		b.End(append(b.Begin(), e...))
	}
	return b.Finish()
}

// readSegment reads every block of segment n and splits it into entries by
// the lengths of want (the caller's entries are opaque to the package).
func readSegment(t *testing.T, fsys vfs.FS, n uint64, want [][]byte) ([]byte, [][]byte, error) {
	t.Helper()
	r, err := OpenSegment(fsys, dir, n)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var got [][]byte
	for {
		p, k, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Meta(), got, nil
		}
		if err != nil {
			return r.Meta(), got, err
		}
		require.LessOrEqual(t, len(p), blockTarget+3*blockTarget/2)
		for range k {
			l := len(want[len(got)])
			got = append(got, bytes.Clone(p[:l]))
			p = p[l:]
		}
		require.Empty(t, p, "block holds whole entries")
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		big     bool
		meta    []byte
		nblocks int
	}{
		{name: "empty", n: 0, meta: []byte("m"), nblocks: 0},
		{name: "one", n: 1, meta: nil, nblocks: 1},
		{name: "many blocks", n: 1000, meta: []byte("dim 8"), nblocks: 6},
		{name: "entry bigger than a block", n: 400, big: true, meta: []byte("x"), nblocks: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			entries := segEntries(tc.n, tc.big)
			b := NewSegmentBuilder(tc.meta, 0)
			for _, e := range entries {
				b.End(append(b.Begin(), e...))
			}
			require.Equal(t, uint64(tc.n), b.Entries())
			require.Len(t, b.blocks, tc.nblocks)
			require.NoError(t, WriteSegment(mem, dir, 3, b.Finish()))
			meta, got, err := readSegment(t, mem, 3, entries)
			require.NoError(t, err)
			require.Equal(t, string(tc.meta), string(meta))
			require.Equal(t, len(entries), len(got))
			for i := range entries {
				require.Equal(t, entries[i], got[i], "entry %d", i)
			}
		})
	}
}

// TestSegmentCorruption damages a segment every way the format names and
// checks the error names the file and the offset of the damage.
func TestSegmentCorruption(t *testing.T) {
	entries := segEntries(300, false)
	good := buildSegment([]byte("meta"), entries)
	const hdr = segmentHeaderSize + 4 + crcSize // first block at 28
	second := -1
	for off := hdr; off < len(good); {
		n := int(uint32(good[off]) | uint32(good[off+1])<<8 | uint32(good[off+2])<<16 | uint32(good[off+3])<<24)
		off += blockHeaderSize + n
		if second < 0 {
			second = off
		}
	}
	path := SegmentPath(dir, 1)
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x10
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		off  int64
		want string
	}{
		{"bad magic", flip(1), 0, "bad magic"},
		{"too short", good[:10], 0, "file too short"},
		{"header crc", flip(9), 24, "header checksum mismatch"},
		{"meta length", flip(18), 16, "header meta length 1048580 exceeds the file"},
		{"payload byte", flip(hdr + blockHeaderSize + 100), hdr, "block checksum mismatch"},
		{"second block", flip(second + blockHeaderSize + 5), int64(second), "block checksum mismatch"},
		{"block count", flip(hdr + 4), hdr, "block checksum mismatch"},
		{"cut in a block", good[:second+20], int64(second), "block length"},
		{"cut at a block", good[:second], int64(second), "segment ends after 182 of 300 entries"},
		{"cut in a block header", good[:second+5], int64(second), "short block header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			require.NoError(t, WriteSegment(mem, dir, 1, tc.b))
			_, _, err := readSegment(t, mem, 1, entries)
			require.Error(t, err)
			require.True(t, IsCorruption(err), "%v", err)
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, path, ce.File)
			require.Equal(t, tc.off, ce.Offset, "%v", err)
			require.Contains(t, ce.Reason, tc.want)
		})
	}
}

func TestSweepSegments(t *testing.T) {
	mem := vfs.NewMem()
	for _, n := range []uint64{1, 4, 7, 9} {
		require.NoError(t, WriteSegment(mem, dir, n, buildSegment(nil, segEntries(3, false))))
	}
	writeRaw(t, mem, SegmentPath(dir, 10)+vfs.TmpSuffix, []byte("torn"))
	writeRaw(t, mem, dir+"/"+SegmentDir+"/notes", []byte("not ours"))
	require.NoError(t, SweepSegments(mem, dir, []uint64{4, 9}))
	names, err := mem.List(dir + "/" + SegmentDir)
	require.NoError(t, err)
	require.Equal(t, []string{"000004.seg", "000009.seg", "notes"}, names)
	require.NoError(t, SweepSegments(vfs.NewMem(), dir, nil), "no segment directory")
}

// TestSegmentCrash cuts the power at random points of WriteSegment: the
// segment is then absent or whole, never torn under its final name.
func TestSegmentCrash(t *testing.T) {
	entries := segEntries(200, false)
	data := buildSegment([]byte("m"), entries)
	for seed := range uint64(20) {
		mem := vfs.NewMem()
		inj := vfs.NewCountdown(errors.New("power cut"), vfs.OpWrite|vfs.OpSync|vfs.OpRename, "", int(seed%6))
		err := WriteSegment(vfs.WithErrors(mem, inj), dir, 2, data)
		crashed := mem.CrashClone(rand.New(rand.NewPCG(seed, 1)))
		_, statErr := crashed.Stat(SegmentPath(dir, 2))
		if err == nil {
			require.NoError(t, statErr, "seed %d: a written segment survives", seed)
		}
		if statErr == nil {
			_, got, err := readSegment(t, crashed, 2, entries)
			require.NoError(t, err, "seed %d", seed)
			require.Len(t, got, len(entries))
		}
	}
}

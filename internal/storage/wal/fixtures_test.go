package wal

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

var rewrite = flag.Bool("rewrite", false, "regenerate the committed fixtures under testdata/ (go test -run TestFixtures -rewrite)")

// fixtureRecs are the records of the fixture segments: record i is
// makeRec(i, 40+10*i), so it is one full chunk of 47+10*i bytes starting at
// offset 47*i + 5*i*(i-1): 0, 47, 104, 171, 248, 335, 432, 539; a whole
// segment is 656 bytes, in one block.
func fixtureRecs() [][]byte {
	recs := make([][]byte, 8)
	for i := range recs {
		recs[i] = makeRec(i, 40+10*i)
	}
	return recs
}

// genFixtures returns the fixture files by path under testdata/. Each is a
// damaged log directory, the damage made by hand to bytes that Log wrote.
func genFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	recs := fixtureRecs()
	seg, starts := writeSegment(t, recs)
	require.Len(t, seg, 656)
	require.Equal(t, []int64{0, 47, 104, 171, 248, 335, 432, 539}, starts)
	out := map[string][]byte{}

	// torn-tail: the last segment ends 20 bytes into the payload of its last
	// record, as after a crash mid-write.
	out["torn-tail/"+SegmentName(1)] = bytes.Clone(seg[:starts[7]+HeaderSize+20])

	// bad-crc: the last segment has record 3's checksum flipped, and whole
	// records follow it: damage in the middle, not a torn tail.
	bad := bytes.Clone(seg)
	bad[starts[3]] ^= 0xff
	out["bad-crc/"+SegmentName(1)] = bad

	// bad-crc-earlier: segment 1 of 2 has a flipped payload byte in its last
	// record. Only the last segment's tail is ever repaired.
	bad = bytes.Clone(seg)
	bad[starts[7]+HeaderSize+5] ^= 0x01
	out["bad-crc-earlier/"+SegmentName(1)] = bad
	seg2, _ := writeSegment(t, recs[:2])
	out["bad-crc-earlier/"+SegmentName(2)] = seg2
	return out
}

// loadFixture copies the segments of testdata/name into a fresh in-memory
// file system at dir.
func loadFixture(t *testing.T, name string) *vfs.MemFS {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", name))
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	fsys := vfs.NewMem()
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", name, e.Name()))
		require.NoError(t, err)
		writeFile(t, fsys, filepath.Join(dir, e.Name()), b)
	}
	return fsys
}

// TestFixtures opens the committed damaged logs under testdata/ and checks
// the exact outcome: a torn tail is truncated at the end of the last whole
// record with a warning naming the file and offset; any other damage is a
// *CorruptionError naming the segment file and the offset of the bad chunk,
// with the files left as they were. The fixtures must also be what the
// generator makes: if that fails, the format changed (bump its version and
// keep the old fixtures) or the generator did; `-rewrite` regenerates them.
func TestFixtures(t *testing.T) {
	gen := genFixtures(t)
	if *rewrite {
		for path, b := range gen {
			full := filepath.Join("testdata", path)
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(t, os.WriteFile(full, b, 0o644))
		}
	}
	var committed []string
	require.NoError(t, filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join("testdata", "fuzz") {
			return filepath.SkipDir // go test -fuzz's corpus, not ours
		}
		if err == nil && !d.IsDir() {
			committed = append(committed, filepath.ToSlash(strings.TrimPrefix(path, "testdata"+string(filepath.Separator))))
		}
		return err
	}))
	var want []string
	for path := range gen {
		want = append(want, path)
	}
	sort.Strings(want)
	sort.Strings(committed)
	require.Equal(t, want, committed, "files under testdata/ (regenerate with -rewrite)")
	for path, b := range gen {
		got, err := os.ReadFile(filepath.Join("testdata", path))
		require.NoError(t, err)
		require.True(t, bytes.Equal(b, got), "testdata/%s differs from what the generator makes (regenerate with -rewrite and review)", path)
	}
	recs := fixtureRecs()

	t.Run("torn-tail", func(t *testing.T) {
		fsys := loadFixture(t, "torn-tail")
		var logged bytes.Buffer
		l := open(t, fsys, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
		require.Equal(t, recs[:7], replayAll(t, l, 0))
		require.Len(t, readFile(t, fsys, segFile(1)), 539, "truncated after record 6")
		require.Contains(t, logged.String(), `msg="wal: truncated torn tail" file=/db/wal/000001.wal offset=539 dropped_bytes=27 reason="segment ends inside a chunk payload" problem_offset=539`)
		require.Equal(t, 2, l.Segment(), "appends go to a new segment")
		require.NoError(t, l.Close())
	})

	for _, tc := range []struct {
		name string
		err  string
		ce   CorruptionError
	}{{
		name: "bad-crc",
		err:  "wal: corruption in /db/wal/000001.wal (segment 000001) at offset 171: chunk checksum mismatch (valid data follows)",
		ce:   CorruptionError{Segment: 1, Offset: 171, Path: "/db/wal/000001.wal", Reason: "chunk checksum mismatch (valid data follows)"},
	}, {
		name: "bad-crc-earlier",
		err:  "wal: corruption in /db/wal/000001.wal (segment 000001) at offset 539: chunk checksum mismatch",
		ce:   CorruptionError{Segment: 1, Offset: 539, Path: "/db/wal/000001.wal", Reason: "chunk checksum mismatch"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := loadFixture(t, tc.name)
			before, err := fsys.List(dir)
			require.NoError(t, err)
			_, err = Open(Options{FS: fsys, Dir: dir, Logger: quiet})
			require.EqualError(t, err, tc.err)
			require.True(t, IsCorruption(err))
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.ce, *ce)
			// Left untouched for an operator to inspect: no repair, no new segment.
			after, err := fsys.List(dir)
			require.NoError(t, err)
			require.Equal(t, before, after)
			for _, name := range after {
				want, err := os.ReadFile(filepath.Join("testdata", tc.name, name))
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, readFile(t, fsys, filepath.Join(dir, name))), name)
			}
		})
	}
}

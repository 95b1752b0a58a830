package ckpt

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

var rewrite = flag.Bool("rewrite", false, "regenerate the committed fixtures under testdata/ (go test -run TestFixtures -rewrite)")

// fixtureFiles are the files of the fixture checkpoints: "vectors" has a
// 64-byte payload (an 84-byte file, its CRC at offset 80) and "graph" a
// 21-byte one; the meta is 9 bytes (a 33-byte MANIFEST, its CRC at 29).
var fixtureFiles = []File{
	{Name: "vectors", Data: bytes.Repeat([]byte{1, 2, 3, 4}, 16)},
	{Name: "graph", Data: []byte("graph of checkpoint 1")},
}

var fixtureMeta = []byte("fixture 1")

// fixtureSegment are the entries of the fixture segment (one 20-byte block).
var fixtureSegment = [][]byte{[]byte("three "), []byte("small "), []byte("entries")}

// genFixtures returns the fixture files by path under testdata/. Each is a
// collection directory holding checkpoint 1, written by Write, then damaged.
func genFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	mem := vfs.NewMem()
	require.NoError(t, Write(mem, dir, 1, fixtureFiles, fixtureMeta))
	manifest := readRaw(t, mem, filepath.Join(dir, ManifestName))
	vectors := readRaw(t, mem, filepath.Join(dir, DirName(1), "vectors"))
	graph := readRaw(t, mem, filepath.Join(dir, DirName(1), "graph"))
	require.Len(t, manifest, 33)
	require.Len(t, vectors, 84)
	require.Len(t, graph, 41)

	flip := func(b []byte, off int, mask byte) []byte {
		b = bytes.Clone(b)
		b[off] ^= mask
		return b
	}
	whole := func(name string, m, v, g []byte) map[string][]byte {
		return map[string][]byte{
			name + "/" + ManifestName:            m,
			name + "/" + DirName(1) + "/vectors": v,
			name + "/" + DirName(1) + "/graph":   g,
		}
	}
	out := map[string][]byte{}
	// The fixture segment: header meta "seg 1" (a 29-byte header), then one
	// block at 29: a 12-byte block header and a 19-byte payload.
	sb := NewSegmentBuilder([]byte("seg 1"), 0)
	for _, e := range fixtureSegment {
		sb.End(append(sb.Begin(), e...))
	}
	require.NoError(t, WriteSegment(mem, dir, 1, sb.Finish()))
	seg := readRaw(t, mem, SegmentPath(dir, 1))
	require.Len(t, seg, 29+blockHeaderSize+19)
	segPath := SegmentDir + "/" + SegmentName(1)

	for _, fx := range []map[string][]byte{
		// segment-flipped-byte: a bit of the block's payload flipped.
		{"segment-flipped-byte/" + segPath: flip(seg, 29+blockHeaderSize+2, 0x01)},
		// segment-truncated: the segment lost its last 4 bytes.
		{"segment-truncated/" + segPath: seg[:len(seg)-4]},
		// flipped-byte: one bit of a vectors payload byte flipped (bit rot).
		whole("flipped-byte", manifest, flip(vectors, 16+40, 0x08), graph),
		// truncated-file: graph lost its last 3 bytes (part of its CRC).
		whole("truncated-file", manifest, vectors, graph[:len(graph)-3]),
		// corrupt-manifest: one byte of the MANIFEST's meta flipped.
		whole("corrupt-manifest", flip(manifest, 20+3, 0x20), vectors, graph),
		// short-manifest: a MANIFEST cut inside its meta.
		whole("short-manifest", manifest[:25], vectors, graph),
	} {
		for k, v := range fx {
			out[k] = v
		}
	}
	return out
}

// TestFixtures reads the committed damaged checkpoints under testdata/ and
// checks the exact *CorruptionError: the file, the offset and the reason.
// The fixtures must also be what the generator makes: if that fails, the
// format changed (bump its version and keep the old fixtures) or the
// generator did; `-rewrite` regenerates them.
func TestFixtures(t *testing.T) {
	gen := genFixtures(t)
	if *rewrite {
		for path, b := range gen {
			full := filepath.Join("testdata", path)
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(t, os.WriteFile(full, b, 0o644))
		}
	}
	var committed, want []string
	require.NoError(t, filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join("testdata", "fuzz") {
			return filepath.SkipDir // go test -fuzz's corpus, not ours
		}
		if err == nil && !d.IsDir() {
			committed = append(committed, filepath.ToSlash(strings.TrimPrefix(path, "testdata"+string(filepath.Separator))))
		}
		return err
	}))
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

	fsys := vfs.Default // read only: ReadManifest and ReadFile never write
	for _, tc := range []struct {
		name string // fixture directory
		file string // the file read: ManifestName, "vectors" or "graph"
		err  string
		ce   CorruptionError
	}{{
		name: "flipped-byte", file: "vectors",
		err: "ckpt: corruption in testdata/flipped-byte/ckpt-000001/vectors at offset 80: payload checksum mismatch",
		ce:  CorruptionError{File: "testdata/flipped-byte/ckpt-000001/vectors", Offset: 80, Reason: "payload checksum mismatch"},
	}, {
		name: "truncated-file", file: "graph",
		err: "ckpt: corruption in testdata/truncated-file/ckpt-000001/graph at offset 8: payload length 21 does not match file size 38",
		ce:  CorruptionError{File: "testdata/truncated-file/ckpt-000001/graph", Offset: 8, Reason: "payload length 21 does not match file size 38"},
	}, {
		name: "corrupt-manifest", file: ManifestName,
		err: "ckpt: corruption in testdata/corrupt-manifest/MANIFEST at offset 29: checksum mismatch",
		ce:  CorruptionError{File: "testdata/corrupt-manifest/MANIFEST", Offset: 29, Reason: "checksum mismatch"},
	}, {
		name: "short-manifest", file: ManifestName,
		err: "ckpt: corruption in testdata/short-manifest/MANIFEST at offset 16: meta length 9 does not match file size 25",
		ce:  CorruptionError{File: "testdata/short-manifest/MANIFEST", Offset: 16, Reason: "meta length 9 does not match file size 25"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join("testdata", tc.name)
			m, ok, err := ReadManifest(fsys, d)
			var got error
			if tc.file == ManifestName {
				require.False(t, ok)
				got = err
			} else {
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, Manifest{Checkpoint: 1, Meta: fixtureMeta}, m)
				// The undamaged file of the checkpoint reads back whole.
				for _, f := range fixtureFiles {
					if f.Name != tc.file {
						b, err := ReadFile(fsys, d, 1, f.Name)
						require.NoError(t, err)
						require.Equal(t, f.Data, b)
					}
				}
				_, got = ReadFile(fsys, d, 1, tc.file)
			}
			require.EqualError(t, got, tc.err)
			require.True(t, IsCorruption(got))
			var ce *CorruptionError
			require.ErrorAs(t, got, &ce)
			require.Equal(t, tc.ce, *ce)
		})
	}
	for _, tc := range []struct {
		name string
		ce   CorruptionError
	}{{
		name: "segment-flipped-byte",
		ce:   CorruptionError{File: "testdata/segment-flipped-byte/seg/000001.seg", Offset: 29, Reason: "block checksum mismatch"},
	}, {
		name: "segment-truncated",
		ce:   CorruptionError{File: "testdata/segment-truncated/seg/000001.seg", Offset: 29, Reason: "block length 19 exceeds the file (56 bytes)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenSegment(fsys, filepath.Join("testdata", tc.name), 1)
			require.NoError(t, err)
			defer r.Close()
			require.Equal(t, "seg 1", string(r.Meta()))
			require.Equal(t, uint64(3), r.Entries())
			_, _, _, err = r.Next()
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.ce, *ce)
		})
	}
}

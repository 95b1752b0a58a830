package vecio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	m := &Matrix[float32]{Dim: 3, Data: []float32{1, 2, 3, -4, 5.5, float32(math.Inf(1))}}
	var b bytes.Buffer
	require.NoError(t, WriteFvecs(&b, m))
	require.Equal(t, 2*(4+12), b.Len())
	got, err := ReadFvecs(bytes.NewReader(b.Bytes()), 0)
	require.NoError(t, err)
	require.Equal(t, m, got)
	require.Equal(t, 2, got.Len())
	require.Equal(t, []float32{-4, 5.5, float32(math.Inf(1))}, got.Row(1))

	head, err := ReadFvecs(bytes.NewReader(b.Bytes()), 1)
	require.NoError(t, err)
	require.Equal(t, m.Head(1), head)

	im := &Matrix[int32]{Dim: 2, Data: []int32{7, -1, 0, math.MaxInt32}}
	b.Reset()
	require.NoError(t, WriteIvecs(&b, im))
	gi, err := ReadIvecs(&b, 0)
	require.NoError(t, err)
	require.Equal(t, im, gi)
}

func TestRowCapacity(t *testing.T) {
	m := &Matrix[float32]{Dim: 2, Data: []float32{1, 2, 3, 4}}
	r := append(m.Row(0), 9)
	require.Equal(t, []float32{1, 2, 9}, r)
	require.Equal(t, []float32{3, 4}, m.Row(1), "append to a row must not overwrite the next")
}

func row(d int32, vals ...uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(d))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func TestReadErrors(t *testing.T) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no rows"},
		{"short header", "\x01\x00", "row 0 at byte 0: truncated header"},
		{"zero dim", string(row(0)), "dimension 0 out of range"},
		{"negative dim", string(row(-3)), "dimension -3 out of range"},
		{"huge dim", string(row(MaxDim + 1)), "out of range"},
		{"truncated row", string(cat(row(2, 1, 2), row(2, 1))), "row 1 at byte 12: truncated (8 of 12 bytes)"},
		{"mixed dims", string(cat(row(2, 1, 2), row(3, 1, 2, 3))), "row 1 at byte 12: dimension 3, but earlier rows have 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFvecs(bytes.NewReader([]byte(tc.in)), 0)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFvecsFile(filepath.Join(dir, "missing.fvecs"), 0)
	require.ErrorIs(t, err, os.ErrNotExist)
	p := filepath.Join(dir, "bad.ivecs")
	require.NoError(t, os.WriteFile(p, row(0), 0o644))
	_, err = ReadIvecsFile(p, 0)
	require.ErrorContains(t, err, p)
}

func FuzzReadFvecs(f *testing.F) {
	f.Add(row(2, 1, 2))
	f.Add(bytes.Join([][]byte{row(1, 5), row(1, 6)}, nil))
	f.Add(row(3, 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ReadFvecs(bytes.NewReader(in), 0)
		if err != nil {
			return
		}
		// A file that parses is exactly its rows, and writes back unchanged.
		require.Equal(t, len(in), m.Len()*(4+4*m.Dim))
		var b bytes.Buffer
		require.NoError(t, WriteFvecs(&b, m))
		require.Equal(t, in, b.Bytes())
	})
}

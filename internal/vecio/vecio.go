package vecio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// MaxDim is the largest row dimension the readers accept.
const MaxDim = 1 << 16

// Matrix is a file's rows stored flat: row i is Data[i*Dim : (i+1)*Dim].
type Matrix[T float32 | int32] struct {
	Dim  int
	Data []T
}

// Len returns the number of rows.
func (m *Matrix[T]) Len() int {
	if m.Dim == 0 {
		return 0
	}
	return len(m.Data) / m.Dim
}

// Row returns row i. Its capacity ends at the row, so appending to it never
// overwrites the next row.
func (m *Matrix[T]) Row(i int) []T {
	return m.Data[i*m.Dim : (i+1)*m.Dim : (i+1)*m.Dim]
}

// Head returns a Matrix of the first n rows (all of them if n ≤ 0 or n ≥
// Len), sharing m's storage.
func (m *Matrix[T]) Head(n int) *Matrix[T] {
	if n <= 0 || n >= m.Len() {
		return m
	}
	return &Matrix[T]{Dim: m.Dim, Data: m.Data[: n*m.Dim : n*m.Dim]}
}

// ReadFvecs reads an .fvecs stream. maxRows > 0 stops after that many rows.
func ReadFvecs(r io.Reader, maxRows int) (*Matrix[float32], error) {
	return read(r, maxRows, func(u uint32) float32 { return math.Float32frombits(u) })
}

// ReadIvecs reads an .ivecs stream. maxRows > 0 stops after that many rows.
func ReadIvecs(r io.Reader, maxRows int) (*Matrix[int32], error) {
	return read(r, maxRows, func(u uint32) int32 { return int32(u) })
}

// ReadFvecsFile reads the .fvecs file at path; errors name the file.
func ReadFvecsFile(path string, maxRows int) (*Matrix[float32], error) {
	return readFile(path, maxRows, ReadFvecs)
}

// ReadIvecsFile reads the .ivecs file at path; errors name the file.
func ReadIvecsFile(path string, maxRows int) (*Matrix[int32], error) {
	return readFile(path, maxRows, ReadIvecs)
}

func readFile[T float32 | int32](path string, maxRows int, read func(io.Reader, int) (*Matrix[T], error)) (*Matrix[T], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer f.Close()
	m, err := read(f, maxRows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func read[T float32 | int32](r io.Reader, maxRows int, conv func(uint32) T) (*Matrix[T], error) {
	br := bufio.NewReaderSize(r, 1<<16)
	m := &Matrix[T]{}
	var hdr [4]byte
	var buf []byte
	var off int64
	for row := 0; maxRows <= 0 || row < maxRows; row++ {
		n, err := io.ReadFull(br, hdr[:])
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("row %d at byte %d: truncated header (%d of 4 bytes)", row, off, n)
		}
		d := int32(binary.LittleEndian.Uint32(hdr[:]))
		switch {
		case d <= 0 || d > MaxDim:
			return nil, fmt.Errorf("row %d at byte %d: dimension %d out of range [1, %d] (not an fvecs/ivecs file?)", row, off, d, MaxDim)
		case m.Dim == 0:
			m.Dim = int(d)
			buf = make([]byte, 4*m.Dim)
		case int(d) != m.Dim:
			return nil, fmt.Errorf("row %d at byte %d: dimension %d, but earlier rows have %d", row, off, d, m.Dim)
		}
		if n, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("row %d at byte %d: truncated (%d of %d bytes)", row, off, 4+n, 4+len(buf))
			}
			return nil, fmt.Errorf("row %d at byte %d: %w", row, off, err)
		}
		for i := 0; i < len(buf); i += 4 {
			m.Data = append(m.Data, conv(binary.LittleEndian.Uint32(buf[i:])))
		}
		off += int64(4 + len(buf))
	}
	if m.Dim == 0 {
		return nil, errors.New("no rows (empty file)")
	}
	return m, nil
}

// WriteFvecs writes m as .fvecs.
func WriteFvecs(w io.Writer, m *Matrix[float32]) error {
	return write(w, m, math.Float32bits)
}

// WriteIvecs writes m as .ivecs.
func WriteIvecs(w io.Writer, m *Matrix[int32]) error {
	return write(w, m, func(v int32) uint32 { return uint32(v) })
}

func write[T float32 | int32](w io.Writer, m *Matrix[T], conv func(T) uint32) error {
	if m.Dim <= 0 || m.Dim > MaxDim || len(m.Data)%m.Dim != 0 {
		return fmt.Errorf("invalid matrix: dim %d, %d values", m.Dim, len(m.Data))
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	row := make([]byte, 4+4*m.Dim)
	binary.LittleEndian.PutUint32(row, uint32(m.Dim))
	for i := range m.Len() {
		for j, v := range m.Row(i) {
			binary.LittleEndian.PutUint32(row[4+4*j:], conv(v))
		}
		if _, err := bw.Write(row); err != nil {
			return err
		}
	}
	return bw.Flush()
}

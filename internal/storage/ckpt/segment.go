package ckpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

// SegmentDir is the directory, inside a checkpoint directory's parent, that
// holds the segments.
const SegmentDir = "seg"

const (
	segmentMagic      = "SXSG"
	segmentVersion    = 1
	segmentHeaderSize = 20 // magic, version, entry count, meta length
	blockHeaderSize   = 12 // length, entries, CRC
	// blockTarget is the payload size at which a block is closed: the
	// reader's buffer is about this big, unless one entry is bigger.
	blockTarget = 256 << 10
	// maxSegmentMeta bounds the header meta, so that a damaged length cannot
	// make OpenSegment allocate a lot.
	maxSegmentMeta = 1 << 20
	segmentSuffix  = ".seg"
)

// SegmentName returns the file name of segment n: "%06d.seg".
func SegmentName(n uint64) string { return fmt.Sprintf("%06d%s", n, segmentSuffix) }

// SegmentPath returns the path of segment n of the collection in dir.
func SegmentPath(dir string, n uint64) string {
	return filepath.Join(dir, SegmentDir, SegmentName(n))
}

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok {
		return 0, false
	}
	return parseNumber(digits)
}

// SegmentBuilder builds a segment file in memory from opaque entries, which
// it groups into checksummed blocks (docs/format/segments.md). The checksums
// are computed by Finish, so that a caller holding a lock while it appends
// entries can compute them after releasing it.
//
// A SegmentBuilder is not safe for concurrent use.
type SegmentBuilder struct {
	buf     []byte
	blocks  []int // offsets of the block headers
	open    bool  // the last block takes entries
	blockN  uint32
	entries uint64
}

// NewSegmentBuilder starts a segment whose header carries meta; sizeHint is
// the expected file size (0: unknown).
func NewSegmentBuilder(meta []byte, sizeHint int) *SegmentBuilder {
	b := &SegmentBuilder{buf: make([]byte, 0, max(sizeHint, segmentHeaderSize+len(meta)+crcSize))}
	b.buf = append(b.buf, segmentMagic...)
	b.buf = binary.LittleEndian.AppendUint32(b.buf, segmentVersion)
	b.buf = binary.LittleEndian.AppendUint64(b.buf, 0) // entry count, by Finish
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(len(meta)))
	b.buf = append(b.buf, meta...)
	b.buf = binary.LittleEndian.AppendUint32(b.buf, 0) // CRC, by Finish
	return b
}

// Begin returns the buffer to append one entry to; pass the result to End.
func (b *SegmentBuilder) Begin() []byte {
	if !b.open {
		b.blocks = append(b.blocks, len(b.buf))
		b.buf = append(b.buf, make([]byte, blockHeaderSize)...)
		b.open, b.blockN = true, 0
	}
	return b.buf
}

// End commits the entry appended to Begin's buffer.
func (b *SegmentBuilder) End(buf []byte) {
	b.buf = buf
	b.blockN++
	b.entries++
	if len(b.buf)-b.blocks[len(b.blocks)-1]-blockHeaderSize >= blockTarget {
		b.closeBlock()
	}
}

func (b *SegmentBuilder) closeBlock() {
	if !b.open {
		return
	}
	h := b.blocks[len(b.blocks)-1]
	binary.LittleEndian.PutUint32(b.buf[h:], uint32(len(b.buf)-h-blockHeaderSize))
	binary.LittleEndian.PutUint32(b.buf[h+4:], b.blockN)
	b.open = false
}

// Entries returns the number of entries committed.
func (b *SegmentBuilder) Entries() uint64 { return b.entries }

// Finish returns the segment file's bytes. The builder is not used after.
func (b *SegmentBuilder) Finish() []byte {
	b.closeBlock()
	binary.LittleEndian.PutUint64(b.buf[8:], b.entries)
	metaEnd := segmentHeaderSize + int(binary.LittleEndian.Uint32(b.buf[16:]))
	binary.LittleEndian.PutUint32(b.buf[metaEnd:], crc32.Checksum(b.buf[:metaEnd], castagnoli))
	for i, h := range b.blocks {
		end := len(b.buf)
		if i+1 < len(b.blocks) {
			end = b.blocks[i+1]
		}
		crc := crc32.Checksum(b.buf[h:h+8], castagnoli)
		crc = crc32.Update(crc, castagnoli, b.buf[h+blockHeaderSize:end])
		binary.LittleEndian.PutUint32(b.buf[h+8:], crc)
	}
	return b.buf
}

// WriteSegment makes data, a segment built by SegmentBuilder, segment n of
// the collection in dir, durably: seg/N.seg.tmp, fsync, rename, fsync seg/.
func WriteSegment(fsys vfs.FS, dir string, n uint64, data []byte) error {
	sdir := filepath.Join(dir, SegmentDir)
	if err := vfs.MkdirAllDurable(fsys, sdir); err != nil {
		return fmt.Errorf("ckpt: create %s: %w", sdir, err)
	}
	if err := vfs.WriteFileAtomic(fsys, SegmentPath(dir, n), data); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	return nil
}

// SegmentReader reads a segment's blocks in order, one at a time, each
// checked against its CRC before it is returned.
//
// A SegmentReader is not safe for concurrent use.
type SegmentReader struct {
	f       vfs.File
	path    string
	size    int64
	off     int64 // of the next block
	meta    []byte
	entries uint64
	seen    uint64
	buf     []byte
}

// OpenSegment opens segment n of the collection in dir and checks its header.
func OpenSegment(fsys vfs.FS, dir string, n uint64) (*SegmentReader, error) {
	path := SegmentPath(dir, n)
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	r := &SegmentReader{f: f, path: path}
	if err := r.readHeader(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return r, nil
}

func (r *SegmentReader) readHeader() error {
	st, err := r.f.Stat()
	if err != nil {
		return fmt.Errorf("ckpt: stat %s: %w", r.path, err)
	}
	r.size = st.Size()
	var h [segmentHeaderSize]byte
	if r.size < segmentHeaderSize+crcSize {
		return r.Corrupt(0, "file too short")
	}
	if err := r.readAt(h[:], 0); err != nil {
		return err
	}
	switch {
	case string(h[:4]) != segmentMagic:
		return r.Corrupt(0, "bad magic")
	case binary.LittleEndian.Uint32(h[4:8]) != segmentVersion:
		return r.Corrupt(4, fmt.Sprintf("unknown version %d", binary.LittleEndian.Uint32(h[4:8])))
	}
	m := int64(binary.LittleEndian.Uint32(h[16:20]))
	if m > maxSegmentMeta || segmentHeaderSize+m+crcSize > r.size {
		return r.Corrupt(16, fmt.Sprintf("header meta length %d exceeds the file (%d bytes)", m, r.size))
	}
	b := make([]byte, segmentHeaderSize+m+crcSize)
	if err := r.readAt(b, 0); err != nil {
		return err
	}
	end := segmentHeaderSize + m
	if crc32.Checksum(b[:end], castagnoli) != binary.LittleEndian.Uint32(b[end:]) {
		return r.Corrupt(end, "header checksum mismatch")
	}
	r.entries = binary.LittleEndian.Uint64(h[8:16])
	r.meta = b[segmentHeaderSize:end]
	r.off = end + crcSize
	return nil
}

func (r *SegmentReader) readAt(b []byte, off int64) error {
	n, err := r.f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the file shrank since Stat
	}
	return fmt.Errorf("ckpt: read %s: %w", r.path, err)
}

// Path returns the segment file's path.
func (r *SegmentReader) Path() string { return r.path }

// Meta returns the header meta.
func (r *SegmentReader) Meta() []byte { return r.meta }

// Entries returns the entry count of the header.
func (r *SegmentReader) Entries() uint64 { return r.entries }

// Size returns the file's size in bytes.
func (r *SegmentReader) Size() int64 { return r.size }

// Corrupt returns the *CorruptionError for a problem at off of the segment,
// for callers that find an entry that does not decode.
func (r *SegmentReader) Corrupt(off int64, reason string) error {
	return &CorruptionError{File: r.path, Offset: off, Reason: reason}
}

// Next returns the payload of the next block (valid until the next call), the
// number of entries it holds and the block's offset; io.EOF after the last
// block, once the entries add up to the header's count.
func (r *SegmentReader) Next() (payload []byte, entries int, off int64, err error) {
	off = r.off
	if off == r.size {
		if r.seen != r.entries {
			return nil, 0, off, r.Corrupt(off, fmt.Sprintf("segment ends after %d of %d entries", r.seen, r.entries))
		}
		return nil, 0, off, io.EOF
	}
	if r.size-off < blockHeaderSize {
		return nil, 0, off, r.Corrupt(off, "short block header")
	}
	var h [blockHeaderSize]byte
	if err := r.readAt(h[:], off); err != nil {
		return nil, 0, off, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	k := binary.LittleEndian.Uint32(h[4:8])
	switch {
	case n == 0 || k == 0:
		return nil, 0, off, r.Corrupt(off, fmt.Sprintf("empty block (length %d, %d entries)", n, k))
	case n > r.size-off-blockHeaderSize:
		return nil, 0, off, r.Corrupt(off, fmt.Sprintf("block length %d exceeds the file (%d bytes)", n, r.size))
	case uint64(k) > r.entries-r.seen:
		return nil, 0, off, r.Corrupt(off+4, fmt.Sprintf("block of %d entries exceeds the header's count %d", k, r.entries))
	}
	r.buf = slices.Grow(r.buf[:0], int(n))[:n]
	if err := r.readAt(r.buf, off+blockHeaderSize); err != nil {
		return nil, 0, off, err
	}
	crc := crc32.Checksum(h[:8], castagnoli)
	if crc32.Update(crc, castagnoli, r.buf) != binary.LittleEndian.Uint32(h[8:12]) {
		return nil, 0, off, r.Corrupt(off, "block checksum mismatch")
	}
	r.off = off + blockHeaderSize + n
	r.seen += uint64(k)
	return r.buf, int(k), off, nil
}

// Close closes the file.
func (r *SegmentReader) Close() error { return r.f.Close() }

// SweepSegments removes the *.tmp files of dir's segment directory and every
// segment not in keep, then fsyncs the directory. Call it on open with the
// MANIFEST's segments, and after a MANIFEST naming other segments is durable.
func SweepSegments(fsys vfs.FS, dir string, keep []uint64) error {
	return removeWhere(fsys, filepath.Join(dir, SegmentDir), fsys.Remove, func(name string) bool {
		n, ok := parseSegmentName(name)
		return ok && !slices.Contains(keep, n) || strings.HasSuffix(name, vfs.TmpSuffix)
	})
}

package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

const (
	// BlockSize is the size of a block; chunks never cross a block boundary.
	BlockSize = 32 << 10
	// HeaderSize is the size of a chunk header: CRC-32C (4), length (2), type (1).
	HeaderSize = 7

	chunkFull   = 1
	chunkFirst  = 2
	chunkMiddle = 3
	chunkLast   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func chunkCRC(typ byte, payload []byte) uint32 {
	t := [1]byte{typ}
	return crc32.Update(crc32.Update(0, castagnoli, t[:]), castagnoli, payload)
}

// appendRecord appends the chunks of rec to dst, which is written at segment
// offset off, and returns the extended dst and the offset after it.
func appendRecord(dst []byte, off int64, rec []byte) ([]byte, int64) {
	first := true
	for {
		blockOff := int(off % BlockSize)
		if pad := BlockSize - blockOff; pad < HeaderSize {
			var zeros [HeaderSize]byte
			dst = append(dst, zeros[:pad]...)
			off += int64(pad)
			blockOff = 0
		}
		n := min(len(rec), BlockSize-blockOff-HeaderSize)
		last := n == len(rec)
		var typ byte
		switch {
		case first && last:
			typ = chunkFull
		case first:
			typ = chunkFirst
		case last:
			typ = chunkLast
		default:
			typ = chunkMiddle
		}
		var h [HeaderSize]byte
		binary.LittleEndian.PutUint32(h[0:4], chunkCRC(typ, rec[:n]))
		binary.LittleEndian.PutUint16(h[4:6], uint16(n))
		h[6] = typ
		dst = append(dst, h[:]...)
		dst = append(dst, rec[:n]...)
		off += int64(HeaderSize + n)
		rec = rec[n:]
		first = false
		if last {
			return dst, off
		}
	}
}

// problemKind classifies what stopped a segment reader.
type problemKind int

const (
	problemNone     problemKind = iota
	problemTorn                 // the data ends inside a chunk or a record
	problemBadChunk             // checksum, type or length is wrong
	problemBadSeq               // a valid chunk out of sequence
)

// reader reads the records of one segment, a block at a time.
// It is not safe for concurrent use.
type reader struct {
	r    io.ReaderAt
	size int64 // bytes of the segment to read

	block    []byte // current block (len = valid bytes)
	blockOff int64  // segment offset of block
	pos      int    // position in block
	rec      []byte // assembly buffer for multi-chunk records

	lastEnd int64 // segment offset after the last whole record returned

	// Set when next returns false.
	err     error // an I/O error (not corruption)
	problem problemKind
	probOff int64 // offset of the offending chunk
	reason  string
}

func newReader(r io.ReaderAt, size int64) *reader {
	return &reader{r: r, size: size, block: make([]byte, 0, BlockSize), blockOff: -BlockSize}
}

// loadBlock reads the block at segment offset off.
func (r *reader) loadBlock(off int64) error {
	r.blockOff = off
	r.pos = 0
	n := int(min(int64(BlockSize), max(r.size-off, 0)))
	r.block = r.block[:n]
	if n == 0 {
		return nil
	}
	m, err := r.r.ReadAt(r.block, off)
	if m == n {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the file is shorter than it said
	}
	return err
}

func (r *reader) fail(kind problemKind, off int64, reason string) ([]byte, bool) {
	r.problem, r.probOff, r.reason = kind, off, reason
	return nil, false
}

// next returns the next whole record, valid until the following call, or
// false at the end of the segment or on a problem (see r.err, r.problem).
func (r *reader) next() ([]byte, bool) {
	if r.err != nil || r.problem != problemNone {
		return nil, false
	}
	inRecord := false
	recOff := int64(0)
	r.rec = r.rec[:0]
	for {
		if r.pos+HeaderSize > len(r.block) {
			if len(r.block) == BlockSize || r.blockOff < 0 {
				// Padding at the end of a full block (or no block yet).
				if err := r.loadBlock(r.blockOff + BlockSize); err != nil {
					r.err = err
					return nil, false
				}
				if len(r.block) > 0 {
					continue
				}
				// Clean end at a block boundary, unless a record is open.
				if inRecord {
					return r.fail(problemTorn, recOff, "segment ends inside a record")
				}
				return nil, false
			}
			switch {
			case r.pos < len(r.block):
				return r.fail(problemTorn, r.blockOff+int64(r.pos), "segment ends inside a chunk header")
			case inRecord:
				return r.fail(problemTorn, recOff, "segment ends inside a record")
			}
			return nil, false
		}
		chunkOff := r.blockOff + int64(r.pos)
		h := r.block[r.pos : r.pos+HeaderSize]
		crc := binary.LittleEndian.Uint32(h[0:4])
		length := int(binary.LittleEndian.Uint16(h[4:6]))
		typ := h[6]
		switch {
		case crc == 0 && length == 0 && typ == 0:
			return r.fail(problemBadChunk, chunkOff, "zeroed chunk header")
		case typ < chunkFull || typ > chunkLast:
			return r.fail(problemBadChunk, chunkOff, "invalid chunk type")
		case r.pos+HeaderSize+length > BlockSize:
			return r.fail(problemBadChunk, chunkOff, "chunk length overruns its block")
		case r.pos+HeaderSize+length > len(r.block):
			return r.fail(problemTorn, chunkOff, "segment ends inside a chunk payload")
		}
		payload := r.block[r.pos+HeaderSize : r.pos+HeaderSize+length]
		if chunkCRC(typ, payload) != crc {
			return r.fail(problemBadChunk, chunkOff, "chunk checksum mismatch")
		}
		r.pos += HeaderSize + length
		end := r.blockOff + int64(r.pos)
		switch typ {
		case chunkFull:
			if inRecord {
				return r.fail(problemBadSeq, chunkOff, "full chunk inside a record")
			}
			r.lastEnd = end
			return payload, true
		case chunkFirst:
			if inRecord {
				return r.fail(problemBadSeq, chunkOff, "first chunk inside a record")
			}
			inRecord, recOff = true, chunkOff
			r.rec = append(r.rec, payload...)
		case chunkMiddle:
			if !inRecord {
				return r.fail(problemBadSeq, chunkOff, "middle chunk outside a record")
			}
			r.rec = append(r.rec, payload...)
		case chunkLast:
			if !inRecord {
				return r.fail(problemBadSeq, chunkOff, "last chunk outside a record")
			}
			r.rec = append(r.rec, payload...)
			r.lastEnd = end
			return r.rec, true
		}
	}
}

// validChunkAt reports whether block[pos:] starts with a checksum-valid chunk.
func validChunkAt(block []byte, pos int) bool {
	if pos < 0 || pos+HeaderSize > len(block) {
		return false
	}
	h := block[pos : pos+HeaderSize]
	length := int(binary.LittleEndian.Uint16(h[4:6]))
	typ := h[6]
	if typ < chunkFull || typ > chunkLast || pos+HeaderSize+length > len(block) {
		return false
	}
	return chunkCRC(typ, block[pos+HeaderSize:pos+HeaderSize+length]) == binary.LittleEndian.Uint32(h[0:4])
}

// validAfter reports whether any checksum-valid chunk follows the bad chunk
// at off: right after it, if its length is plausible, or at the start of any
// later block. It tells a torn tail (nothing valid after) from damage in the
// middle of the data.
func validAfter(r io.ReaderAt, size, off int64) (bool, error) {
	rd := newReader(r, size)
	start := off - off%BlockSize
	if err := rd.loadBlock(start); err != nil {
		return false, err
	}
	pos := int(off - start)
	if pos+HeaderSize <= len(rd.block) {
		length := int(binary.LittleEndian.Uint16(rd.block[pos+4 : pos+6]))
		if validChunkAt(rd.block, pos+HeaderSize+length) {
			return true, nil
		}
	}
	for b := start + BlockSize; b < size; b += BlockSize {
		if err := rd.loadBlock(b); err != nil {
			return false, err
		}
		if validChunkAt(rd.block, 0) {
			return true, nil
		}
	}
	return false, nil
}

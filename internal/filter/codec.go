package filter

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/sextantdb/sextant/internal/payload"
)

// Encoding of an Index (AppendBinary / DecodeIndex), version 1. Integers are
// uvarints unless noted; a string is a uvarint length and its bytes; a
// bitmap is a uvarint length and the roaring portable serialization.
//
//	magic "SXFI" | version byte (1)
//	nskip | skip key strings, sorted
//	nfields | per field, sorted by key:
//	    key string | nentries | per entry, sorted (scalars first, then by kind and value):
//	        tag byte: kind (1 string, 2 number, 3 bool) | 0x80 when a list element
//	        value: string | float64 bits (8 bytes, little-endian) | bool byte (0 or 1)
//	        bitmap (non-empty)
//	docs bitmap (slots with a document)
//	ntrigrams | per trigram, ascending: 3 bytes | bitmap (non-empty)
//	CRC-32C (Castagnoli) of everything before it, 4 bytes little-endian
//
// The ordered indexes (the sorted (number, slot) pairs of each key, see
// ordered.go) are not stored: DecodeIndex rebuilds them from the scalar
// number bitmaps, which are exactly those pairs grouped by value, and refuses
// an encoding where a slot holds two scalar numbers of one key. The layout
// is unchanged since the ordered index moved from per-value bitmaps to
// (number, slot) pairs, so version 1 encodings written before decode as is.

const (
	codecMagic   = "SXFI"
	codecVersion = 1
	tagElem      = 0x80
)

// ErrCorrupt is returned (wrapped) by DecodeIndex for malformed input.
var ErrCorrupt = errors.New("malformed filter index encoding")

// ErrSkipKeysChanged is returned (wrapped) by DecodeIndex when the encoded
// index skipped a key that opts now wants indexed: the index must be rebuilt
// from the records.
var ErrSkipKeysChanged = errors.New("filter index skip keys changed")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

func appendBitmap(dst []byte, bm *roaring.Bitmap) []byte {
	dst = binary.AppendUvarint(dst, bm.GetSerializedSizeInBytes())
	if _, err := bm.WriteTo(appendWriter{&dst}); err != nil {
		panic(fmt.Sprintf("BUG: roaring WriteTo to memory failed: %v", err))
	}
	return dst
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

type entry struct {
	key  vkey
	elem bool
	bm   *roaring.Bitmap
}

func compareEntries(a, b entry) int {
	if a.elem != b.elem {
		if a.elem {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.key.k, b.key.k); c != 0 {
		return c
	}
	switch a.key.k {
	case kString:
		return cmp.Compare(a.key.s, b.key.s)
	case kNumber:
		return cmp.Compare(a.key.f, b.key.f)
	}
	if a.key.b == b.key.b {
		return 0
	}
	if a.key.b {
		return 1
	}
	return -1
}

// AppendBinary appends the encoding of ix to dst (layout above). The output
// is deterministic for a given content.
func (ix *Index) AppendBinary(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, codecMagic...)
	dst = append(dst, codecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ix.skipKeys)))
	for _, k := range ix.skipKeys {
		dst = appendStr(dst, k)
	}
	keys := make([]string, 0, len(ix.fields))
	for k := range ix.fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	var entries []entry
	for _, k := range keys {
		f := ix.fields[k]
		entries = entries[:0]
		for key, bm := range f.scalar {
			entries = append(entries, entry{key, false, bm})
		}
		for key, bm := range f.elem {
			entries = append(entries, entry{key, true, bm})
		}
		slices.SortFunc(entries, compareEntries)
		dst = appendStr(dst, k)
		dst = binary.AppendUvarint(dst, uint64(len(entries)))
		for _, en := range entries {
			tag := byte(en.key.k)
			if en.elem {
				tag |= tagElem
			}
			dst = append(dst, tag)
			switch en.key.k {
			case kString:
				dst = appendStr(dst, en.key.s)
			case kNumber:
				dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(en.key.f))
			case kBool:
				if en.key.b {
					dst = append(dst, 1)
				} else {
					dst = append(dst, 0)
				}
			}
			dst = appendBitmap(dst, en.bm)
		}
	}
	dst = appendBitmap(dst, ix.docs)
	tris := make([]uint32, 0, len(ix.trigrams))
	for t := range ix.trigrams {
		tris = append(tris, t)
	}
	slices.Sort(tris)
	dst = binary.AppendUvarint(dst, uint64(len(tris)))
	for _, t := range tris {
		dst = append(dst, byte(t>>16), byte(t>>8), byte(t))
		dst = appendBitmap(dst, ix.trigrams[t])
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decoder reads the encoding; the first error sticks.
type decoder struct {
	payload.Reader
}

func (d *decoder) corrupt(format string, args ...any) {
	if d.Err == nil {
		d.Err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	d.B = nil
}

// count reads a count of items of at least minSize bytes each, refusing
// counts larger than the bytes left.
func (d *decoder) count(minSize int) int {
	n := d.Uvarint()
	if d.Err != nil {
		return 0
	}
	if n > uint64(len(d.B)/minSize) {
		d.corrupt("count %d exceeds the input", n)
		return 0
	}
	return int(n)
}

func (d *decoder) bitmap() *roaring.Bitmap {
	b := d.Bytes(d.Uvarint())
	if d.Err != nil {
		return nil
	}
	bm, err := decodeBitmap(b)
	if err != nil {
		d.corrupt("bitmap: %v", err)
		return nil
	}
	return bm
}

func decodeBitmap(b []byte) (bm *roaring.Bitmap, err error) {
	defer func() {
		if r := recover(); r != nil { // roaring's reader is not hardened against every input
			bm, err = nil, fmt.Errorf("%v", r)
		}
	}()
	bm = roaring.New()
	n, err := bm.ReadFrom(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if n != int64(len(b)) {
		return nil, fmt.Errorf("%d trailing bytes", int64(len(b))-n)
	}
	if err := bm.Validate(); err != nil {
		return nil, err
	}
	return bm, nil
}

// DecodeIndex decodes an index written by AppendBinary. Keys in opts.SkipKeys
// that the encoded index did index are dropped; a key the encoded index
// skipped but opts does not is an error wrapping ErrSkipKeysChanged. Other
// malformed input returns an error wrapping ErrCorrupt; DecodeIndex never
// panics.
func DecodeIndex(b []byte, opts IndexOptions) (*Index, error) {
	const head = len(codecMagic) + 1
	if len(b) < head+4 || string(b[:len(codecMagic)]) != codecMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if b[len(codecMagic)] != codecVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[len(codecMagic)])
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	ix := NewIndex(opts)
	d := &decoder{payload.Reader{B: body[head:]}}
	nskip := d.count(1)
	for i := 0; i < nskip && d.Err == nil; i++ {
		k := d.String()
		if d.Err == nil && !ix.skipped(k) {
			return nil, fmt.Errorf("%w: key %q was not indexed", ErrSkipKeysChanged, k)
		}
	}
	nfields := d.count(2)
	prevKey := ""
	type numEntry struct {
		v  float64
		bm *roaring.Bitmap
	}
	var nums []numEntry // the scalar numbers of a field
	for i := 0; i < nfields && d.Err == nil; i++ {
		k := d.String()
		if i > 0 && k <= prevKey {
			d.corrupt("field keys out of order")
			break
		}
		prevKey = k
		n := d.count(3)
		if n == 0 && d.Err == nil {
			d.corrupt("field %q has no entries", k)
		}
		f := newField()
		nums = nums[:0]
		npairs := uint64(0)
		for j := 0; j < n && d.Err == nil; j++ {
			tag := d.Byte()
			var key vkey
			switch tag &^ tagElem {
			case byte(kString):
				key = vkey{k: kString, s: d.String()}
			case byte(kNumber):
				x := math.Float64frombits(d.Uint64())
				if math.IsNaN(x) || x == 0 && math.Signbit(x) {
					d.corrupt("bad number")
				}
				key = vkey{k: kNumber, f: x}
			case byte(kBool):
				switch d.Byte() {
				case 0:
					key = vkey{k: kBool}
				case 1:
					key = vkey{k: kBool, b: true}
				default:
					d.corrupt("bad bool")
				}
			default:
				d.corrupt("bad tag %#x", tag)
			}
			bm := d.bitmap()
			if d.Err != nil {
				break
			}
			if bm.IsEmpty() {
				d.corrupt("empty bitmap")
				break
			}
			m := f.scalar
			if tag&tagElem != 0 {
				m = f.elem
			}
			if _, dup := m[key]; dup {
				d.corrupt("duplicate value in field %q", k)
				break
			}
			m[key] = bm
			if tag == byte(kNumber) {
				nums = append(nums, numEntry{key.f, bm})
				npairs += bm.GetCardinality()
				f.nums.Or(bm)
			}
		}
		if d.Err == nil && npairs != f.nums.GetCardinality() {
			d.corrupt("field %q: a slot holds two scalar numbers", k)
		}
		if d.Err == nil && !ix.skipped(k) {
			ps := make([]pair, 0, npairs)
			for _, en := range nums {
				bm := en.bm
				for it := bm.Iterator(); it.HasNext(); {
					ps = append(ps, pair{en.v, it.Next()})
				}
			}
			f.ord.setBase(ps)
			ix.fields[k] = f
		}
	}
	ix.docs = d.bitmap()
	ntri := d.count(4)
	for i := 0; i < ntri && d.Err == nil; i++ {
		t3 := d.Bytes(3)
		bm := d.bitmap()
		if d.Err != nil {
			break
		}
		t := uint32(t3[0])<<16 | uint32(t3[1])<<8 | uint32(t3[2])
		if _, dup := ix.trigrams[t]; dup || bm.IsEmpty() {
			d.corrupt("duplicate or empty trigram")
			break
		}
		ix.trigrams[t] = bm
	}
	if d.Err == nil && len(d.B) != 0 {
		d.corrupt("%d trailing bytes", len(d.B))
	}
	if d.Err != nil {
		if !errors.Is(d.Err, ErrCorrupt) {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, d.Err)
		}
		return nil, d.Err
	}
	return ix, nil
}

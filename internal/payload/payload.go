// Package payload defines the record metadata model — keys mapped to string,
// int64, float64, bool values or non-empty homogeneous lists of them — its
// validation and canonical form, and its binary codec used by the WAL and
// checkpoints.
package payload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Map is record metadata in canonical form: values are string, int64,
// float64, bool, []string, []int64, []float64 or []bool.
type Map = map[string]any

// Normalize validates m and returns it in canonical form (a new map). Go
// int kinds become int64, float32 becomes float64, []any lists become typed
// lists. A nil or empty map returns nil.
func Normalize(m map[string]any) (Map, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(Map, len(m))
	for k, v := range m {
		if k == "" {
			return nil, errors.New("metadata key is empty")
		}
		cv, err := normalizeValue(v)
		if err != nil {
			return nil, fmt.Errorf("metadata key %q: %w", k, err)
		}
		out[k] = cv
	}
	return out, nil
}

// NormalizeValue validates one metadata value and returns its canonical form.
func NormalizeValue(v any) (any, error) { return normalizeValue(v) }

func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("value %v is not a finite number", x)
		}
		return x, nil
	case float32:
		return normalizeValue(float64(x))
	case []string:
		if len(x) == 0 {
			return nil, errors.New("list is empty")
		}
		return append([]string(nil), x...), nil
	case []int64:
		if len(x) == 0 {
			return nil, errors.New("list is empty")
		}
		return append([]int64(nil), x...), nil
	case []int:
		if len(x) == 0 {
			return nil, errors.New("list is empty")
		}
		out := make([]int64, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out, nil
	case []float64:
		if len(x) == 0 {
			return nil, errors.New("list is empty")
		}
		for _, f := range x {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("list value %v is not a finite number", f)
			}
		}
		return append([]float64(nil), x...), nil
	case []bool:
		if len(x) == 0 {
			return nil, errors.New("list is empty")
		}
		return append([]bool(nil), x...), nil
	case []any:
		return normalizeList(x)
	case nil:
		return nil, errors.New("value is null")
	}
	return nil, fmt.Errorf("unsupported value type %T (want string, int, float, bool or a list of one of them)", v)
}

func normalizeList(x []any) (any, error) {
	if len(x) == 0 {
		return nil, errors.New("list is empty")
	}
	first, err := normalizeValue(x[0])
	if err != nil {
		return nil, fmt.Errorf("list element 0: %w", err)
	}
	switch first.(type) {
	case string:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list mixes types: element %d is %T, element 0 is a string", i, e)
			}
			out[i] = s
		}
		return out, nil
	case bool:
		out := make([]bool, len(x))
		for i, e := range x {
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("list mixes types: element %d is %T, element 0 is a bool", i, e)
			}
			out[i] = b
		}
		return out, nil
	case int64, float64:
		// Numbers: a list of whole numbers is an int list, else a float list.
		allInt := true
		vals := make([]any, len(x))
		for i, e := range x {
			v, err := normalizeValue(e)
			if err != nil {
				return nil, fmt.Errorf("list element %d: %w", i, err)
			}
			switch v.(type) {
			case int64:
			case float64:
				allInt = false
			default:
				return nil, fmt.Errorf("list mixes types: element %d is %T, element 0 is a number", i, e)
			}
			vals[i] = v
		}
		if allInt {
			out := make([]int64, len(vals))
			for i, v := range vals {
				out[i] = v.(int64)
			}
			return out, nil
		}
		out := make([]float64, len(vals))
		for i, v := range vals {
			switch n := v.(type) {
			case int64:
				out[i] = float64(n)
			case float64:
				out[i] = n
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported list element type %T", x[0])
}

// Value type tags in the binary encoding.
const (
	tagString byte = iota + 1
	tagInt
	tagFloat
	tagBool
	tagStrings
	tagInts
	tagFloats
	tagBools
)

// AppendMap appends the binary encoding of a canonical map: uvarint count,
// then per key (sorted) uvarint len + key bytes, tag byte, value.
func AppendMap(dst []byte, m Map) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendValue(dst, m[k])
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		dst = append(dst, tagString)
		return appendString(dst, x)
	case int64:
		dst = append(dst, tagInt)
		return binary.AppendVarint(dst, x)
	case float64:
		dst = append(dst, tagFloat)
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	case bool:
		dst = append(dst, tagBool)
		if x {
			return append(dst, 1)
		}
		return append(dst, 0)
	case []string:
		dst = append(dst, tagStrings)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for _, s := range x {
			dst = appendString(dst, s)
		}
		return dst
	case []int64:
		dst = append(dst, tagInts)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for _, n := range x {
			dst = binary.AppendVarint(dst, n)
		}
		return dst
	case []float64:
		dst = append(dst, tagFloats)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for _, f := range x {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
		}
		return dst
	case []bool:
		dst = append(dst, tagBools)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for _, b := range x {
			if b {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
		return dst
	}
	panic(fmt.Sprintf("BUG: payload value of type %T is not canonical", v))
}

// ErrCorrupt is returned by DecodeMap for malformed input.
var ErrCorrupt = errors.New("malformed metadata encoding")

// Reader decodes values from a byte slice; the first error sticks.
type Reader struct {
	B   []byte
	Err error
}

func (r *Reader) fail() {
	if r.Err == nil {
		r.Err = ErrCorrupt
	}
	r.B = nil
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Bytes reads n raw bytes (aliasing the input).
func (r *Reader) Bytes(n uint64) []byte {
	if n > uint64(len(r.B)) {
		r.fail()
		return nil
	}
	b := r.B[:n]
	r.B = r.B[n:]
	return b
}

// String reads a uvarint-prefixed string.
func (r *Reader) String() string { return string(r.Bytes(r.Uvarint())) }

// Byte reads one byte.
func (r *Reader) Byte() byte {
	b := r.Bytes(1)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// Uint32 reads a little-endian uint32.
func (r *Reader) Uint32() uint32 {
	b := r.Bytes(4)
	if len(b) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// Uint64 reads a little-endian uint64.
func (r *Reader) Uint64() uint64 {
	b := r.Bytes(8)
	if len(b) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// count reads a list length and checks it against the bytes left, so that a
// corrupt length cannot make the decoder allocate gigabytes.
func (r *Reader) count(minSize int) int {
	n := r.Uvarint()
	if r.Err != nil || n > uint64(len(r.B)/minSize)+1 {
		r.fail()
		return 0
	}
	return int(n)
}

// Map decodes a map written by AppendMap. An empty map decodes as nil.
func (r *Reader) Map() Map {
	n := r.count(2)
	if n == 0 || r.Err != nil {
		return nil
	}
	m := make(Map, n)
	for i := 0; i < n && r.Err == nil; i++ {
		k := r.String()
		v := r.value()
		if r.Err == nil {
			m[k] = v
		}
	}
	if r.Err != nil {
		return nil
	}
	return m
}

func (r *Reader) value() any {
	switch r.Byte() {
	case tagString:
		return r.String()
	case tagInt:
		return r.Varint()
	case tagFloat:
		return math.Float64frombits(r.Uint64())
	case tagBool:
		return r.Byte() != 0
	case tagStrings:
		n := r.count(1)
		out := make([]string, n)
		for i := range out {
			out[i] = r.String()
		}
		return out
	case tagInts:
		n := r.count(1)
		out := make([]int64, n)
		for i := range out {
			out[i] = r.Varint()
		}
		return out
	case tagFloats:
		n := r.count(8)
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(r.Uint64())
		}
		return out
	case tagBools:
		n := r.count(1)
		out := make([]bool, n)
		for i := range out {
			out[i] = r.Byte() != 0
		}
		return out
	}
	r.fail()
	return nil
}

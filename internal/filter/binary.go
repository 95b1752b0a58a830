package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"

	"github.com/sextantdb/sextant/internal/payload"
)

// Binary form of a compiled Filter, for the engine's command log
// (docs/format/records.md, "filter"):
//
//	filter := version(u8 = 1) node
//	node   := op(u8) body
//	  $and $or:           count(uvarint >= 1) node*
//	  metadata operators: key(str) operand
//	  document operators: op | 0x80, then operand ($contains, $not_contains,
//	                      $regex, $not_regex)
//	operand := $in $nin: count(uvarint >= 1) value*; $regex $not_regex:
//	           pattern(str); otherwise value
//	value  := kind(u8: 1 string, 2 number, 3 bool) then str | f64 | u8
//
// Decoding rebuilds exactly the Filter that was encoded (its String is the
// same), so a logged delete-where evaluates on replay as it did live.
const (
	binaryVersion = 1
	docBit        = 0x80
)

// ErrCorruptFilter is returned by DecodeBinary for bytes that are not a
// filter's binary form.
var ErrCorruptFilter = errors.New("filter: corrupt binary form")

// AppendBinary appends the binary form of f (which must not be nil) to dst.
func (f *Filter) AppendBinary(dst []byte) []byte {
	dst = append(dst, binaryVersion)
	return f.root.appendBinary(dst)
}

func (n *node) appendBinary(dst []byte) []byte {
	switch n.op {
	case opAnd, opOr:
		dst = append(dst, byte(n.op))
		dst = binary.AppendUvarint(dst, uint64(len(n.kids)))
		for _, k := range n.kids {
			dst = k.appendBinary(dst)
		}
		return dst
	}
	if n.doc {
		dst = append(dst, byte(n.op)|docBit)
	} else {
		dst = append(dst, byte(n.op))
		dst = appendStr(dst, n.key)
	}
	switch n.op {
	case opIn, opNin:
		dst = binary.AppendUvarint(dst, uint64(len(n.vals)))
		for _, v := range n.vals {
			dst = v.appendBinary(dst)
		}
	case opRegex, opNotRegex:
		dst = appendStr(dst, n.re.String())
	default:
		dst = n.val.appendBinary(dst)
	}
	return dst
}

func (v value) appendBinary(dst []byte) []byte {
	dst = append(dst, byte(v.k))
	switch v.k {
	case kString:
		return appendStr(dst, v.s)
	case kNumber:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.f))
	case kBool:
		if v.b {
			return append(dst, 1)
		}
		return append(dst, 0)
	}
	panic(fmt.Sprintf("BUG: filter value of kind %d", v.k))
}

// DecodeBinary decodes a filter written by AppendBinary. The whole of b must
// be one filter.
func DecodeBinary(b []byte) (*Filter, error) {
	r := payload.Reader{B: b}
	if v := r.Byte(); r.Err != nil || v != binaryVersion {
		return nil, fmt.Errorf("%w: version %d", ErrCorruptFilter, v)
	}
	n, err := decodeNode(&r, 0)
	if err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptFilter, r.Err)
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptFilter, len(r.B))
	}
	return &Filter{root: n}, nil
}

func decodeNode(r *payload.Reader, depth int) (*node, error) {
	if depth > 2*maxDepth+2 {
		return nil, fmt.Errorf("%w: nested too deeply", ErrCorruptFilter)
	}
	b := r.Byte()
	if r.Err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrCorruptFilter)
	}
	n := &node{op: op(b &^ docBit), doc: b&docBit != 0}
	if n.op > opOr {
		return nil, fmt.Errorf("%w: operator %d", ErrCorruptFilter, n.op)
	}
	switch n.op {
	case opAnd, opOr:
		cnt := r.Uvarint()
		if n.doc || r.Err != nil || cnt == 0 || cnt > uint64(len(r.B)) {
			return nil, fmt.Errorf("%w: %s with %d operands", ErrCorruptFilter, n.op, cnt)
		}
		n.kids = make([]*node, cnt)
		for i := range n.kids {
			k, err := decodeNode(r, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids[i] = k
		}
		return n, nil
	}
	if n.doc {
		switch n.op {
		case opContains, opNotContains, opRegex, opNotRegex:
		default:
			return nil, fmt.Errorf("%w: %s on the document", ErrCorruptFilter, n.op)
		}
	} else {
		n.key = r.String()
	}
	switch n.op {
	case opIn, opNin:
		cnt := r.Uvarint()
		if r.Err != nil || cnt == 0 || cnt > uint64(len(r.B)) {
			return nil, fmt.Errorf("%w: %s with %d values", ErrCorruptFilter, n.op, cnt)
		}
		n.vals = make([]value, cnt)
		for i := range n.vals {
			v, err := decodeValue(r)
			if err != nil {
				return nil, err
			}
			if v.k != n.vals[0].k && i > 0 {
				return nil, fmt.Errorf("%w: %s mixes %s and %s", ErrCorruptFilter, n.op, n.vals[0].k, v.k)
			}
			n.vals[i] = v
		}
	case opRegex, opNotRegex:
		pat := r.String()
		if r.Err != nil {
			return nil, fmt.Errorf("%w: truncated", ErrCorruptFilter)
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorruptFilter, n.op, err)
		}
		n.re = re
	default:
		v, err := decodeValue(r)
		if err != nil {
			return nil, err
		}
		n.val = v
	}
	if r.Err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrCorruptFilter)
	}
	if err := n.checkOperand(); err != nil {
		return nil, err
	}
	return n, nil
}

// checkOperand refuses operand kinds that Parse never compiles for n's
// operator, so that evaluation can trust them.
func (n *node) checkOperand() error {
	k := n.val.k
	if n.op == opIn || n.op == opNin {
		k = n.vals[0].k
	}
	switch n.op {
	case opRegex, opNotRegex:
		if !n.doc {
			return fmt.Errorf("%w: %s on metadata", ErrCorruptFilter, n.op)
		}
	case opGt, opGte, opLt, opLte:
		if k != kNumber {
			return fmt.Errorf("%w: %s on a %s", ErrCorruptFilter, n.op, k)
		}
	case opContains, opNotContains:
		if n.doc && k != kString {
			return fmt.Errorf("%w: document %s of a %s", ErrCorruptFilter, n.op, k)
		}
	}
	return nil
}

func decodeValue(r *payload.Reader) (value, error) {
	v := value{k: kind(r.Byte())}
	switch v.k {
	case kString:
		v.s = r.String()
	case kNumber:
		v.f = math.Float64frombits(r.Uint64())
		if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
			return v, fmt.Errorf("%w: non-finite operand", ErrCorruptFilter)
		}
	case kBool:
		switch r.Byte() {
		case 0:
		case 1:
			v.b = true
		default:
			return v, fmt.Errorf("%w: bool operand", ErrCorruptFilter)
		}
	default:
		return v, fmt.Errorf("%w: value kind %d", ErrCorruptFilter, v.k)
	}
	if r.Err != nil {
		return v, fmt.Errorf("%w: truncated", ErrCorruptFilter)
	}
	return v, nil
}

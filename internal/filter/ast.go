package filter

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/sextantdb/sextant/internal/payload"
)

// op is the operator of one filter node.
type op uint8

const (
	opEq op = iota
	opNe
	opGt
	opGte
	opLt
	opLte
	opIn
	opNin
	opContains
	opNotContains
	opRegex
	opNotRegex
	opAnd
	opOr
)

var opNames = [...]string{
	opEq: "$eq", opNe: "$ne", opGt: "$gt", opGte: "$gte", opLt: "$lt", opLte: "$lte",
	opIn: "$in", opNin: "$nin", opContains: "$contains", opNotContains: "$not_contains",
	opRegex: "$regex", opNotRegex: "$not_regex", opAnd: "$and", opOr: "$or",
}

func (o op) String() string { return opNames[o] }

// negated reports whether o is the complement of a positive operator, and
// which one.
func (o op) negated() (op, bool) {
	switch o {
	case opNe:
		return opEq, true
	case opNin:
		return opIn, true
	case opNotContains:
		return opContains, true
	case opNotRegex:
		return opRegex, true
	}
	return o, false
}

// kind is the type of a filter operand.
type kind uint8

const (
	kString kind = iota + 1
	kNumber
	kBool
)

func (k kind) String() string {
	switch k {
	case kString:
		return "string"
	case kNumber:
		return "number"
	case kBool:
		return "bool"
	}
	return "?"
}

// value is one operand: a string, a number (always float64, see doc.go) or a
// bool.
type value struct {
	k kind
	s string
	f float64
	b bool
}

func (v value) appendJSON(dst []byte) []byte {
	switch v.k {
	case kString:
		return appendJSONString(dst, v.s)
	case kNumber:
		return strconv.AppendFloat(dst, v.f, 'g', -1, 64)
	case kBool:
		return strconv.AppendBool(dst, v.b)
	}
	return append(dst, "null"...)
}

func appendJSONString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return strconv.AppendQuote(dst, s)
	}
	return append(dst, b...)
}

// node is one node of a compiled filter.
type node struct {
	op   op
	key  string  // metadata key; unused for document nodes and $and/$or
	doc  bool    // the node tests the document, not metadata
	val  value   // operand of $eq $ne $gt.. $contains $not_contains
	vals []value // operand of $in $nin (non-empty, one kind)
	re   *regexp.Regexp
	kids []*node // $and $or
}

// Filter is a compiled where / where_document pair. A Filter is immutable and
// safe for concurrent use.
type Filter struct {
	root *node
}

// Match reports whether a record with metadata meta and document doc (nil
// when the record has none) matches f. A nil Filter matches everything.
func (f *Filter) Match(meta payload.Map, doc *string) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(meta, doc)
}

// String returns the canonical form of f: JSON of a where clause equivalent
// to f (the where_document part is folded in as "#document" conditions, and
// every shorthand is expanded to its operator). A nil Filter prints as "{}".
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return "{}"
	}
	return string(f.root.appendJSON(nil))
}

func (n *node) appendJSON(dst []byte) []byte {
	switch n.op {
	case opAnd, opOr:
		dst = append(dst, `{"`...)
		dst = append(dst, n.op.String()...)
		dst = append(dst, `":[`...)
		for i, k := range n.kids {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = k.appendJSON(dst)
		}
		return append(dst, "]}"...)
	}
	dst = append(dst, '{')
	if n.doc {
		dst = append(dst, `"#document"`...)
	} else {
		dst = appendJSONString(dst, n.key)
	}
	dst = append(dst, `:{"`...)
	dst = append(dst, n.op.String()...)
	dst = append(dst, `":`...)
	switch n.op {
	case opIn, opNin:
		dst = append(dst, '[')
		for i, v := range n.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = v.appendJSON(dst)
		}
		dst = append(dst, ']')
	case opRegex, opNotRegex:
		dst = appendJSONString(dst, n.re.String())
	default:
		dst = n.val.appendJSON(dst)
	}
	return append(dst, "}}"...)
}

// match evaluates n on one record.
func (n *node) match(meta payload.Map, doc *string) bool {
	if pos, ok := n.op.negated(); ok {
		return !n.matchPositive(pos, meta, doc)
	}
	switch n.op {
	case opAnd:
		for _, k := range n.kids {
			if !k.match(meta, doc) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if k.match(meta, doc) {
				return true
			}
		}
		return false
	}
	return n.matchPositive(n.op, meta, doc)
}

// matchPositive evaluates the positive operator o (never a negation, $and or
// $or) with n's key and operands.
func (n *node) matchPositive(o op, meta payload.Map, doc *string) bool {
	if n.doc {
		if doc == nil {
			return false
		}
		if o == opRegex {
			return n.re.MatchString(*doc)
		}
		return strings.Contains(*doc, n.val.s)
	}
	mv, ok := meta[n.key]
	if !ok {
		return false
	}
	switch o {
	case opEq:
		return scalarEq(mv, n.val)
	case opIn:
		for _, v := range n.vals {
			if scalarEq(mv, v) {
				return true
			}
		}
		return false
	case opContains:
		return listContains(mv, n.val)
	case opGt, opGte, opLt, opLte:
		x, ok := scalarNum(mv)
		return ok && inRange(o, x, n.val.f)
	}
	return false
}

// scalarNum returns a scalar numeric metadata value as float64.
func scalarNum(mv any) (float64, bool) {
	switch x := mv.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	}
	return 0, false
}

func inRange(o op, x, bound float64) bool {
	switch o {
	case opGt:
		return x > bound
	case opGte:
		return x >= bound
	case opLt:
		return x < bound
	case opLte:
		return x <= bound
	}
	return false
}

// scalarEq reports whether the scalar metadata value mv equals v. List
// values never equal a scalar.
func scalarEq(mv any, v value) bool {
	switch x := mv.(type) {
	case string:
		return v.k == kString && x == v.s
	case bool:
		return v.k == kBool && x == v.b
	case int64:
		return v.k == kNumber && float64(x) == v.f
	case float64:
		return v.k == kNumber && x == v.f
	}
	return false
}

// listContains reports whether the list metadata value mv has an element
// equal to v. Scalars contain nothing.
func listContains(mv any, v value) bool {
	switch x := mv.(type) {
	case []string:
		if v.k == kString {
			for _, e := range x {
				if e == v.s {
					return true
				}
			}
		}
	case []bool:
		if v.k == kBool {
			for _, e := range x {
				if e == v.b {
					return true
				}
			}
		}
	case []int64:
		if v.k == kNumber {
			for _, e := range x {
				if float64(e) == v.f {
					return true
				}
			}
		}
	case []float64:
		if v.k == kNumber {
			for _, e := range x {
				if e == v.f {
					return true
				}
			}
		}
	}
	return false
}

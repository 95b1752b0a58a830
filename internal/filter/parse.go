package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/sextantdb/sextant/internal/errs"
)

// Error is a filter that failed validation. It wraps errs.ErrInvalidFilter.
type Error struct {
	Path string // the offending node, e.g. "where.$and[1].price"
	Msg  string // what is wrong with it
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns errs.ErrInvalidFilter.
func (e *Error) Unwrap() error { return errs.ErrInvalidFilter }

func errorf(path, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// maxDepth bounds the nesting of $and / $or so that a hostile filter cannot
// exhaust the stack.
const maxDepth = 64

// Parse validates and compiles a where / where_document pair as decoded from
// JSON: objects are map[string]any; numbers may be float64, json.Number or
// any Go int, uint or float kind; lists may be []any or typed slices. nil or
// empty maps mean "no filter"; the result is nil when both are empty. When
// both are given they are ANDed. Errors are *Error.
func Parse(where, whereDocument map[string]any) (*Filter, error) {
	var parts []*node
	if len(where) > 0 {
		n, err := parseWhere("where", where, 0)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	if len(whereDocument) > 0 {
		n, err := parseDocument("where_document", whereDocument, 0)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	switch len(parts) {
	case 0:
		return nil, nil
	case 1:
		return &Filter{root: parts[0]}, nil
	}
	return &Filter{root: &node{op: opAnd, kids: parts}}, nil
}

// typeName names the JSON type of a decoded value, for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	}
	if _, ok := toNumber(v); ok {
		return "number"
	}
	if _, ok := asList(v); ok {
		return "list"
	}
	return fmt.Sprintf("%T", v)
}

// single returns the only entry of an object that must have exactly one key.
func single(path string, v any) (string, any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", nil, errorf(path, "expected an object, got %s", typeName(v))
	}
	if len(m) != 1 {
		return "", nil, errorf(path, "expected exactly one key, got %d", len(m))
	}
	for k, x := range m {
		return k, x, nil
	}
	return "", nil, nil // unreachable
}

// asList returns the elements of a list value: []any or any typed slice or
// array (except []byte, which is not a JSON list).
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case nil, []byte, string:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// toNumber converts a decoded number to float64; ok is false for anything
// else, including non-finite values and malformed json.Number.
func toNumber(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		p, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f + 0, true // +0 folds -0 into 0
}

// isNumberType reports whether v has a numeric Go type (finite or not), so
// that a NaN or malformed json.Number is reported as a bad number.
func isNumberType(v any) bool {
	switch v.(type) {
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return true
	}
	return false
}

// toValue converts a scalar operand. what names the operator for messages.
func toValue(path, what string, v any) (value, error) {
	switch x := v.(type) {
	case string:
		return value{k: kString, s: x}, nil
	case bool:
		return value{k: kBool, b: x}, nil
	}
	if f, ok := toNumber(v); ok {
		return value{k: kNumber, f: f}, nil
	}
	if isNumberType(v) {
		return value{}, errorf(path, "%s expects a finite number, got %v", what, v)
	}
	return value{}, errorf(path, "%s expects a string, number or bool, got %s", what, typeName(v))
}

func parseWhere(path string, v any, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errorf(path, "nested deeper than %d levels", maxDepth)
	}
	k, x, err := single(path, v)
	if err != nil {
		return nil, err
	}
	switch {
	case k == "$and" || k == "$or":
		return parseLogical(path+"."+k, k, x, depth, parseWhere)
	case strings.HasPrefix(k, "$"):
		return nil, errorf(path, "unknown operator %s", k)
	case k == "#document":
		return parseDocField(path+"."+k, x)
	case strings.HasPrefix(k, "#"):
		return nil, errorf(path, "unknown key %s (only #document may start with #)", k)
	case k == "":
		return nil, errorf(path, "empty metadata key")
	}
	return parseField(path+"."+k, k, x)
}

type parseFunc func(path string, v any, depth int) (*node, error)

func parseLogical(path, name string, v any, depth int, sub parseFunc) (*node, error) {
	list, ok := asList(v)
	if !ok {
		return nil, errorf(path, "%s expects a non-empty list, got %s", name, typeName(v))
	}
	if len(list) == 0 {
		return nil, errorf(path, "%s expects a non-empty list", name)
	}
	n := &node{op: opAnd}
	if name == "$or" {
		n.op = opOr
	}
	for i, e := range list {
		kid, err := sub(fmt.Sprintf("%s[%d]", path, i), e, depth+1)
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, kid)
	}
	return n, nil
}

var fieldOps = map[string]op{
	"$eq": opEq, "$ne": opNe, "$gt": opGt, "$gte": opGte, "$lt": opLt, "$lte": opLte,
	"$in": opIn, "$nin": opNin, "$contains": opContains, "$not_contains": opNotContains,
}

// parseField parses the condition on one metadata key.
func parseField(path, key string, v any) (*node, error) {
	if _, isObj := v.(map[string]any); !isObj {
		val, err := toValue(path, "$eq", v)
		if err != nil {
			return nil, err
		}
		return &node{op: opEq, key: key, val: val}, nil
	}
	name, x, err := single(path, v)
	if err != nil {
		return nil, err
	}
	o, ok := fieldOps[name]
	if !ok {
		if name == "$regex" || name == "$not_regex" {
			return nil, errorf(path, "%s is only supported on #document", name)
		}
		return nil, errorf(path, "unknown operator %s", name)
	}
	n := &node{op: o, key: key}
	switch o {
	case opGt, opGte, opLt, opLte:
		f, ok := toNumber(x)
		if !ok {
			if isNumberType(x) {
				return nil, errorf(path, "%s expects a finite number, got %v", name, x)
			}
			return nil, errorf(path, "%s expects a number, got %s", name, typeName(x))
		}
		n.val = value{k: kNumber, f: f}
	case opIn, opNin:
		list, ok := asList(x)
		if !ok {
			return nil, errorf(path, "%s expects a non-empty list, got %s", name, typeName(x))
		}
		if len(list) == 0 {
			return nil, errorf(path, "%s expects a non-empty list", name)
		}
		for i, e := range list {
			val, err := toValue(path, fmt.Sprintf("%s element %d:", name, i), e)
			if err != nil {
				return nil, err
			}
			if i > 0 && val.k != n.vals[0].k {
				return nil, errorf(path, "%s expects a list of one type: element %d is a %s, element 0 is a %s",
					name, i, val.k, n.vals[0].k)
			}
			n.vals = append(n.vals, val)
		}
	default:
		n.val, err = toValue(path, name, x)
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// parseDocField parses {"#document": {op: operand}} inside where.
func parseDocField(path string, v any) (*node, error) {
	if _, isObj := v.(map[string]any); !isObj {
		return nil, errorf(path, "#document expects an operator object ($contains, $not_contains, $regex, $not_regex), got %s", typeName(v))
	}
	name, x, err := single(path, v)
	if err != nil {
		return nil, err
	}
	n, err := docOp(name, x)
	if err != nil {
		if errors.Is(err, errUnknownOp) {
			return nil, errorf(path, "unknown operator %s for #document", name)
		}
		return nil, errorf(path+"."+name, "%s", err.Error())
	}
	return n, nil
}

var errUnknownOp = errors.New("unknown operator")

// docOp builds a document node; its errors are messages without a path.
func docOp(name string, x any) (*node, error) {
	var o op
	switch name {
	case "$contains":
		o = opContains
	case "$not_contains":
		o = opNotContains
	case "$regex":
		o = opRegex
	case "$not_regex":
		o = opNotRegex
	default:
		return nil, errUnknownOp
	}
	s, ok := x.(string)
	if !ok {
		return nil, fmt.Errorf("expects a string, got %s", typeName(x))
	}
	if s == "" {
		// Every document contains "": the filter would select (or, negated,
		// drop) every record that has a document, which is never what a
		// caller means, and a delete would wipe them.
		switch o {
		case opContains:
			return nil, errors.New(`"" is an empty pattern, which matches every record with a document; give a non-empty substring`)
		case opNotContains:
			return nil, errors.New(`"" is an empty pattern, which matches every record with a document, so $not_contains "" keeps only the records without one; give a non-empty substring`)
		}
	}
	n := &node{op: o, doc: true, val: value{k: kString, s: s}}
	if o == opRegex || o == opNotRegex {
		re, err := regexp.Compile(s)
		if err != nil {
			msg := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				msg = se.Code.String()
			}
			return nil, fmt.Errorf("invalid regex %s: %s", strconv.Quote(s), msg)
		}
		n.re = re
	}
	return n, nil
}

func parseDocument(path string, v any, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errorf(path, "nested deeper than %d levels", maxDepth)
	}
	k, x, err := single(path, v)
	if err != nil {
		return nil, err
	}
	switch k {
	case "$and", "$or":
		return parseLogical(path+"."+k, k, x, depth, parseDocument)
	case "$matches", "$not_matches":
		return nil, errorf(path, "%s is not supported; use $regex / $not_regex", k)
	}
	n, err := docOp(k, x)
	if err != nil {
		if errors.Is(err, errUnknownOp) {
			return nil, errorf(path, "unknown operator %s", k)
		}
		return nil, errorf(path+"."+k, "%s", err.Error())
	}
	return n, nil
}

package filter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/stretchr/testify/require"
)

// obj decodes a JSON object the way the API layer does (UseNumber when
// number is true).
func obj(t testing.TB, s string, number bool) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if number {
		dec.UseNumber()
	}
	var m map[string]any
	require.NoError(t, dec.Decode(&m), s)
	return m
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		where, doc string
		want       string // String(); "" means nil filter
	}{
		{"", "", ""},
		{"{}", "{}", ""},
		{`{"color":"red"}`, "", `{"color":{"$eq":"red"}}`},
		{`{"n":3}`, "", `{"n":{"$eq":3}}`},
		{`{"n":2.5}`, "", `{"n":{"$eq":2.5}}`},
		{`{"ok":true}`, "", `{"ok":{"$eq":true}}`},
		{`{"color":{"$eq":"red"}}`, "", `{"color":{"$eq":"red"}}`},
		{`{"color":{"$ne":"red"}}`, "", `{"color":{"$ne":"red"}}`},
		{`{"ok":{"$ne":false}}`, "", `{"ok":{"$ne":false}}`},
		{`{"p":{"$gt":1}}`, "", `{"p":{"$gt":1}}`},
		{`{"p":{"$gte":1.5}}`, "", `{"p":{"$gte":1.5}}`},
		{`{"p":{"$lt":-1}}`, "", `{"p":{"$lt":-1}}`},
		{`{"p":{"$lte":1e3}}`, "", `{"p":{"$lte":1000}}`},
		{`{"p":{"$lte":-0}}`, "", `{"p":{"$lte":0}}`},
		{`{"c":{"$in":["a","b"]}}`, "", `{"c":{"$in":["a","b"]}}`},
		{`{"c":{"$in":[1,2.5]}}`, "", `{"c":{"$in":[1,2.5]}}`},
		{`{"c":{"$nin":[true]}}`, "", `{"c":{"$nin":[true]}}`},
		{`{"tags":{"$contains":"x"}}`, "", `{"tags":{"$contains":"x"}}`},
		{`{"tags":{"$not_contains":3}}`, "", `{"tags":{"$not_contains":3}}`},
		{`{"tags":{"$contains":false}}`, "", `{"tags":{"$contains":false}}`},
		{`{"tags":{"$contains":""}}`, "", `{"tags":{"$contains":""}}`}, // a list element may be "": not a document pattern
		{`{"#document":{"$contains":"foo"}}`, "", `{"#document":{"$contains":"foo"}}`},
		{`{"#document":{"$not_contains":"foo"}}`, "", `{"#document":{"$not_contains":"foo"}}`},
		{`{"#document":{"$regex":"^a.c$"}}`, "", `{"#document":{"$regex":"^a.c$"}}`},
		{`{"#document":{"$not_regex":"x+"}}`, "", `{"#document":{"$not_regex":"x+"}}`},
		{`{"$and":[{"a":1},{"b":{"$gt":2}}]}`, "", `{"$and":[{"a":{"$eq":1}},{"b":{"$gt":2}}]}`},
		{`{"$or":[{"color":"red"},{"price":{"$lt":10}}]}`, "", `{"$or":[{"color":{"$eq":"red"}},{"price":{"$lt":10}}]}`},
		{`{"$and":[{"a":1}]}`, "", `{"$and":[{"a":{"$eq":1}}]}`},
		{`{"$or":[{"$and":[{"a":1},{"b":"x"}]},{"c":true}]}`, "", `{"$or":[{"$and":[{"a":{"$eq":1}},{"b":{"$eq":"x"}}]},{"c":{"$eq":true}}]}`},
		{"", `{"$contains":"a"}`, `{"#document":{"$contains":"a"}}`},
		{"", `{"$not_contains":"a"}`, `{"#document":{"$not_contains":"a"}}`},
		{"", `{"$regex":"[a-z]+"}`, `{"#document":{"$regex":"[a-z]+"}}`},
		{"", `{"$not_regex":"b"}`, `{"#document":{"$not_regex":"b"}}`},
		{"", `{"$and":[{"$contains":"a"},{"$not_contains":"b"}]}`, `{"$and":[{"#document":{"$contains":"a"}},{"#document":{"$not_contains":"b"}}]}`},
		{"", `{"$or":[{"$contains":"a"},{"$regex":"b"}]}`, `{"$or":[{"#document":{"$contains":"a"}},{"#document":{"$regex":"b"}}]}`},
		{`{"a":"x"}`, `{"$contains":"y"}`, `{"$and":[{"a":{"$eq":"x"}},{"#document":{"$contains":"y"}}]}`},
		{`{"k\"q":"a\nb"}`, "", `{"k\"q":{"$eq":"a\nb"}}`},
	}
	for _, tt := range tests {
		for _, number := range []bool{false, true} {
			f, err := Parse(obj(t, tt.where, number), obj(t, tt.doc, number))
			require.NoError(t, err, "%s %s", tt.where, tt.doc)
			if tt.want == "" {
				require.Nil(t, f)
				require.Equal(t, "{}", f.String())
				continue
			}
			require.NotNil(t, f)
			require.Equal(t, tt.want, f.String())
			// The canonical form parses back to itself.
			g, err := Parse(obj(t, f.String(), number), nil)
			require.NoError(t, err)
			require.Equal(t, tt.want, g.String())
		}
	}
}

func TestParseGoValues(t *testing.T) {
	// Values built in Go rather than decoded from JSON.
	tests := []struct {
		where map[string]any
		want  string
	}{
		{map[string]any{"n": 3}, `{"n":{"$eq":3}}`},
		{map[string]any{"n": int64(-7)}, `{"n":{"$eq":-7}}`},
		{map[string]any{"n": uint8(7)}, `{"n":{"$eq":7}}`},
		{map[string]any{"n": float32(0.5)}, `{"n":{"$eq":0.5}}`},
		{map[string]any{"n": json.Number("12")}, `{"n":{"$eq":12}}`},
		{map[string]any{"n": map[string]any{"$gt": json.Number("1.25")}}, `{"n":{"$gt":1.25}}`},
		{map[string]any{"n": map[string]any{"$in": []int{1, 2}}}, `{"n":{"$in":[1,2]}}`},
		{map[string]any{"n": map[string]any{"$in": []float64{1.5}}}, `{"n":{"$in":[1.5]}}`},
		{map[string]any{"n": map[string]any{"$nin": []string{"a"}}}, `{"n":{"$nin":["a"]}}`},
		{map[string]any{"n": map[string]any{"$in": []any{json.Number("1"), 2.0}}}, `{"n":{"$in":[1,2]}}`},
		{map[string]any{"$and": []map[string]any{{"a": 1}, {"b": 2}}}, `{"$and":[{"a":{"$eq":1}},{"b":{"$eq":2}}]}`},
	}
	for _, tt := range tests {
		f, err := Parse(tt.where, nil)
		require.NoError(t, err, "%v", tt.where)
		require.Equal(t, tt.want, f.String())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		where, doc string
		want       string // exact Error()
	}{
		{`{"$and":[{"a":1},{"price":{"$gt":"5"}}]}`, "", `where.$and[1].price: $gt expects a number, got string`},
		{`{"color":{"$eqq":"red"}}`, "", `where.color: unknown operator $eqq`},
		{`{"$and":[]}`, "", `where.$and: $and expects a non-empty list`},
		{`{"$or":[]}`, "", `where.$or: $or expects a non-empty list`},
		{`{"$and":{"a":1}}`, "", `where.$and: $and expects a non-empty list, got object`},
		{"", `{"$regex":"("}`, `where_document.$regex: invalid regex "(": missing closing )`},
		{"", `{"$not_regex":"a**"}`, `where_document.$not_regex: invalid regex "a**": invalid nested repetition operator`},
		{`{"a":1,"b":2}`, "", `where: expected exactly one key, got 2`},
		{`{"a":{"$gt":1,"$lt":5}}`, "", `where.a: expected exactly one key, got 2`},
		{`{"a":{}}`, "", `where.a: expected exactly one key, got 0`},
		{`{"$or":[{"a":1},{}]}`, "", `where.$or[1]: expected exactly one key, got 0`},
		{`{"$or":[{"a":1},3]}`, "", `where.$or[1]: expected an object, got number`},
		{`{"$nor":[{"a":1}]}`, "", `where: unknown operator $nor`},
		{`{"$contains":"x"}`, "", `where: unknown operator $contains`},
		{`{"#doc":{"$contains":"x"}}`, "", `where: unknown key #doc (only #document may start with #)`},
		{`{"":1}`, "", `where: empty metadata key`},
		{`{"a":null}`, "", `where.a: $eq expects a string, number or bool, got null`},
		{`{"a":[1,2]}`, "", `where.a: $eq expects a string, number or bool, got list`},
		{`{"a":{"$eq":[1]}}`, "", `where.a: $eq expects a string, number or bool, got list`},
		{`{"a":{"$ne":{"x":1}}}`, "", `where.a: $ne expects a string, number or bool, got object`},
		{`{"a":{"$gte":true}}`, "", `where.a: $gte expects a number, got bool`},
		{`{"a":{"$lt":null}}`, "", `where.a: $lt expects a number, got null`},
		{`{"a":{"$lte":[1]}}`, "", `where.a: $lte expects a number, got list`},
		{`{"a":{"$in":[]}}`, "", `where.a: $in expects a non-empty list`},
		{`{"a":{"$nin":"x"}}`, "", `where.a: $nin expects a non-empty list, got string`},
		{`{"a":{"$in":["x",1]}}`, "", `where.a: $in expects a list of one type: element 1 is a number, element 0 is a string`},
		{`{"a":{"$in":[true,false,"x"]}}`, "", `where.a: $in expects a list of one type: element 2 is a string, element 0 is a bool`},
		{`{"a":{"$in":[null]}}`, "", `where.a: $in element 0: expects a string, number or bool, got null`},
		{`{"a":{"$contains":[1]}}`, "", `where.a: $contains expects a string, number or bool, got list`},
		{`{"a":{"$regex":"x"}}`, "", `where.a: $regex is only supported on #document`},
		{`{"a":{"$not_regex":"x"}}`, "", `where.a: $not_regex is only supported on #document`},
		{`{"a":{"eq":1}}`, "", `where.a: unknown operator eq`},
		{`{"#document":"x"}`, "", `where.#document: #document expects an operator object ($contains, $not_contains, $regex, $not_regex), got string`},
		{`{"#document":{"$eq":"x"}}`, "", `where.#document: unknown operator $eq for #document`},
		{`{"#document":{"$contains":3}}`, "", `where.#document.$contains: expects a string, got number`},
		{`{"#document":{"$regex":"("}}`, "", `where.#document.$regex: invalid regex "(": missing closing )`},
		{"", `{"$matches":"x"}`, `where_document: $matches is not supported; use $regex / $not_regex`},
		{"", `{"$not_matches":"x"}`, `where_document: $not_matches is not supported; use $regex / $not_regex`},
		{"", `{"$contains":"a","$regex":"b"}`, `where_document: expected exactly one key, got 2`},
		{"", `{"$contains":1}`, `where_document.$contains: expects a string, got number`},
		{"", `{"$eq":"x"}`, `where_document: unknown operator $eq`},
		{"", `{"color":"x"}`, `where_document: unknown operator color`},
		{"", `{"$and":[]}`, `where_document.$and: $and expects a non-empty list`},
		{"", `{"$or":[{"$contains":"a"},{"$matches":"b"}]}`, `where_document.$or[1]: $matches is not supported; use $regex / $not_regex`},
		{`{"a":1}`, `{"$regex":"["}`, `where_document.$regex: invalid regex "[": missing closing ]`},
		{"", `{"$contains":""}`, `where_document.$contains: "" is an empty pattern, which matches every record with a document; give a non-empty substring`},
		{"", `{"$not_contains":""}`, `where_document.$not_contains: "" is an empty pattern, which matches every record with a document, so $not_contains "" keeps only the records without one; give a non-empty substring`},
		{"", `{"$or":[{"$contains":"a"},{"$contains":""}]}`, `where_document.$or[1].$contains: "" is an empty pattern, which matches every record with a document; give a non-empty substring`},
		{`{"#document":{"$contains":""}}`, "", `where.#document.$contains: "" is an empty pattern, which matches every record with a document; give a non-empty substring`},
		{`{"$and":[{"a":1},{"#document":{"$not_contains":""}}]}`, "", `where.$and[1].#document.$not_contains: "" is an empty pattern, which matches every record with a document, so $not_contains "" keeps only the records without one; give a non-empty substring`},
	}
	for _, tt := range tests {
		for _, number := range []bool{false, true} {
			f, err := Parse(obj(t, tt.where, number), obj(t, tt.doc, number))
			require.Nil(t, f)
			require.Error(t, err, "%s %s", tt.where, tt.doc)
			require.Equal(t, tt.want, err.Error())
			require.ErrorIs(t, err, errs.ErrInvalidFilter)
			var fe *Error
			require.True(t, errors.As(err, &fe))
			require.Equal(t, tt.want, fe.Path+": "+fe.Msg)
		}
	}
}

func TestParseBadNumbers(t *testing.T) {
	for _, w := range []map[string]any{
		{"a": json.Number("nope")},
		{"a": json.Number("1e999")},
		{"a": map[string]any{"$gt": json.Number("x")}},
		{"a": map[string]any{"$in": []any{1.0, json.Number("1e999")}}},
	} {
		_, err := Parse(w, nil)
		require.ErrorIs(t, err, errs.ErrInvalidFilter, "%v", w)
		require.Contains(t, err.Error(), "finite number")
	}
	// NaN as a float64 (not possible from JSON).
	nan := 0.0
	nan /= nan
	_, err := Parse(map[string]any{"a": nan}, nil)
	require.ErrorIs(t, err, errs.ErrInvalidFilter)
}

func TestParseDepth(t *testing.T) {
	var w any = map[string]any{"a": 1}
	for range maxDepth + 2 {
		w = map[string]any{"$and": []any{w}}
	}
	_, err := Parse(w.(map[string]any), nil)
	require.ErrorIs(t, err, errs.ErrInvalidFilter)
	require.Contains(t, err.Error(), "nested deeper")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"$and":[{"a":{"$gt":1}},{"b":{"$in":["x","y"]}}]}`, `{"#document":{"$regex":"a(b"}}`,
		`{"$or":[{"t":{"$contains":true}},{"t":{"$nin":[1,2.5]}}]}`, `{"$contains":"abc"}`, `{"$not_regex":"^x"}`,
	} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, where, doc string) {
		for _, number := range []bool{false, true} {
			w := decodeLoose(where, number)
			d := decodeLoose(doc, number)
			flt, err := Parse(w, d)
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) || !errors.Is(err, errs.ErrInvalidFilter) {
					t.Fatalf("error %v is not an *Error", err)
				}
				continue
			}
			s := flt.String()
			if s == "" {
				t.Fatal("empty String")
			}
			if flt == nil {
				continue
			}
			// The canonical form reparses to itself.
			g, err := Parse(decodeLoose(s, number), nil)
			if err != nil {
				t.Fatalf("String %s does not reparse: %v", s, err)
			}
			if g.String() != s {
				t.Fatalf("String not canonical: %s vs %s", s, g.String())
			}
			// The binary form decodes to the same filter.
			bf, err := DecodeBinary(flt.AppendBinary(nil))
			if err != nil {
				t.Fatalf("binary form of %s does not decode: %v", s, err)
			}
			if bf.String() != s {
				t.Fatalf("binary round trip: %s vs %s", s, bf.String())
			}
			flt.Match(nil, nil)
			flt.Match(map[string]any{"a": int64(1), "b": "x", "t": []bool{true}}, &s)
		}
	})
}

func decodeLoose(s string, number bool) map[string]any {
	dec := json.NewDecoder(strings.NewReader(s))
	if number {
		dec.UseNumber()
	}
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

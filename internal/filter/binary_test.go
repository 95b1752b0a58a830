package filter

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBinaryRoundTrip(t *testing.T) {
	for _, tc := range []struct{ where, doc string }{
		{`{"color":"red"}`, ""},
		{`{"n":{"$gte":-2.5}}`, ""},
		{`{"ok":{"$ne":false}}`, ""},
		{`{"c":{"$in":[1,2.5]}}`, ""},
		{`{"c":{"$nin":["a","b"]}}`, ""},
		{`{"tags":{"$contains":3}}`, ""},
		{`{"$and":[{"a":1},{"$or":[{"b":{"$lt":2}},{"c":true}]}]}`, `{"$contains":"x"}`},
		{"", `{"$or":[{"$regex":"^a.c$"},{"$not_regex":"x+"},{"$not_contains":"z"}]}`},
	} {
		f, err := Parse(obj(t, tc.where, true), obj(t, tc.doc, true))
		require.NoError(t, err)
		b := f.AppendBinary(nil)
		g, err := DecodeBinary(b)
		require.NoError(t, err, f.String())
		require.Equal(t, f.String(), g.String())
		require.Equal(t, b, g.AppendBinary(nil))
		// Every truncation is refused, never a panic or a shorter filter.
		for i := range b {
			_, err := DecodeBinary(b[:i])
			require.True(t, errors.Is(err, ErrCorruptFilter), "%s cut at %d: %v", f.String(), i, err)
		}
	}
}

func FuzzDecodeBinary(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"$and":[{"a":{"$gt":1}},{"b":{"$in":["x","y"]}}]}`, `{"#document":{"$regex":"a+b"}}`} {
		flt, err := Parse(decodeLoose(s, true), nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(flt.AppendBinary(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := DecodeBinary(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptFilter) {
				t.Fatalf("error %v is not ErrCorruptFilter", err)
			}
			return
		}
		s := flt.String()
		g, err := DecodeBinary(flt.AppendBinary(nil))
		if err != nil || g.String() != s {
			t.Fatalf("re-encoding %s: %v", s, err)
		}
		flt.Match(nil, nil)
		flt.Match(map[string]any{"a": int64(1), "b": "x", "t": []bool{true}}, &s)
	})
}

package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vecio"
)

// selectivityRange is the range of the synthetic "u" key: --selectivity P
// filters on u < round(P × selectivityRange).
const selectivityRange = 1_000_000

// benchFilter is the metadata and filter of a filtered run.
type benchFilter struct {
	metas []payload.Map  // per base row; nil without --meta / --selectivity
	where map[string]any // nil without a filter
	f     *filter.Filter // compiled where; nil without one
	rows  []int32        // base rows matching f (ascending); only with a filter
}

// loadBenchFilter reads --meta and --where, or generates --selectivity's
// synthetic metadata and where clause, for the n rows of base.
func loadBenchFilter(fl *benchFlags, base *vecio.Matrix[float32]) (*benchFilter, error) {
	bf := &benchFilter{}
	var err error
	switch {
	case fl.selectivitySet:
		bf.metas = syntheticMeta(base, fl.seed)
		bf.where = map[string]any{"u": map[string]any{"$lt": int64(math.Round(fl.selectivity * selectivityRange))}}
	default:
		if fl.meta != "" {
			if bf.metas, err = readMetaFile(fl.meta, base.Len()); err != nil {
				return nil, err
			}
		}
		if fl.where != "" {
			if bf.where, err = parseWhereFlag(fl.where); err != nil {
				return nil, err
			}
		}
	}
	if bf.where == nil {
		return bf, nil
	}
	if bf.f, err = filter.Parse(bf.where, nil); err != nil {
		return nil, fmt.Errorf("--where: %w", err)
	}
	if bf.f == nil { // e.g. an empty object: no filter
		bf.where = nil
		return bf, nil
	}
	bf.rows = make([]int32, 0, base.Len())
	for i := range base.Len() {
		var md payload.Map
		if bf.metas != nil {
			md = bf.metas[i]
		}
		if bf.f.Match(md, nil) {
			bf.rows = append(bf.rows, int32(i))
		}
	}
	return bf, nil
}

// syntheticMeta gives each base row {"u": uniform int in [0, 1e6) from a PCG
// seeded with seed, "side": "pos" or "neg" by the sign of its first
// component}.
func syntheticMeta(base *vecio.Matrix[float32], seed uint64) []payload.Map {
	r := rand.New(rand.NewPCG(seed, 0x5e7a47))
	metas := make([]payload.Map, base.Len())
	for i := range metas {
		side := "pos"
		if base.Row(i)[0] < 0 {
			side = "neg"
		}
		metas[i] = payload.Map{"u": int64(r.IntN(selectivityRange)), "side": side}
	}
	return metas
}

// parseWhereFlag decodes --where: one JSON object, numbers kept as
// json.Number (filter.Parse accepts them).
func parseWhereFlag(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("--where: invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("--where: invalid JSON: data after the object")
	}
	w, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("--where: want a JSON object, got %s", s)
	}
	return w, nil
}

// readMetaFile reads a JSON-lines file of one metadata object per base row.
func readMetaFile(path string, n int) ([]payload.Map, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--meta: %w", err)
	}
	defer fh.Close()
	metas, err := readMeta(fh, n)
	if err != nil {
		return nil, fmt.Errorf("--meta %s: %w", path, err)
	}
	return metas, nil
}

// readMeta reads n metadata lines: line i (1-based) is base row i-1. Integers
// become int64, other numbers float64; `{}` and `null` mean no metadata.
func readMeta(r io.Reader, n int) ([]payload.Map, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	metas := make([]payload.Map, 0, n)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		eof := err == io.EOF
		b = bytes.TrimSpace(b)
		if eof && len(b) == 0 {
			break
		}
		if len(metas) == n {
			return nil, fmt.Errorf("line %d: more metadata lines than the %d base vectors", line, n)
		}
		md, err := decodeMetaLine(b)
		if err != nil {
			return nil, fmt.Errorf("line %d (base row %d): %w", line, line-1, err)
		}
		metas = append(metas, md)
		if eof {
			break
		}
	}
	if len(metas) < n {
		return nil, fmt.Errorf("%d metadata lines for %d base vectors (line %d, for base row %d, is missing)",
			len(metas), n, len(metas)+1, len(metas))
	}
	return metas, nil
}

func decodeMetaLine(b []byte) (payload.Map, error) {
	if len(b) == 0 {
		return nil, errors.New("empty line, want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the object")
	}
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", b)
	}
	for k, x := range obj {
		cv, err := jsonNumbers(x)
		if err != nil {
			return nil, fmt.Errorf("metadata key %q: %w", k, err)
		}
		obj[k] = cv
	}
	md, err := payload.Normalize(obj)
	if err != nil {
		return nil, err
	}
	return md, nil
}

// jsonNumbers converts json.Number (also inside lists) to int64 when it is
// an integer that fits, else float64.
func jsonNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return f, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := jsonNumbers(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return v, nil
}

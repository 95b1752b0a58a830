package engine

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vec"
)

// rewrite regenerates the expected outputs of the golden tests:
//
//	go test ./internal/engine -run TestGolden -rewrite
//
// Review the diff before committing it.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the golden tests in testdata/")

// The golden test of the shard state machine (testdata/apply.txt), in the
// style of etcd raft's interaction tests: each case is a directive, its
// input and, after "----", the expected output.
//
//	apply <kind> [rules=<n>]
//	                 the input lines are the command's records as JSON
//	                 (puts: {"id","vector","meta","doc"}; updates add
//	                 "delete_keys" and "set_doc"; delete: {"ids","where",
//	                 "where_document"}); logs it with input rules version
//	                 n (default: the current) and prints the Result
//	record           prints the last logged record in hex, header apart
//	state            prints every record in insertion order
//	replay           encodes every command applied so far as WAL records,
//	                 applies them to a fresh shard and prints its state
//	                 (it must equal the live one)
//	reset <metric>   starts a fresh shard (cosine, l2 or ip)
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runGolden(t, file) })
	}
}

type goldenCase struct {
	directive string
	input     []string
	output    string
}

func parseGolden(t *testing.T, text string) []goldenCase {
	var cases []goldenCase
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := goldenCase{directive: l}
		i++
		for ; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		require.Less(t, i, len(lines), "case %q has no ----", l)
		var out []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		c.output = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases
}

func runGolden(t *testing.T, file string) {
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	cases := parseGolden(t, string(text))
	s := newShard(Config{Metric: vec.L2})
	var log [][]byte
	var index uint64
	var out bytes.Buffer
	for _, c := range cases {
		got := strings.TrimRight(runDirective(t, c, &s, &log, &index), "\n")
		if !*rewrite {
			require.Equal(t, c.output, got, "%s: %s", file, c.directive)
		}
		out.WriteString(c.directive + "\n")
		for _, l := range c.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n" + got + "\n\n")
	}
	if *rewrite {
		// Keep the leading comment block.
		var lead []string
		for _, l := range strings.Split(string(text), "\n") {
			if !strings.HasPrefix(l, "#") {
				break
			}
			lead = append(lead, l)
		}
		res := strings.Join(lead, "\n")
		if res != "" {
			res += "\n\n"
		}
		require.NoError(t, os.WriteFile(file, []byte(res+strings.TrimRight(out.String(), "\n")+"\n"), 0o644))
	}
}

func runDirective(t *testing.T, c goldenCase, s **shard, log *[][]byte, index *uint64) string {
	f := strings.Fields(c.directive)
	switch f[0] {
	case "reset":
		metric, err := vec.ParseMetric(f[1])
		require.NoError(t, err)
		*s = newShard(Config{Metric: metric})
		*log, *index = nil, 0
		return "ok"
	case "state":
		return dumpShard(*s)
	case "record":
		require.NotEmpty(t, *log)
		b := (*log)[len(*log)-1]
		rec, err := decodeRecord(b)
		require.NoError(t, err)
		body := appendCommandBody(nil, rec.cmd)[cmdHeaderRoom:]
		return fmt.Sprintf("header % x\ncommand % x\nrules %d", b[:len(b)-len(body)], body, rec.cmd.Rules)
	case "replay":
		r := newShard((*s).cfg)
		for _, b := range *log {
			rec, err := decodeRecord(b)
			require.NoError(t, err)
			r.Apply(rec.index, rec.cmd)
		}
		return dumpShard(r)
	case "apply":
		kind := CommandKind(0)
		for k := CmdAdd; k < cmdKinds; k++ {
			if k.String() == f[1] {
				kind = k
			}
		}
		require.NotZero(t, kind, "unknown command %q", f[1])
		cmd := goldenCommand(t, kind, c.input)
		for _, arg := range f[2:] {
			_, err := fmt.Sscanf(arg, "rules=%d", &cmd.Rules)
			require.NoError(t, err, "argument %q", arg)
		}
		*index++
		*log = append(*log, putRecordHeader(appendCommandBody(nil, cmd), *index, 0))
		res := (*s).Apply(*index, cmd)
		if res.Err != nil {
			return fmt.Sprintf("index %d refused: %v", res.Index, res.Err)
		}
		return fmt.Sprintf("index %d changed %d", res.Index, res.Changed)
	}
	t.Fatalf("unknown directive %q", c.directive)
	return ""
}

type goldenRecord struct {
	ID            string          `json:"id"`
	Vector        []float32       `json:"vector"`
	Meta          map[string]any  `json:"meta"`
	Doc           *string         `json:"doc"`
	DeleteKeys    []string        `json:"delete_keys"`
	SetDoc        bool            `json:"set_doc"`
	IDs           json.RawMessage `json:"ids"`
	Where         map[string]any  `json:"where"`
	WhereDocument map[string]any  `json:"where_document"`
}

func goldenCommand(t *testing.T, kind CommandKind, input []string) *Command {
	cmd := &Command{Kind: kind}
	for _, l := range input {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var r goldenRecord
		require.NoError(t, dec.Decode(&r), l)
		for k, v := range r.Meta {
			r.Meta[k] = goldenNumber(v)
		}
		meta, err := payload.Normalize(r.Meta)
		require.NoError(t, err, l)
		switch {
		case kind.puts():
			cmd.Puts = append(cmd.Puts, Put{ID: r.ID, Vector: r.Vector, Meta: meta, Doc: r.Doc})
		case kind.updates():
			cmd.Updates = append(cmd.Updates, Update{ID: r.ID, Vector: r.Vector, Meta: meta, Doc: r.Doc,
				SetDoc: r.SetDoc, DeleteKeys: r.DeleteKeys})
		default:
			if len(r.IDs) > 0 {
				require.NoError(t, json.Unmarshal(r.IDs, &cmd.IDs), l)
				if cmd.IDs == nil {
					cmd.IDs = []string{}
				}
			}
			cmd.Filter, err = filter.Parse(r.Where, r.WhereDocument)
			require.NoError(t, err, l)
		}
	}
	return cmd
}

// dumpShard prints a shard's records in insertion order.
func dumpShard(s *shard) string {
	st := &s.mu.state
	var b strings.Builder
	fmt.Fprintf(&b, "records %d dim %d applied %d\n", len(st.ids), st.dim, s.applied)
	for _, e := range st.order {
		if !st.valid(e) {
			continue
		}
		r := &st.recs[e.slot]
		v := st.vectors.At(e.slot)
		if s.cfg.Metric == vec.Cosine {
			w := make([]float32, len(v))
			for i := range v {
				w[i] = v[i] * r.norm
			}
			v = w
		}
		meta, _ := json.Marshal(r.meta)
		doc := "-"
		if r.doc != nil {
			doc = fmt.Sprintf("%q", *r.doc)
		}
		fmt.Fprintf(&b, "%s seq=%d vec=%v meta=%s doc=%s\n", r.id, r.seq, fmtVec(v), meta, doc)
	}
	return b.String()
}

func fmtVec(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// goldenNumber turns the json.Numbers of a decoded metadata value into int64
// (integers) or float64, as the API layer does.
func goldenNumber(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = goldenNumber(x[i])
		}
	}
	return v
}

package catalog

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

// TestApplyGolden runs testdata/apply.txt: blocks of one directive, a
// "----" line and the expected output, separated by blank lines. A command
// directive (create-tenant name=t, set-config id=c1 ef=5, …) is applied at
// the next index and prints its result; "state" prints the state. With
// -rewrite the expected outputs are regenerated; review the diff.
func TestApplyGolden(t *testing.T) {
	const file = "testdata/apply.txt"
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	s := New()
	var out strings.Builder
	for _, block := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
		input, want, ok := strings.Cut(block, "\n----\n")
		if !ok {
			input, want, _ = strings.Cut(block, "\n----")
		}
		lines := strings.Split(input, "\n") // comments, then the directive
		directive := lines[len(lines)-1]
		got := runDirective(t, s, directive)
		require.NoError(t, s.Check(), directive)
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", input, got)
		if !*rewrite {
			require.Equal(t, strings.TrimSpace(want), got, "%s: %s", file, directive)
		}
	}
	if *rewrite {
		require.NoError(t, os.WriteFile(file, []byte(strings.TrimSpace(out.String())+"\n"), 0o644))
	}
}

func runDirective(t *testing.T, s *State, line string) string {
	t.Helper()
	f := strings.Fields(line)
	args := map[string]string{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, "argument %q of %q is not key=value", kv, line)
		args[k] = v
	}
	num := func(k string) int {
		n, err := strconv.Atoi(args[k])
		require.NoError(t, err, "%s in %q", k, line)
		return n
	}
	var cmd Command
	switch f[0] {
	case "state":
		return dumpState(s)
	case "create-tenant":
		cmd = &CreateTenant{Name: args["name"]}
	case "create-database":
		cmd = &CreateDatabase{Tenant: args["tenant"], Name: args["name"], ID: args["id"]}
	case "delete-database":
		cmd = &DeleteDatabase{Tenant: args["tenant"], Name: args["name"]}
	case "create-collection":
		cmd = &CreateCollection{Collection: row(args["id"], args["name"], args["tenant"], args["database"])}
	case "drop-collection":
		cmd = &DropCollection{ID: args["id"]}
	case "rename-collection":
		cmd = &RenameCollection{ID: args["id"], Name: args["name"]}
	case "set-config":
		c := &SetConfig{ID: args["id"]}
		if _, ok := args["name"]; ok {
			c.Set |= SetName
			c.Name = args["name"]
		}
		if _, ok := args["ef"]; ok {
			c.Set |= SetEfSearch
			c.EfSearch = num("ef")
		}
		if _, ok := args["model"]; ok {
			c.Set |= SetModel
			c.EmbeddingModel = args["model"]
		}
		cmd = c
	default:
		t.Fatalf("unknown directive %q", line)
	}
	res := s.Apply(s.Applied()+1, cmd)
	// The command survives its codec unchanged.
	dec, err := DecodeCommand(AppendCommand(nil, cmd))
	require.NoError(t, err)
	require.Equal(t, cmd, dec)
	switch {
	case res.Err != nil:
		return fmt.Sprintf("index %d: error: %v", res.Index, res.Err)
	case len(res.Dropped) > 0:
		return fmt.Sprintf("index %d: ok, dropped %s", res.Index, strings.Join(res.Dropped, " "))
	}
	return fmt.Sprintf("index %d: ok", res.Index)
}

func dumpState(s *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "applied %d", s.Applied())
	for _, t := range s.Tenants() {
		fmt.Fprintf(&b, "\ntenant %s", t)
		for _, d := range s.Databases(t) {
			fmt.Fprintf(&b, "\n  database %s (%s)", d.Name, d.ID)
			for _, c := range s.Collections(t, d.Name) {
				fmt.Fprintf(&b, "\n    collection %s (%s) ef_search=%d", c.Name, c.ID, c.EfSearch)
				if c.EmbeddingModel != "" {
					fmt.Fprintf(&b, " model=%s", c.EmbeddingModel)
				}
			}
		}
	}
	return b.String()
}

package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// apiDirs are the API packages whose routes openapi.json must list.
var apiDirs = []string{"../api/chroma", "../api/admin"}

var patternRE = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /`)

// apiPatterns returns the ServeMux patterns the API packages register.
func apiPatterns(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, d := range apiDirs {
		out = append(out, dirPatterns(t, d)...)
	}
	return out
}

// dirPatterns returns the ServeMux patterns one API package registers: every
// constant string expression (literals, package constants and + of them) in
// its non-test sources that reads like a pattern with a method. The mux
// keeps no list of its patterns, so the source is the record.
func dirPatterns(t *testing.T, chromaDir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chromaDir, "*.go"))
	require.NoError(t, err)
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		parsed = append(parsed, af)
	}
	// Package-level string constants, evaluated until no more resolve.
	consts := map[string]string{}
	var specs []*ast.ValueSpec
	for _, af := range parsed {
		for _, d := range af.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				for _, sp := range gd.Specs {
					specs = append(specs, sp.(*ast.ValueSpec))
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, sp := range specs {
			for i, name := range sp.Names {
				if _, done := consts[name.Name]; done || i >= len(sp.Values) {
					continue
				}
				if v, ok := evalString(sp.Values[i], consts); ok {
					consts[name.Name] = v
					changed = true
				}
			}
		}
	}
	var out []string
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			if v, ok := evalString(e, consts); ok && patternRE.MatchString(v) {
				out = append(out, v)
				return false // not its sub-expressions
			}
			return true
		})
	}
	require.NotEmpty(t, out, "no route patterns found in %s", chromaDir)
	return out
}

// evalString evaluates a constant string expression.
func evalString(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	case *ast.ParenExpr:
		return evalString(e.X, consts)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := evalString(e.X, consts)
		b, ok2 := evalString(e.Y, consts)
		return a + b, ok1 && ok2
	}
	return "", false
}

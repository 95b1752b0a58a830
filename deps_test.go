package sextant

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependencyRules enforces the layering of DESIGN.md: the index, vector
// and filter packages know nothing of storage, the API or the server; the
// storage packages know nothing of the indexes; only the engine joins them;
// the catalog state machine is pure;
// library code never imports testutil.
func TestDependencyRules(t *testing.T) {
	const mod = "github.com/sextantdb/sextant/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").Output()
	require.NoError(t, err)
	// The API packages reach the engine only through package sextant: their
	// direct imports from this module are the root package alone.
	direct, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./internal/api/...").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(direct)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, mod) {
				t.Errorf("%s imports %s; API packages import only package sextant", f[0], imp)
			}
		}
	}
	rules := []struct {
		pkgPrefix string
		forbidden []string
	}{
		{"internal/index/", []string{"internal/storage/", "internal/api/", "internal/server/", "internal/engine", "internal/cli"}},
		{"internal/vec", []string{"internal/storage/", "internal/index/", "internal/engine", "internal/api/"}},
		{"internal/filter", []string{"internal/storage/", "internal/api/", "internal/server/", "internal/engine"}},
		{"internal/storage/", []string{"internal/index/", "internal/engine", "internal/api/", "internal/server/"}},
		// The catalog state machine is pure: no storage, and nothing above it.
		{"internal/catalog", []string{"internal/storage/", "internal/index/", "internal/engine", "internal/api/", "internal/server/", "internal/cli"}},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		for _, dep := range f[1:] {
			if !strings.HasPrefix(dep, mod) {
				continue
			}
			d := strings.TrimPrefix(dep, mod)
			if d == "internal/testutil" {
				t.Errorf("%s imports internal/testutil, which is for tests only", pkg)
			}
			for _, r := range rules {
				if !strings.HasPrefix(pkg, r.pkgPrefix) {
					continue
				}
				for _, bad := range r.forbidden {
					if strings.HasPrefix(d, bad) {
						t.Errorf("%s must not depend on %s (it does, via %s)", pkg, bad, d)
					}
				}
			}
		}
		checked++
	}
	require.Greater(t, checked, 10)
}

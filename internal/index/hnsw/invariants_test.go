package hnsw

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/invariants"
	"github.com/sextantdb/sextant/internal/vec"
)

// TestRepairChecksUnderInvariants checks that, with invariants compiled in
// (the invariants and race tags), Repair runs the graph checker and panics
// with a BUG on a graph it leaves broken: here a self-edge on a list that
// Repair has no reason to touch.
func TestRepairChecksUnderInvariants(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs -tags invariants (or -race)")
	}
	rows := randomRows(200, 8, 3)
	s := vec.NewSlab(8)
	g := New(Config{M: 6, EfConstruction: 40, Metric: vec.Cosine, Seed: 1}, s)
	insertAll(g, s, seq(len(rows)), rows, 1)
	require.NoError(t, g.Check())
	const dead = 7
	require.True(t, g.Delete(dead))
	g.mu.Lock()
	broken := -1
	for slot := uint32(0); slot < uint32(len(rows)); slot++ {
		l := g.list(slot, 0)
		n := l[0]
		if slot == dead || int(n) >= g.capOf(0) || slices.Contains(l[1:1+n], dead) {
			continue
		}
		l[1+n] = slot
		l[0] = n + 1
		broken = int(slot)
		break
	}
	g.mu.Unlock()
	require.GreaterOrEqual(t, broken, 0, "a list with room and no edge to the deleted node")

	var msg string
	func() {
		defer func() { msg = fmt.Sprint(recover()) }()
		g.Repair()
	}()
	require.Contains(t, msg, "BUG: hnsw: graph broken after Repair")
	require.Contains(t, msg, fmt.Sprintf("slot %d layer 0: edge to itself", broken))
}

//go:build race

package invariants

// Race is true when the race detector is compiled in.
const Race = true

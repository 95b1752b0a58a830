//go:build invariants || race

package invariants

// Enabled is true when expensive invariant checks should run.
const Enabled = true

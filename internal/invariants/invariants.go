// Package invariants says whether expensive self-checks are compiled in:
// Enabled is true under the invariants and race build tags, and Race under
// the race tag (where, for example, sync.Pool drops items at random, so
// allocation counts are not meaningful).
package invariants

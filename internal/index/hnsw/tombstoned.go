package hnsw

// Tombstoned reports whether slot is a deleted node that Repair has not yet
// removed: it is not returned by Search, and its slot is not free yet.
func (g *Graph) Tombstoned(slot uint32) bool {
	return g.stateOf(slot)&(statePresent|stateDeleted) == statePresent|stateDeleted
}

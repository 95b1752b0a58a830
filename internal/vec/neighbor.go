package vec

// Neighbor is one search result: a slot and its distance to the query.
type Neighbor struct {
	Slot uint32
	Dist float32
}

// Less orders neighbors by distance, then by slot, so that equal distances
// have a stable order.
func (n Neighbor) Less(o Neighbor) bool {
	if n.Dist != o.Dist {
		return n.Dist < o.Dist
	}
	return n.Slot < o.Slot
}

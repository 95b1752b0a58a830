package flat

import "github.com/sextantdb/sextant/internal/vec"

// The heap is a plain []vec.Neighbor ordered as a max-heap by vec.Neighbor.Less
// (distance, then slot): h[0] is the worst of the k best, the one a better
// candidate replaces. Typed functions, not container/heap, so nothing is boxed.

// offer adds n to the bounded max-heap h of at most k elements and returns h.
// It appends while len(h) < k, so it allocates only when cap(h) < k.
func offer(h []vec.Neighbor, k int, n vec.Neighbor) []vec.Neighbor {
	if len(h) < k {
		h = append(h, n)
		siftUp(h, len(h)-1)
		return h
	}
	if n.Less(h[0]) {
		h[0] = n
		siftDown(h, 0)
	}
	return h
}

func siftUp(h []vec.Neighbor, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[p].Less(h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func siftDown(h []vec.Neighbor, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h[c].Less(h[r]) {
			c = r
		}
		if !h[i].Less(h[c]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// sortHeap turns the max-heap h into ascending order in place (heapsort's
// second half): the worst goes to the end, then the heap shrinks by one.
func sortHeap(h []vec.Neighbor) {
	for end := len(h) - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(h[:end], 0)
	}
}

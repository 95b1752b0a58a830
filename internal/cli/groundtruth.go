package cli

import (
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/vec"
	"github.com/sextantdb/sextant/internal/vecio"
)

// exactKNN returns, for each query, the ids (base rows) of its k nearest
// base vectors, nearest first, equal distances by smaller id: the rule of
// the shared data sets' ground truth. Cosine normalizes copies of both sides.
// It uses workers goroutines.
func exactKNN(base, queries *vecio.Matrix[float32], m vec.Metric, k, workers int) *vecio.Matrix[int32] {
	return exactKNNRows(base, queries, m, k, workers, nil)
}

// exactKNNRows is exactKNN over the base rows listed in rows (ascending; nil:
// all rows): the exact filtered ground truth. Each result row holds
// min(k, candidates) ids.
func exactKNNRows(base, queries *vecio.Matrix[float32], m vec.Metric, k, workers int, rows []int32) *vecio.Matrix[int32] {
	if m == vec.Cosine {
		base, queries = normalized(base), normalized(queries)
	}
	dist := m.Distance
	nb, nq := base.Len(), queries.Len()
	if rows != nil {
		nb = len(rows)
	}
	k = min(k, nb)
	if k == 0 {
		return &vecio.Matrix[int32]{Dim: 0}
	}
	out := &vecio.Matrix[int32]{Dim: k, Data: make([]int32, nq*k)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			top := make([]vec.Neighbor, 0, k+1)
			for {
				qi := int(next.Add(1) - 1)
				if qi >= nq {
					return
				}
				q := queries.Row(qi)
				top = top[:0]
				for i := range nb {
					bi := i
					if rows != nil {
						bi = int(rows[i])
					}
					n := vec.Neighbor{Slot: uint32(bi), Dist: dist(q, base.Row(bi))}
					if len(top) == k && !n.Less(top[k-1]) {
						continue
					}
					// Insert in order; top stays sorted, at most k long.
					j := len(top)
					if j < k {
						top = append(top, n)
					}
					for j > 0 && n.Less(top[j-1]) {
						if j < k {
							top[j] = top[j-1]
						}
						j--
					}
					top[j] = n
				}
				row := out.Row(qi)
				for i, n := range top {
					row[i] = int32(n.Slot)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func normalized(m *vecio.Matrix[float32]) *vecio.Matrix[float32] {
	out := &vecio.Matrix[float32]{Dim: m.Dim, Data: make([]float32, len(m.Data))}
	for i := range m.Len() {
		vec.Normalize(out.Row(i), m.Row(i))
	}
	return out
}

package engine

import (
	"fmt"
	"math"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/index/flat"
	"github.com/sextantdb/sextant/internal/index/hnsw"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/vec"
)

// Include selects the fields a read returns.
type Include struct {
	Vectors, Metadatas, Documents bool
}

// Hit is one record of a read.
type Hit struct {
	ID     string
	Dist   float32
	Vector []float32 // as given on write, within float32 rounding
	Meta   payload.Map
	Doc    *string
}

// Plan says how a query was executed.
type Plan struct {
	Kind                 string // "exact" or "hnsw"
	Ef                   int
	Candidates           int // records the plan could return
	DistanceComputations int
	Fallback             bool // HNSW returned fewer than k; exact search took over
}

// SearchRequest is one nearest-neighbour query.
type SearchRequest struct {
	Vector  []float32
	K       int
	Ef      int // 0: the collection's ef_search
	Include Include
}

// PrepareQuery validates a query vector and returns it ready for search
// (normalized under cosine).
func (c *Collection) PrepareQuery(i int, q []float32) ([]float32, error) {
	c.mu.RLock()
	dim := c.mu.dim
	c.mu.RUnlock()
	if len(q) == 0 {
		return nil, fmt.Errorf("%w: query %d is empty", errs.ErrInvalidVector, i)
	}
	if dim != 0 && len(q) != dim {
		return nil, fmt.Errorf("%w: query %d has dimension %d, collection expects %d", errDimensionMismatch, i, len(q), dim)
	}
	if j := vec.CheckFinite(q); j >= 0 {
		return nil, fmt.Errorf("%w: query %d: value [%d] is %v; values must be finite", errInvalidVector, i, j, q[j])
	}
	if c.cfg.Metric != vec.Cosine {
		return q, nil
	}
	out := make([]float32, len(q))
	if n := vec.Normalize(out, q); n == 0 || math.IsInf(n, 0) {
		return nil, fmt.Errorf("%w: query %d is the zero vector, which has no direction under cosine", errInvalidVector, i)
	}
	return out, nil
}

// Search returns the K nearest live records to a prepared query vector
// (see PrepareQuery). It never returns fewer than min(K, Count()) records.
func (c *Collection) Search(req SearchRequest) ([]Hit, Plan, error) {
	if req.K < 0 {
		return nil, Plan{}, fmt.Errorf("%w: k must be >= 0, got %d", errInvalidArgument, req.K)
	}
	ef := req.Ef
	if ef <= 0 {
		ef = int(c.efSearch.Load())
	}
	if ef < req.K {
		ef = req.K
	}
	bufp, _ := c.pool.Get().(*[]vec.Neighbor)
	if bufp == nil {
		bufp = new([]vec.Neighbor)
	}
	defer c.pool.Put(bufp)

	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &c.mu.state
	live := int(st.live.GetCardinality())
	k := min(req.K, live)
	plan := Plan{Kind: "exact", Candidates: live}
	if k == 0 {
		return nil, plan, nil
	}
	if len(req.Vector) != st.dim {
		return nil, plan, fmt.Errorf("%w: query has dimension %d, collection expects %d", errDimensionMismatch, len(req.Vector), st.dim)
	}
	res := (*bufp)[:0]
	if st.graph != nil && live >= c.cfg.ExactThreshold/2 {
		var stats hnsw.SearchStats
		res, stats = st.graph.Search(req.Vector, k, ef, nil, res)
		plan = Plan{Kind: "hnsw", Ef: ef, Candidates: live, DistanceComputations: stats.DistanceComputations}
		if len(res) < k {
			plan.Fallback = true
			res = c.exactLocked(req.Vector, k, res)
			plan.DistanceComputations += live
		}
	} else {
		res = c.exactLocked(req.Vector, k, res)
		plan.DistanceComputations = live
	}
	*bufp = res
	hits := make([]Hit, len(res))
	for i, n := range res {
		hits[i] = c.hitLocked(n.Slot, req.Include)
		hits[i].Dist = n.Dist
	}
	return hits, plan, nil
}

// exactLocked searches every live record.
// REQUIRES: mu held (shared).
func (c *Collection) exactLocked(q []float32, k int, dst []vec.Neighbor) []vec.Neighbor {
	st := &c.mu.state
	return flat.Search(st.vectors, c.cfg.Metric, q, k, func(yield func(uint32) bool) {
		it := st.live.Iterator()
		for it.HasNext() {
			if !yield(it.Next()) {
				return
			}
		}
	}, dst)
}

// hitLocked builds the Hit of a live slot.
// REQUIRES: mu held (shared).
func (c *Collection) hitLocked(slot uint32, inc Include) Hit {
	st := &c.mu.state
	r := &st.recs[slot]
	h := Hit{ID: r.id}
	if inc.Vectors {
		v := st.vectors.At(slot)
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = x * r.norm
		}
		h.Vector = out
	}
	if inc.Metadatas {
		h.Meta = r.meta
	}
	if inc.Documents {
		h.Doc = r.doc
	}
	return h
}

// GetRequest reads records by id or in insertion order.
type GetRequest struct {
	IDs     []string // when set: these records, in this order; missing ids are skipped
	Limit   int      // 0: no limit
	Offset  int
	Include Include
}

// Get returns records by id, or all records in insertion order with
// limit/offset paging.
func (c *Collection) Get(req GetRequest) ([]Hit, error) {
	if req.Limit < 0 || req.Offset < 0 {
		return nil, fmt.Errorf("%w: limit and offset must be >= 0", errInvalidArgument)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &c.mu.state
	var out []Hit
	if req.IDs != nil {
		skipped := 0
		seen := make(map[string]bool, len(req.IDs))
		for _, id := range req.IDs {
			slot, ok := st.ids[id]
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			if skipped < req.Offset {
				skipped++
				continue
			}
			if req.Limit > 0 && len(out) >= req.Limit {
				break
			}
			out = append(out, c.hitLocked(slot, req.Include))
		}
		return out, nil
	}
	skipped := 0
	for _, e := range st.order {
		if !st.valid(e) {
			continue
		}
		if skipped < req.Offset {
			skipped++
			continue
		}
		if req.Limit > 0 && len(out) >= req.Limit {
			break
		}
		out = append(out, c.hitLocked(e.slot, req.Include))
	}
	return out, nil
}

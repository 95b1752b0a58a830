package engine

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
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
	Kind                 string // PlanExact, PlanHNSW, PlanHNSWFiltered or PlanTwoHop
	Ef                   int
	Matches              int // live records the query could return (matching the filter)
	Live                 int // live records in the collection
	DistanceComputations int
	Fallback             bool   // the traversal returned fewer than k; exact search over the matches took over
	Filter               string // the filter, canonical form; empty without one
}

// Plan kinds.
const (
	PlanExact        = "exact"         // brute force over the (matching) records
	PlanHNSW         = "hnsw"          // HNSW, no filter
	PlanHNSWFiltered = "hnsw-filtered" // HNSW traversal with an allow-list
	PlanTwoHop       = "hnsw-2hop"     // ACORN-style traversal over matching nodes, 2-hop expansion
)

// SearchRequest is one nearest-neighbour query.
type SearchRequest struct {
	Vector  []float32 // prepared by PrepareQuery
	Raw     []float32 // the query as the caller gave it (drift detection); nil: Vector
	K       int
	Ef      int // 0: the collection's ef_search
	Filter  *filter.Filter
	IDs     []string // when non-nil: only these records may be returned
	Include Include
	// ForcePlan makes the planner use this plan (tests of each plan's
	// contract). Empty: the planner chooses.
	ForcePlan string
	// Hits, when it has room, receives the results (appended to Hits[:0])
	// so that a caller can reuse one buffer across queries.
	Hits []Hit
}

// searchBuf is the pooled working memory of one Search.
type searchBuf struct {
	res   []vec.Neighbor
	dists []float32
	allow bitset   // the allow-list of a filtered traversal, empty between queries
	iter  []uint32 // scratch of the bitmap iteration that fills allow
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

// Planner constants, in units of one sequential distance computation of
// exact search. An HNSW traversal costs about ef × 2M random-access
// computations, divided by the match fraction p when non-matching nodes are
// traversed but not returned (allow-list). The 2-hop traversal computes
// distances only to matching nodes (about 0.6 × ef × 2M on wordnet-use512),
// but its neighbour-of-neighbour expansion makes each one cost ~8 sequential
// ones: measured on wordnet-use512 at 10% selectivity, ef 40, 2,400
// computations took 2.5 ms while exact search over 5,024 matches took 0.7 ms
// (sextant bench --selectivity 0.1).
const (
	exactFloor      = 2048 // always exact below this many matches
	twoHopOverhead  = 8    // 2-hop cost ≈ twoHopOverhead × ef × 2M
	allowListMinSel = 0.3  // allow-list traversal at or above this match fraction
)

// choosePlan picks the plan for a query matching m of live records.
func (c *Collection) choosePlan(m, live, ef int, filtered bool) string {
	if c.mu.graph == nil || 2*int(c.mu.pending.GetCardinality()) > live {
		return PlanExact // no graph, or most records are not in it yet
	}
	if !filtered || m == live {
		// Unfiltered: the collection's threshold decides (with hysteresis,
		// so a collection shrinking a little below it keeps its index).
		if live < c.cfg.ExactThreshold/2 {
			return PlanExact
		}
		return PlanHNSW
	}
	if m <= exactFloor {
		return PlanExact
	}
	p := float64(m) / float64(live)
	hop := float64(twoHopOverhead * ef * 2 * c.cfg.M)
	allow := float64(ef*2*c.cfg.M) / p
	switch {
	case float64(m) <= min(hop, allow):
		return PlanExact
	case p >= allowListMinSel:
		return PlanHNSWFiltered
	}
	return PlanTwoHop
}

// Search returns the K nearest live records matching req.Filter to a
// prepared query vector (see PrepareQuery). Whenever at least K live records
// match, exactly K are returned, every one of them matching.
//
// ctx is checked before the search and inside its long parts (every
// cancelCheck candidates of an exact scan or of a filtered traversal's
// allow-list tests); a search it cancels returns an error wrapping
// ctx.Err().
func (c *Collection) Search(ctx context.Context, req SearchRequest) ([]Hit, Plan, error) {
	if req.K < 0 {
		return nil, Plan{}, fmt.Errorf("%w: k must be >= 0, got %d", errInvalidArgument, req.K)
	}
	if err := ctx.Err(); err != nil {
		return nil, Plan{}, fmt.Errorf("search: %w", err)
	}
	start := time.Now()
	ef := req.Ef
	if ef <= 0 {
		ef = c.effectiveEf()
	}
	if ef < req.K {
		ef = req.K
	}
	buf, _ := c.pool.Get().(*searchBuf)
	if buf == nil {
		buf = new(searchBuf)
	}
	defer c.pool.Put(buf)

	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &c.mu.state
	live := int(st.live.GetCardinality())
	plan := Plan{Kind: PlanExact, Live: live, Matches: live}
	matches := st.live
	if req.Filter != nil {
		plan.Filter = req.Filter.String()
		matches = st.pidx.Eval(req.Filter, st.live, c.lookupLocked)
	}
	if req.IDs != nil {
		allowed := roaring.New()
		for _, id := range req.IDs {
			if slot, ok := st.ids[id]; ok {
				allowed.Add(slot)
			}
		}
		matches = roaring.And(matches, allowed)
	}
	filtered := req.Filter != nil || req.IDs != nil
	plan.Matches = int(matches.GetCardinality())
	k := min(req.K, plan.Matches)
	if k == 0 {
		return nil, plan, nil
	}
	if len(req.Vector) != st.dim {
		return nil, plan, fmt.Errorf("%w: query has dimension %d, collection expects %d", errDimensionMismatch, len(req.Vector), st.dim)
	}
	plan.Kind = req.ForcePlan
	if plan.Kind == "" || st.graph == nil {
		plan.Kind = c.choosePlan(plan.Matches, live, ef, filtered)
	}
	res := buf.res[:0]
	var stats hnsw.SearchStats
	var err error
	switch plan.Kind {
	case PlanHNSW:
		res, stats = st.graph.Search(req.Vector, k, ef, nil, res)
	case PlanHNSWFiltered, PlanTwoHop:
		allow := &buf.allow
		buf.iter = allow.fill(ctx, matches, st.nextSlot, buf.iter)
		if plan.Kind == PlanTwoHop {
			res, stats = st.graph.SearchTwoHop(req.Vector, k, ef, allow, res)
		} else {
			res, stats = st.graph.Search(req.Vector, k, ef, allow, res)
		}
		cancelled := allow.cancelled()
		allow.reset()
		if cancelled {
			buf.res = res[:0]
			return nil, plan, fmt.Errorf("search: %w", ctx.Err())
		}
	default:
		plan.Kind = PlanExact
		res, err = c.exactLocked(ctx, req.Vector, k, matches, res)
		stats.DistanceComputations = plan.Matches
	}
	if plan.Kind != PlanExact && err == nil {
		plan.Ef = ef
		var tail int
		res, tail, err = c.withPendingLocked(ctx, req.Vector, k, matches, filtered, res)
		stats.DistanceComputations += tail
		if err == nil && len(res) < k {
			plan.Fallback = true
			res, err = c.exactLocked(ctx, req.Vector, k, matches, res)
			stats.DistanceComputations += plan.Matches
		}
	}
	buf.res = res
	if err != nil {
		return nil, plan, err
	}
	plan.DistanceComputations = stats.DistanceComputations
	hits := req.Hits[:0]
	if cap(hits) < len(res) {
		hits = make([]Hit, 0, len(res))
	}
	dists := buf.dists[:0]
	for _, n := range res {
		h := c.hitLocked(n.Slot, req.Include)
		h.Dist = n.Dist
		hits = append(hits, h)
		dists = append(dists, n.Dist)
	}
	buf.dists = dists
	c.observeQuery(&req, plan, k, res, dists, start)
	return hits, plan, nil
}

// observeQuery runs the recall guardrails' per-query hooks: it samples
// graph queries that use the collection's effective ef for exact re-runs,
// and watches queries, returned distances and query times.
// REQUIRES: mu held (shared).
func (c *Collection) observeQuery(req *SearchRequest, plan Plan, k int, res []vec.Neighbor, dists []float32, start time.Time) {
	if plan.Kind != PlanExact && !plan.Fallback && req.Ef <= 0 && req.IDs == nil {
		c.offerSample(req.Vector, k, req.Filter, res)
	}
	raw := req.Raw
	if raw == nil {
		raw = req.Vector
	}
	if v := c.mon.drift.ObserveQuery(raw); !v.Empty() {
		c.judge(v, c.mon.opts.Clock(), nil)
	}
	if v := c.mon.drift.ObserveResultDistances(dists, c.cfg.Metric, req.Filter == nil && req.IDs == nil); !v.Empty() {
		c.judge(v, c.mon.opts.Clock(), nil)
	}
	c.mon.observeQueryTime(plan.Kind, time.Since(start))
}

// withPendingLocked completes the graph's results res with the pending
// slots (written, not yet linked by the indexer) among matches (nil
// filtered: every live record), searched exactly, and returns the best k of
// both, each slot once, with the number of distances it computed (or ctx's
// error, when it is cancelled during the scan). It also
// drops a node of a record deleted while the indexer linked it.
// REQUIRES: mu held (shared).
func (c *Collection) withPendingLocked(ctx context.Context, q []float32, k int, matches *roaring.Bitmap, filtered bool, res []vec.Neighbor) ([]vec.Neighbor, int, error) {
	st := &c.mu.state
	if st.pending.IsEmpty() && st.inflight.IsEmpty() {
		return res, 0, nil // the graph holds live records only
	}
	tail := st.pending
	if filtered {
		tail = roaring.And(tail, matches)
	}
	n := int(tail.GetCardinality())
	res = slices.DeleteFunc(res, func(nb vec.Neighbor) bool { return !st.live.Contains(nb.Slot) || tail.Contains(nb.Slot) })
	if n == 0 {
		return res, 0, nil
	}
	more, err := c.exactLocked(ctx, q, k, tail, nil)
	if err != nil {
		return res[:0], n, err
	}
	res = append(res, more...)
	slices.SortFunc(res, func(a, b vec.Neighbor) int { return cmp.Compare(a.Dist, b.Dist) })
	return res[:min(k, len(res))], n, nil
}

// lookupLocked returns a live slot's metadata and document, for filter scans.
// REQUIRES: mu held.
func (s *shard) lookupLocked(slot uint32) (payload.Map, *string) {
	r := &s.mu.recs[slot]
	return r.meta, r.doc
}

// exactLocked searches the slots of set exactly. It checks ctx every
// cancelCheck slots and returns an error wrapping ctx.Err() when it is done.
// REQUIRES: mu held (shared).
func (c *Collection) exactLocked(ctx context.Context, q []float32, k int, set *roaring.Bitmap, dst []vec.Neighbor) ([]vec.Neighbor, error) {
	st := &c.mu.state
	var err error
	res := flat.Search(st.vectors, c.cfg.Metric, q, k, func(yield func(uint32) bool) {
		it := set.Iterator()
		for n := 1; it.HasNext(); n++ {
			if n%cancelCheck == 0 {
				if err = ctx.Err(); err != nil {
					return
				}
			}
			if !yield(it.Next()) {
				return
			}
		}
	}, dst)
	if err != nil {
		return res[:0], fmt.Errorf("exact search: %w", err)
	}
	return res, nil
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
		if c.cfg.Metric == vec.Cosine {
			for i, x := range v {
				out[i] = x * r.norm
			}
		} else {
			copy(out, v)
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
	Filter  *filter.Filter
	Limit   int // 0: no limit
	Offset  int
	Include Include
}

// Get returns records by id, or all records in insertion order with
// limit/offset paging. ctx is checked before the read and every
// cancelCheck records of the walk in insertion order; a read it cancels
// returns an error wrapping ctx.Err().
func (c *Collection) Get(ctx context.Context, req GetRequest) ([]Hit, error) {
	if req.Limit < 0 || req.Offset < 0 {
		return nil, fmt.Errorf("%w: limit and offset must be >= 0", errInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &c.mu.state
	var matches *roaring.Bitmap
	if req.Filter != nil {
		matches = st.pidx.Eval(req.Filter, st.live, c.lookupLocked)
	}
	var out []Hit
	if req.IDs != nil {
		skipped := 0
		seen := make(map[string]bool, len(req.IDs))
		for _, id := range req.IDs {
			slot, ok := st.ids[id]
			if !ok || seen[id] || matches != nil && !matches.Contains(slot) {
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
	for i, e := range st.order {
		if (i+1)%cancelCheck == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("get: %w", err)
			}
		}
		if !st.valid(e) || matches != nil && !matches.Contains(e.slot) {
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

package hnsw

import (
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

// SearchTwoHop returns up to k nearest live nodes that pass filter, like
// Search with a filter, but it keeps the graph navigable when most nodes are
// filtered out: it computes distances only to nodes that pass the filter, and
// when it expands a node, a neighbour that fails the filter is not scored but
// its own neighbours are considered (2-hop expansion, as in ACORN-1, Patel et
// al. 2024), up to the list capacity of candidates per expansion. Safe for
// concurrent use.
//
// The upper layers are descended greedily without the filter, as Search
// does. On layer 0 the search starts from the node the descent found when it
// passes the filter; otherwise that node is a skipped node to explore from.
// A skipped node (failing the filter, its list read for the 2-hop expansion)
// is kept with the distance of the node that led to it, and explored in turn
// (its own 2-hop expansion: 3 hops from the scored node):
//   - at once, best first among the candidates, when it came from a scored
//     node whose expansion did not fill its capacity (matches are sparse
//     there; this is what keeps recall at 1-5% selectivity);
//   - otherwise only when the search of the matches runs dry with fewer than
//     ef results, so that a start far from every match still reaches the
//     matches, without a distance to any node that fails the filter.
//
// A nil filter makes it Search. Results, ordering, the handling of ef and k
// and the steady-state zero allocation are as for Search.
func (g *Graph) SearchTwoHop(q []float32, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats) {
	if len(q) != g.space.Dim() {
		return dst[:0], SearchStats{}
	}
	if filter == nil {
		return g.search(q, nil, k, ef, nil, dst)
	}
	return g.twoHop(q, nil, k, ef, filter, dst)
}

// SearchTwoHopWith is SearchTwoHop with a scorer the caller prepared for its
// query, as SearchWith.
func (g *Graph) SearchTwoHopWith(sc score.Scorer, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats) {
	if filter == nil {
		return g.search(nil, sc, k, ef, nil, dst)
	}
	return g.twoHop(nil, sc, k, ef, filter, dst)
}

// twoHop is SearchTwoHop with a filter, with the query in q (scored by the
// scratch's scorer) when sc is nil.
func (g *Graph) twoHop(q []float32, sc score.Scorer, k, ef int, filter Filter, dst []vec.Neighbor) ([]vec.Neighbor, SearchStats) {
	dst = dst[:0]
	var st SearchStats
	if k <= 0 {
		return dst, st
	}
	ef = max(ef, k)
	g.mu.RLock()
	defer g.mu.RUnlock()
	s := g.scratchs.get(g.capacity())
	defer g.scratchs.put(s)
	if sc == nil {
		sc = s.sc
		sc.SetQuery(q)
	}
	cur, ok := g.descend(s, sc, &st)
	if !ok {
		return dst, st
	}
	g.searchTwoHop(s, sc, cur, k, ef, filter, &st)
	return smallest(s.res, k, dst), st
}

// searchTwoHop is the layer-0 part of SearchTwoHop, from ep (its distance known),
// leaving up to ef results in s.res.
//
// Visited marks a node either scored (it passes the filter) or skipped (it
// fails and its list has been looked through for matches). A failing node
// seen at distance 2 is not marked: its list has not been read, and another
// expansion may reach it as a direct neighbour. s.front holds the skipped
// nodes to explore at once, s.deep those for when the matches run dry.
func (g *Graph) searchTwoHop(s *scratch, sc score.Scorer, ep vec.Neighbor, k, ef int, filter Filter, st *SearchStats) {
	lower := float32(maxFloat)
	s.visit(ep.Slot)
	st.Visited++
	if filter.Contains(ep.Slot) {
		s.cand = pushMin(s.cand, ep)
		if g.stateOf(ep.Slot)&stateDeleted == 0 {
			s.res = pushMax(s.res, ep)
			lower = ep.Dist
		}
	} else {
		s.deep = pushMin(s.deep, ep)
	}
	for {
		var c vec.Neighbor
		skipped := false // c is a skipped node
		switch {
		case len(s.cand) > 0 && (len(s.front) == 0 || s.cand[0].Dist <= s.front[0].Dist):
			if s.cand[0].Dist > lower && len(s.res) >= ef {
				return
			}
			s.cand, c = popMin(s.cand)
		case len(s.front) > 0 && (len(s.res) < ef || s.front[0].Dist <= lower):
			s.front, c = popMin(s.front)
			skipped = true
		case len(s.cand) > 0:
			if s.cand[0].Dist > lower && len(s.res) >= ef {
				return
			}
			s.cand, c = popMin(s.cand)
		case len(s.deep) > 0 && len(s.res) < ef && (len(s.res) < k || s.deep[0].Dist <= lower):
			s.deep, c = popMin(s.deep)
			skipped = true
		default:
			return
		}
		g.expandTwoHop(s, c, skipped, filter, st)
		hop := s.hop
		sc.Score(hop)
		st.DistanceComputations += len(hop)
		for _, x := range hop {
			if len(s.res) < ef || x.Dist < lower {
				s.cand = pushMin(s.cand, x)
				if g.stateOf(x.Slot)&stateDeleted == 0 {
					if len(s.res) < ef {
						s.res = pushMax(s.res, x)
					} else {
						replaceMax(s.res, x)
					}
					lower = s.res[0].Dist
				}
			}
		}
	}
}

// expandTwoHop sets s.hop to the unvisited neighbours of c that pass filter
// and then, while there is room (the layer-0 cap), the unvisited neighbours
// that pass of c's neighbours that fail it, marking them visited. Each failing
// neighbour whose list it reads is marked visited and pushed with c's
// distance on s.front, or on s.deep when c is itself a skipped node
// (fromSkipped) or the expansion filled its capacity.
func (g *Graph) expandTwoHop(s *scratch, c vec.Neighbor, fromSkipped bool, filter Filter, st *SearchStats) {
	hop, skip := s.hop[:0], s.skip[:0]
	l := g.list(c.Slot, 0)
	n := min(int(atomic.LoadUint32(&l[0])), len(l)-1)
	for i := 1; i <= n; i++ {
		nb := atomic.LoadUint32(&l[i])
		if int(nb) < len(s.visited) && s.visited[nb] == s.epoch {
			continue // scored, or skipped before
		}
		if filter.Contains(nb) {
			s.visit(nb)
			st.Visited++
			hop = append(hop, vec.Neighbor{Slot: nb})
		} else {
			skip = append(skip, nb)
		}
	}
	// The failing neighbours' lists are read next, each a cache miss on a
	// graph larger than the cache: start loading them all now.
	if len(hop) < g.m0 {
		for _, nb := range skip {
			vec.PrefetchUint32(g.list0(nb), 2)
		}
	}
	nskip := 0 // skip[:nskip]: the failing neighbours whose lists were read
	for _, nb := range skip {
		if len(hop) >= g.m0 {
			break
		}
		if !s.visit(nb) {
			continue // a duplicate seen mid-update
		}
		st.Visited++
		skip[nskip] = nb
		nskip++
		l2 := g.list(nb, 0)
		n2 := min(int(atomic.LoadUint32(&l2[0])), len(l2)-1)
		for j := 1; j <= n2 && len(hop) < g.m0; j++ {
			nb2 := atomic.LoadUint32(&l2[j])
			if int(nb2) < len(s.visited) && s.visited[nb2] == s.epoch {
				continue
			}
			if filter.Contains(nb2) {
				s.visit(nb2)
				st.Visited++
				hop = append(hop, vec.Neighbor{Slot: nb2})
			}
		}
	}
	// Skipped nodes of an expansion from a skipped node, or of one that
	// filled its capacity (matches are dense here), wait for the fallback.
	deep := fromSkipped || len(hop) >= g.m0
	for _, nb := range skip[:nskip] {
		x := vec.Neighbor{Slot: nb, Dist: c.Dist}
		if deep {
			s.deep = pushMin(s.deep, x)
		} else {
			s.front = pushMin(s.front, x)
		}
	}
	s.hop, s.skip = hop, skip
}

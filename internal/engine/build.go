package engine

import (
	"time"

	"github.com/sextantdb/sextant/internal/index/hnsw"
)

func (c *Collection) hnswConfig() hnsw.Config {
	return hnsw.Config{M: c.cfg.M, EfConstruction: c.cfg.EfConstruction, Metric: c.cfg.Metric, Seed: c.opts.Seed}
}

// maybeStartBuild starts the background HNSW build once the collection has
// reached the exact-search threshold.
func (c *Collection) maybeStartBuild() {
	c.mu.RLock()
	need := c.mu.graph == nil && c.mu.building == nil && int(c.mu.live.GetCardinality()) >= c.cfg.ExactThreshold
	c.mu.RUnlock()
	if !need {
		return
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	st := &c.mu.state
	if st.graph != nil || st.building != nil || int(st.live.GetCardinality()) < c.cfg.ExactThreshold || c.closed.Load() {
		c.mu.Unlock()
		return
	}
	g := hnsw.New(c.hnswConfig(), st.vectors)
	st.building = g
	slots := st.live.ToArray()
	c.mu.Unlock()
	c.buildWG.Add(1)
	go c.build(g, slots)
}

// build inserts the snapshot slots into g, then swaps it in. Writers insert
// their new slots into g concurrently; slots deleted meanwhile are deleted
// from g at the swap, and no slot is reused until then.
func (c *Collection) build(g *hnsw.Graph, slots []uint32) {
	defer c.buildWG.Done()
	c.log.Info("building HNSW index", "records", len(slots))
	start := time.Now()
	defer func() {
		c.mon.mu.Lock()
		c.mon.mu.build = time.Since(start)
		c.mon.mu.Unlock()
	}()
	const chunk = 256
	for i := 0; i < len(slots); i += chunk {
		select {
		case <-c.closing:
			return
		default:
		}
		c.insertGraph(g, slots[i:min(i+chunk, len(slots))], false)
	}
	// Nodes left with fewer than two in-edges get edges from their nearest
	// nodes (writers may insert meanwhile), then, with writers held,
	// anything cut off is relinked and g starts serving.
	g.Reinforce(c.opts.Workers)
	c.writeMu.Lock()
	// Writers inserted into g concurrently with the builder: relink any
	// node that was cut off, before g serves queries.
	g.Reconnect()
	c.mu.Lock()
	st := &c.mu.state
	for _, s := range st.buildDeleted {
		g.Delete(s)
	}
	st.buildDeleted = nil
	st.graph = g
	st.building = nil
	c.mu.Unlock()
	c.writeMu.Unlock()
	c.log.Info("HNSW index built", "records", g.Len())
}

// WaitIndexed blocks until a background build in progress has finished.
// Used by tests and benchmarks.
func (c *Collection) WaitIndexed() {
	c.buildWG.Wait()
}

package sextant

import (
	"fmt"
	"strconv"

	"github.com/sextantdb/sextant/internal/vec"
)

// Metric is a collection's distance function, with Chroma's definitions.
type Metric string

const (
	// Cosine distance is 1 − cos(a, b). Vectors are normalized on write
	// and on query.
	Cosine Metric = "cosine"
	// L2 distance is the squared Euclidean distance (Chroma's "l2").
	L2 Metric = "l2"
	// IP distance is 1 − dot(a, b).
	IP Metric = "ip"
)

// Defaults of CollectionConfig.
const (
	DefaultMetric         = L2 // Chroma's default space
	DefaultM              = 16
	DefaultEfConstruction = 100
	DefaultEfSearch       = 100
	DefaultRecallTarget   = 0.95
)

// CollectionConfig is a collection's configuration. Zero fields take the
// defaults. Dimension, Metric, M, EfConstruction and EmbeddingModel are fixed
// at creation; EfSearch may be changed later.
type CollectionConfig struct {
	Dimension      int    // 0: fixed by the first write
	Metric         Metric // cosine, l2 or ip; default l2 as in Chroma
	M              int    // HNSW neighbours per node; default 16
	EfConstruction int    // default 100
	EfSearch       int    // default 100
	// EmbeddingModel pins the model that produced the vectors (name and
	// version), so a client on another model version is noticed.
	EmbeddingModel string
	// ExactThreshold overrides Options.ExactThreshold for this collection.
	ExactThreshold int
	// RecallTarget is the recall@k the collection holds (default 0.95): the
	// recall monitor reports the collection degraded below it, and the ef
	// autopilot moves the effective ef_search to hold it.
	RecallTarget float64
	// ManualEf turns the ef autopilot off: ef_search stays as set, and the
	// monitor only reports.
	ManualEf bool
	// UnindexedKeys lists metadata keys that get no payload index (every
	// other key is indexed). Filters on them still work, by scanning.
	UnindexedKeys []string
	// Metadata is the collection's own metadata. Chroma's legacy keys
	// hnsw:space, hnsw:M, hnsw:construction_ef and hnsw:search_ef set the
	// matching fields when those are zero.
	Metadata Metadata
}

// resolve fills defaults (reading Chroma's hnsw:* metadata keys first) and
// validates.
func (c CollectionConfig) resolve(dbThreshold int) (CollectionConfig, error) {
	if err := c.applyLegacyKeys(); err != nil {
		return c, err
	}
	if c.Metric == "" {
		c.Metric = DefaultMetric
	}
	if _, err := vec.ParseMetric(string(c.Metric)); err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	if c.M == 0 {
		c.M = DefaultM
	}
	if c.EfConstruction == 0 {
		c.EfConstruction = DefaultEfConstruction
	}
	if c.EfSearch == 0 {
		c.EfSearch = DefaultEfSearch
	}
	if c.ExactThreshold == 0 {
		c.ExactThreshold = dbThreshold
	}
	if c.RecallTarget == 0 {
		c.RecallTarget = DefaultRecallTarget
	}
	switch {
	case c.Dimension < 0 || c.Dimension > 65536:
		return c, fmt.Errorf("%w: dimension %d out of range [1, 65536]", ErrInvalidArgument, c.Dimension)
	case c.M < 2 || c.M > 256:
		return c, fmt.Errorf("%w: M %d out of range [2, 256]", ErrInvalidArgument, c.M)
	case c.EfConstruction < 1 || c.EfConstruction > 4096:
		return c, fmt.Errorf("%w: ef_construction %d out of range [1, 4096]", ErrInvalidArgument, c.EfConstruction)
	case c.EfSearch < 1 || c.EfSearch > 4096:
		return c, fmt.Errorf("%w: ef_search %d out of range [1, 4096]", ErrInvalidArgument, c.EfSearch)
	case c.RecallTarget <= 0 || c.RecallTarget > 1:
		return c, fmt.Errorf("%w: recall target %v outside (0, 1]", ErrInvalidArgument, c.RecallTarget)
	case c.ExactThreshold < 0:
		return c, fmt.Errorf("%w: exact threshold %d < 0", ErrInvalidArgument, c.ExactThreshold)
	}
	md, err := normalizeMeta(c.Metadata)
	if err != nil {
		return c, fmt.Errorf("%w: collection metadata: %v", ErrInvalidMetadata, err)
	}
	c.Metadata = md
	return c, nil
}

func (c *CollectionConfig) applyLegacyKeys() error {
	intKey := func(key string, dst *int) error {
		v, ok := c.Metadata[key]
		if !ok || *dst != 0 {
			return nil
		}
		switch n := v.(type) {
		case int:
			*dst = n
		case int64:
			*dst = int(n)
		case float64:
			if n != float64(int(n)) {
				return fmt.Errorf("%w: metadata %s = %v is not an integer", ErrInvalidArgument, key, v)
			}
			*dst = int(n)
		case string:
			i, err := strconv.Atoi(n)
			if err != nil {
				return fmt.Errorf("%w: metadata %s = %q is not an integer", ErrInvalidArgument, key, n)
			}
			*dst = i
		default:
			return fmt.Errorf("%w: metadata %s has type %T, want an integer", ErrInvalidArgument, key, v)
		}
		return nil
	}
	if v, ok := c.Metadata["hnsw:space"]; ok && c.Metric == "" {
		s, isStr := v.(string)
		if !isStr {
			return fmt.Errorf("%w: metadata hnsw:space has type %T, want a string", ErrInvalidArgument, v)
		}
		c.Metric = Metric(s)
	}
	if err := intKey("hnsw:M", &c.M); err != nil {
		return err
	}
	if err := intKey("hnsw:construction_ef", &c.EfConstruction); err != nil {
		return err
	}
	return intKey("hnsw:search_ef", &c.EfSearch)
}

// conflict reports how want (as given by a caller, unresolved) disagrees
// with the stored, resolved config; zero fields of want agree with anything.
func (c CollectionConfig) conflict(want CollectionConfig) error {
	w := want
	if err := w.applyLegacyKeys(); err != nil {
		return err
	}
	var diffs []string
	if w.Dimension != 0 && c.Dimension != 0 && w.Dimension != c.Dimension {
		diffs = append(diffs, fmt.Sprintf("dimension %d (stored %d)", w.Dimension, c.Dimension))
	}
	if w.Metric != "" && w.Metric != c.Metric {
		diffs = append(diffs, fmt.Sprintf("metric %s (stored %s)", w.Metric, c.Metric))
	}
	if w.M != 0 && w.M != c.M {
		diffs = append(diffs, fmt.Sprintf("M %d (stored %d)", w.M, c.M))
	}
	if w.EfConstruction != 0 && w.EfConstruction != c.EfConstruction {
		diffs = append(diffs, fmt.Sprintf("ef_construction %d (stored %d)", w.EfConstruction, c.EfConstruction))
	}
	if w.EmbeddingModel != "" && w.EmbeddingModel != c.EmbeddingModel {
		diffs = append(diffs, fmt.Sprintf("embedding model %q (stored %q)", w.EmbeddingModel, c.EmbeddingModel))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %v", ErrConfigConflict, diffs)
	}
	return nil
}

package sextant

import (
	"fmt"
	"math"

	"github.com/sextantdb/sextant/internal/payload"
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
	// EmbeddingModel pins the model that produced the vectors (name,
	// optional version, dimension): a request that declares another model
	// (WithEmbeddingModel, or the HTTP header x-sextant-embedding-model) is
	// refused with ErrModelMismatch. It may also be given as the metadata key
	// embedding_model ("NAME[@VERSION]") or through Chroma's
	// embedding_function configuration (its config.model_name); all that are
	// given must agree. Changing it is an explicit SetEmbeddingModel.
	EmbeddingModel ModelPin
	// EmbeddingFunction is Chroma's embedding_function configuration (JSON),
	// kept as given so that it is echoed back to Chroma clients.
	EmbeddingFunction string
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
	// hnsw:space (a string), hnsw:M, hnsw:construction_ef and
	// hnsw:search_ef (integers) set the matching fields when those are
	// zero; a value of another type, a numeric string included, is
	// ErrInvalidArgument.
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
	pin, err := c.wantPin()
	if err != nil {
		return c, err
	}
	if pin.Dimension != 0 {
		if c.Dimension != 0 && c.Dimension != pin.Dimension {
			return c, fmt.Errorf("%w: dimension %d, but the embedding model %q has dimension %d", ErrInvalidArgument, c.Dimension, pin.String(), pin.Dimension)
		}
		c.Dimension = pin.Dimension
	}
	c.EmbeddingModel = pin
	return c, nil
}

// wantPin is the pin a caller's config gives, from the Go field, the
// metadata key and Chroma's embedding function together.
func (c CollectionConfig) wantPin() (ModelPin, error) {
	if !c.EmbeddingModel.IsZero() {
		if err := c.EmbeddingModel.validate(); err != nil {
			return ModelPin{}, err
		}
	}
	fromMeta, err := pinFromMetadata(c.Metadata)
	if err != nil {
		return ModelPin{}, err
	}
	fromEF, err := PinFromEmbeddingFunction(c.EmbeddingFunction)
	if err != nil {
		return ModelPin{}, err
	}
	return resolvePin(fromEF, c.EmbeddingModel, fromMeta)
}

// Chroma's legacy collection metadata keys for the HNSW settings.
const (
	keySpace          = "hnsw:space"
	keyM              = "hnsw:M"
	keyConstructionEf = "hnsw:construction_ef"
	keySearchEf       = "hnsw:search_ef"
)

// legacyKeys are the settings Chroma's legacy metadata keys give; nil: the
// key is absent.
type legacyKeys struct {
	metric                      *Metric
	m, efConstruction, efSearch *int
}

// parseLegacyKeys reads hnsw:space, hnsw:M, hnsw:construction_ef and
// hnsw:search_ef from md, strictly: the space must be a string naming a
// metric, the others integers (a whole float such as 16.0 counts). Any other
// value is an ErrInvalidArgument naming the key, its type and what is
// expected; a string "16" is not taken for 16.
func parseLegacyKeys(md Metadata) (legacyKeys, error) {
	var l legacyKeys
	if v, ok := md[keySpace]; ok {
		s, isStr := v.(string)
		if !isStr {
			return l, fmt.Errorf("%w: collection metadata %s is %s, want a string: cosine, l2 or ip",
				ErrInvalidArgument, keySpace, describeValue(v))
		}
		if _, err := vec.ParseMetric(s); err != nil {
			return l, fmt.Errorf("%w: collection metadata %s: %v", ErrInvalidArgument, keySpace, err)
		}
		m := Metric(s)
		l.metric = &m
	}
	for _, k := range []struct {
		key string
		dst **int
	}{{keyM, &l.m}, {keyConstructionEf, &l.efConstruction}, {keySearchEf, &l.efSearch}} {
		v, ok := md[k.key]
		if !ok {
			continue
		}
		n, ok := wholeNumber(v)
		if !ok {
			return l, fmt.Errorf("%w: collection metadata %s is %s, want an integer", ErrInvalidArgument, k.key, describeValue(v))
		}
		*k.dst = &n
	}
	return l, nil
}

// wholeNumber returns v as an int when it is an integer, or a float with
// no fraction, that fits one.
func wholeNumber(v any) (int, bool) {
	nv, err := payload.NormalizeValue(v)
	if err != nil {
		return 0, false
	}
	switch n := nv.(type) {
	case int64:
		if int64(int(n)) == n {
			return int(n), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), true
		}
	}
	return 0, false
}

// describeValue names a metadata value's type, with the value, for messages:
// a string ("16"), a float (2.5), a bool (true), a list ([16]).
func describeValue(v any) string {
	nv, err := payload.NormalizeValue(v)
	if err != nil {
		return fmt.Sprintf("a %T (%v)", v, v)
	}
	switch x := nv.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", x)
	case bool:
		return fmt.Sprintf("a bool (%v)", x)
	case int64:
		return fmt.Sprintf("an integer (%d)", x)
	case float64:
		return fmt.Sprintf("a float (%v)", x)
	}
	return fmt.Sprintf("a list (%v)", nv)
}

// applyLegacyKeys fills the zero Metric, M, EfConstruction and EfSearch from
// Chroma's legacy metadata keys.
func (c *CollectionConfig) applyLegacyKeys() error {
	l, err := parseLegacyKeys(c.Metadata)
	if err != nil {
		return err
	}
	if l.metric != nil && c.Metric == "" {
		c.Metric = *l.metric
	}
	for _, f := range []struct {
		v   *int
		dst *int
	}{{l.m, &c.M}, {l.efConstruction, &c.EfConstruction}, {l.efSearch, &c.EfSearch}} {
		if f.v != nil && *f.dst == 0 {
			*f.dst = *f.v
		}
	}
	return nil
}

// legacyConflict (a pointer: it reads only the fields fixed at creation,
// safe without db.mu) checks the legacy keys of new metadata for an existing
// collection whose creation config is c: hnsw:space, hnsw:M and
// hnsw:construction_ef may only repeat the stored values, since the graph
// was built with them.
func (c *CollectionConfig) legacyConflict(l legacyKeys) error {
	const how = "it is fixed at creation and changes only through a re-index into a new collection"
	if l.metric != nil && *l.metric != c.Metric {
		return fmt.Errorf("%w: collection metadata %s is %q but the collection's metric is %q: %s",
			ErrConfigConflict, keySpace, *l.metric, c.Metric, how)
	}
	for _, f := range []struct {
		key, name string
		v         *int
		stored    int
	}{{keyM, "M", l.m, c.M}, {keyConstructionEf, "ef_construction", l.efConstruction, c.EfConstruction}} {
		if f.v != nil && *f.v != f.stored {
			return fmt.Errorf("%w: collection metadata %s is %d but the collection's %s is %d: %s",
				ErrConfigConflict, f.key, *f.v, f.name, f.stored, how)
		}
	}
	return nil
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
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %v", ErrConfigConflict, diffs)
	}
	return nil
}

package sextant

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/catalog"
	"github.com/sextantdb/sextant/internal/engine"
	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/monitor"
	"github.com/sextantdb/sextant/internal/payload"
)

// Metadata is a record's (or a collection's) metadata: string keys mapped to
// string, int, float, bool values or non-empty lists of one of those.
type Metadata = map[string]any

// MaxIDBytes is the longest record id, in bytes (4 KiB). A write with a
// longer id is refused with a *RecordError wrapping ErrInvalidArgument; a
// read or delete naming one is refused with ErrInvalidArgument, since no
// record can have it.
const MaxIDBytes = engine.MaxIDBytes

// checkIDs refuses ids given to a read or a delete that no record can have.
func checkIDs(ids []string) error {
	for i, id := range ids {
		if len(id) > MaxIDBytes {
			return fmt.Errorf("%w: ids[%d] is %d bytes long, over the limit of %d bytes (MaxIDBytes), so no record can have it",
				ErrInvalidArgument, i, len(id), MaxIDBytes)
		}
	}
	return nil
}

// Str returns a pointer to s, for Record.Document.
func Str(s string) *string { return &s }

// Record is a record to Add or Upsert.
type Record struct {
	ID        string
	Embedding []float32
	Metadata  Metadata
	Document  *string
}

// UpdateRecord changes parts of an existing record. A nil Embedding keeps
// the vector, a nil Document keeps the document; Metadata keys are merged
// into the record's metadata, and a key whose value is nil is removed.
type UpdateRecord struct {
	ID        string
	Embedding []float32
	Metadata  Metadata
	Document  *string
}

// Include selects what reads return. The zero value means Chroma's default:
// metadatas and documents (and distances for Query).
type Include uint8

const (
	IncludeEmbeddings Include = 1 << iota
	IncludeMetadatas
	IncludeDocuments
	IncludeDistances
	// IncludeNone returns ids only.
	IncludeNone
)

func (in Include) resolve(query bool) Include {
	if in == 0 {
		in = IncludeMetadatas | IncludeDocuments
		if query {
			in |= IncludeDistances
		}
	}
	return in
}

func (in Include) engine() engine.Include {
	return engine.Include{Vectors: in&IncludeEmbeddings != 0, Metadatas: in&IncludeMetadatas != 0, Documents: in&IncludeDocuments != 0}
}

// Collection is a set of records searched by nearest neighbour.
//
// Collection is safe for concurrent use.
type Collection struct {
	db      *DB
	id      string
	pin     atomic.Pointer[ModelPin] // the pin, for checkModel (also in cfg)
	eng     *engine.Collection
	openErr error

	// cfg is the config as created, with the pin and embedding function as
	// the catalog has them now; Dimension and EfSearch live in eng. cat is
	// the collection's view of its catalog row. Both are guarded by db.mu
	// and change only with db.cat held too (setRowLocked), so holding
	// either lock is enough to read them.
	cfg CollectionConfig
	cat struct {
		name, tenant, database string
		metadata               Metadata
		deleted                bool
	}
}

// ID returns the collection's id (a UUID).
func (c *Collection) ID() string { return c.id }

// Name returns the collection's current name.
func (c *Collection) Name() string {
	c.db.mu.RLock()
	defer c.db.mu.RUnlock()
	return c.cat.name
}

// Tenant and Database return where the collection lives.
func (c *Collection) Tenant() string   { return c.cat.tenant }
func (c *Collection) Database() string { return c.cat.database }

// Metadata returns the collection's own metadata.
func (c *Collection) Metadata() Metadata {
	c.db.mu.RLock()
	defer c.db.mu.RUnlock()
	return c.cat.metadata
}

// Config returns the collection's configuration, with the dimension fixed
// by the first write and the current ef_search.
func (c *Collection) Config() CollectionConfig {
	c.db.mu.RLock()
	defer c.db.mu.RUnlock()
	return c.configLocked()
}

// configLocked is Config. REQUIRES: db.mu or db.cat held.
func (c *Collection) configLocked() CollectionConfig {
	cfg := c.cfg
	cfg.Metadata = c.cat.metadata
	if c.eng != nil {
		ec := c.eng.Config()
		cfg.Dimension = ec.Dim
		cfg.EfSearch = ec.EfSearch
	}
	if !cfg.EmbeddingModel.IsZero() && cfg.EmbeddingModel.Dimension == 0 {
		cfg.EmbeddingModel.Dimension = cfg.Dimension
	}
	return cfg
}

// setPinLocked pins the collection to p (ef: the Chroma embedding function
// to echo, "" to keep the stored one), durably: one SetConfig command.
// REQUIRES: db.cat held.
func (c *Collection) setPinLocked(p ModelPin, ef string) error {
	if p.Dimension != 0 {
		if dim := c.configLocked().Dimension; dim != 0 && dim != p.Dimension {
			return fmt.Errorf("%w: the embedding model %q has dimension %d, the collection's vectors %d", ErrInvalidArgument, p.String(), p.Dimension, dim)
		}
	}
	cmd := &catalog.SetConfig{ID: c.id, Set: catalog.SetModel | catalog.SetEmbeddingFunction,
		EmbeddingModel: p.String(), ModelDimension: p.Dimension, EmbeddingFunction: c.cfg.EmbeddingFunction}
	if ef != "" {
		cmd.EmbeddingFunction = ef
	}
	// What else names the model follows the pin: the metadata key, and
	// an embedding function that names another model (dropped: Chroma
	// clients then see none rather than the old one).
	if _, ok := c.cat.metadata[MetadataModelKey]; ok {
		md := copyMeta(c.cat.metadata)
		md[MetadataModelKey] = p.String()
		cmd.Set |= catalog.SetMetadata
		cmd.Metadata = payload.AppendMap(nil, md)
	}
	if efPin, err := PinFromEmbeddingFunction(cmd.EmbeddingFunction); err == nil && !efPin.IsZero() && efPin.Name != p.Name {
		cmd.EmbeddingFunction = ""
	}
	return c.db.proposeLocked(cmd, nil)
}

// setRowLocked makes c's view of its catalog row (name, metadata, ef_search,
// pin, embedding function) the row's.
// REQUIRES: db.cat held and db.mu held exclusively, or c not yet shared.
func (c *Collection) setRowLocked(row catalog.Collection) error {
	var meta Metadata
	if len(row.Metadata) > 0 {
		md := payload.Reader{B: row.Metadata}
		meta = md.Map()
		if md.Err != nil {
			return fmt.Errorf("catalog: collection %s: metadata: %w", row.ID, md.Err)
		}
	}
	c.cat.name, c.cat.metadata = row.Name, meta
	c.cfg.EfSearch = row.EfSearch
	c.cfg.EmbeddingFunction = row.EmbeddingFunction
	c.cfg.EmbeddingModel = c.db.rowPin(row, &c.cfg)
	if c.cfg.EmbeddingModel.IsZero() {
		c.pin.Store(nil)
	} else {
		p := c.cfg.EmbeddingModel
		c.pin.Store(&p)
	}
	return nil
}

// SetEmbeddingModel pins the collection to model p, durably. A collection
// pinned to another model keeps its pin unless replace is set
// (ErrModelMismatch): replacing a pin does not re-embed anything, so do it
// once the vectors come from the new model (a later release drives this
// through an online re-index).
func (c *Collection) SetEmbeddingModel(p ModelPin, replace bool) error {
	if err := p.validate(); err != nil {
		return err
	}
	if _, err := c.engine(); err != nil {
		return err
	}
	c.db.cat.Lock()
	defer c.db.cat.Unlock()
	if c.cat.deleted {
		return fmt.Errorf("%w: collection %s was deleted", ErrNotFound, c.id)
	}
	cur := c.configLocked().EmbeddingModel
	if !cur.IsZero() && !replace && (cur.Name != p.Name || cur.Version != p.Version ||
		p.Dimension != 0 && p.Dimension != cur.Dimension) {
		return fmt.Errorf("%w: the collection is pinned to embedding model %q; replacing the pin with %q must be asked for (replace)",
			ErrModelMismatch, cur.String(), p.String())
	}
	if !cur.IsZero() && cur != p {
		c.db.opts.Logger.Warn("embedding model pin replaced", "collection", c.cat.name, "from", cur.String(), "to", p.String())
	}
	return c.setPinLocked(p, "")
}

// SetEfSearch changes the default ef of queries, durably.
func (c *Collection) SetEfSearch(ef int) error {
	if ef < 1 || ef > 4096 {
		return fmt.Errorf("%w: ef_search %d out of range [1, 4096]", ErrInvalidArgument, ef)
	}
	return c.Modify(ModifyOptions{EfSearch: ef})
}

// SetMetadata replaces the collection's own metadata, durably (nil clears
// it). Chroma's legacy keys in it are checked as Modify does.
func (c *Collection) SetMetadata(md Metadata) error {
	if md == nil {
		md = Metadata{}
	}
	return c.Modify(ModifyOptions{Metadata: md})
}

// ModifyOptions are the changes Modify makes to a collection; zero fields
// change nothing.
type ModifyOptions struct {
	// Name renames the collection within its database; "" keeps the name.
	Name string
	// Metadata, when non-nil, replaces the collection's own metadata (an
	// empty map clears it). Chroma's legacy keys in it must be of the right
	// type (hnsw:space a string, the others integers); hnsw:space, hnsw:M
	// and hnsw:construction_ef may only repeat the collection's metric, M
	// and ef_construction, which change only through a re-index into a new
	// collection (ErrConfigConflict); hnsw:search_ef sets ef_search.
	Metadata Metadata
	// EfSearch sets the default ef of queries, in [1, 4096]; 0 keeps it.
	EfSearch int
	// EmbeddingFunction is Chroma's embedding_function configuration
	// (JSON). With a model_name, it pins an unpinned collection as the
	// embedding_model metadata key does; against a pin it must name the
	// pinned model (ErrModelMismatch: changing a pin is SetEmbeddingModel).
	EmbeddingFunction string
}

// Modify renames the collection, replaces its metadata and changes its
// ef_search, all or nothing: every change is checked before any is made,
// and they reach the catalog in one write.
func (c *Collection) Modify(opts ModifyOptions) error {
	if opts.Name != "" {
		if err := ValidateName(opts.Name); err != nil {
			return err
		}
	}
	ef := opts.EfSearch
	var md Metadata
	if opts.Metadata != nil {
		l, err := parseLegacyKeys(opts.Metadata)
		if err != nil {
			return err
		}
		if err := c.cfg.legacyConflict(l); err != nil {
			return err
		}
		if l.efSearch != nil {
			if ef != 0 && ef != *l.efSearch {
				return fmt.Errorf("%w: ef_search %d and collection metadata %s %d disagree", ErrInvalidArgument, ef, keySearchEf, *l.efSearch)
			}
			if *l.efSearch < 1 || *l.efSearch > 4096 {
				return fmt.Errorf("%w: collection metadata %s %d out of range [1, 4096]", ErrInvalidArgument, keySearchEf, *l.efSearch)
			}
			ef = *l.efSearch
		}
		if md, err = normalizeMeta(opts.Metadata); err != nil {
			return fmt.Errorf("%w: collection metadata: %v", ErrInvalidMetadata, err)
		}
	}
	if ef < 0 || ef > 4096 {
		return fmt.Errorf("%w: ef_search %d out of range [1, 4096]", ErrInvalidArgument, ef)
	}
	var pin ModelPin
	{
		fromMeta, err := pinFromMetadata(opts.Metadata)
		if err != nil {
			return err
		}
		fromEF, err := PinFromEmbeddingFunction(opts.EmbeddingFunction)
		if err != nil {
			return err
		}
		if pin, err = resolvePin(fromEF, fromMeta); err != nil {
			return err
		}
	}
	e, err := c.engine()
	if err != nil {
		return err
	}
	db := c.db
	db.cat.Lock()
	defer db.cat.Unlock()
	if c.cat.deleted {
		return fmt.Errorf("%w: collection %s was deleted", ErrNotFound, c.id)
	}
	if opts.Name != "" && opts.Name != c.cat.name {
		d := &Database{db: db, s: scope{c.cat.tenant, c.cat.database}}
		if d.findLocked(opts.Name) != nil {
			return fmt.Errorf("%w: collection %q", ErrAlreadyExists, opts.Name)
		}
	}
	cur := c.configLocked()
	cmd := &catalog.SetConfig{ID: c.id}
	if !pin.IsZero() {
		if cur.EmbeddingModel.IsZero() {
			if pin.Dimension != 0 && cur.Dimension != 0 && pin.Dimension != cur.Dimension {
				return fmt.Errorf("%w: the embedding model %q has dimension %d, the collection's vectors %d", ErrInvalidArgument, pin.String(), pin.Dimension, cur.Dimension)
			}
			cmd.Set |= catalog.SetModel | catalog.SetEmbeddingFunction
			cmd.EmbeddingModel, cmd.ModelDimension, cmd.EmbeddingFunction = pin.String(), pin.Dimension, c.cfg.EmbeddingFunction
			if opts.EmbeddingFunction != "" {
				cmd.EmbeddingFunction = opts.EmbeddingFunction
			}
		} else if p := cur.EmbeddingModel; pin.Name != p.Name || pin.Version != p.Version || pin.Dimension != 0 && pin.Dimension != p.Dimension {
			// Metadata must name the pin exactly: "m@v2" on a pin "m" would
			// leave the metadata saying what the pin does not.
			return fmt.Errorf("%w: the collection metadata (or embedding function) names embedding model %q, the collection is pinned to %q: "+
				"changing a collection's pinned embedding model is an explicit operation: "+
				"PUT /sextant/v1/.../collections/{name}/embedding_model with \"replace\": true, or SetEmbeddingModel",
				ErrModelMismatch, pin.String(), p.String())
		}
	}
	if opts.Name != "" {
		cmd.Set |= catalog.SetName
		cmd.Name = opts.Name
	}
	if opts.Metadata != nil {
		cmd.Set |= catalog.SetMetadata
		if md != nil {
			cmd.Metadata = payload.AppendMap(nil, md)
		}
	}
	if ef != 0 {
		cmd.Set |= catalog.SetEfSearch
		cmd.EfSearch = ef
	}
	if cmd.Set == 0 {
		return nil
	}
	// One small log record, whatever the size of the catalog.
	if err := db.proposeLocked(cmd, nil); err != nil {
		return err
	}
	if ef != 0 {
		e.SetEfSearch(ef)
		// The autopilot's new ef goes into the guardrail state at once, so
		// that a crash now cannot bring back the old one over the catalog's.
		return e.PersistGuardrails()
	}
	return nil
}

func normalizeMeta(md Metadata) (Metadata, error) { return payload.Normalize(md) }

func (c *Collection) engine() (*engine.Collection, error) {
	if c.openErr != nil {
		return nil, c.openErr
	}
	c.db.mu.RLock()
	deleted, closed := c.cat.deleted, c.db.mu.closed
	c.db.mu.RUnlock()
	if deleted {
		return nil, fmt.Errorf("%w: collection %s was deleted", ErrNotFound, c.id)
	}
	if closed {
		return nil, ErrClosed
	}
	return c.eng, nil
}

// markDeleted marks c deleted. REQUIRES: db.mu held exclusively.
func (c *Collection) markDeleted() { c.cat.deleted = true }

// drop closes the engine and removes the collection's files.
func (c *Collection) drop() error {
	if c.eng == nil {
		return c.db.opts.FS.RemoveAll(c.db.collDir(c.id))
	}
	return c.eng.Drop()
}

// Count returns the number of records.
func (c *Collection) Count(ctx context.Context) (int, error) {
	e, err := c.engine()
	if err != nil {
		return 0, err
	}
	return e.Count(), ctx.Err()
}

func toPuts(recs []Record) ([]engine.Put, error) {
	puts := make([]engine.Put, len(recs))
	for i, r := range recs {
		md, err := payload.Normalize(r.Metadata)
		if err != nil {
			return nil, errs.Record(ErrInvalidMetadata, i, r.ID, "%v", err)
		}
		puts[i] = engine.Put{ID: r.ID, Vector: r.Embedding, Meta: md, Doc: r.Document}
	}
	return puts, nil
}

// Add inserts records. The batch is atomic: an empty id or one longer than
// MaxIDBytes, an id that exists already, a duplicate id in the batch or an
// invalid vector or metadata refuses all of it with a *RecordError.
func (c *Collection) Add(ctx context.Context, recs []Record) error {
	e, puts, err := c.preparePuts(ctx, recs)
	if err != nil {
		return err
	}
	return e.Add(puts)
}

// AddSkipExisting inserts the records whose ids do not exist yet and
// silently skips the others, as Chroma's add does; it returns how many it
// inserted. The batch is validated whole and applied atomically.
func (c *Collection) AddSkipExisting(ctx context.Context, recs []Record) (int, error) {
	e, puts, err := c.preparePuts(ctx, recs)
	if err != nil {
		return 0, err
	}
	return e.AddSkipExisting(puts)
}

// Upsert inserts records or replaces those that exist. The batch is atomic.
func (c *Collection) Upsert(ctx context.Context, recs []Record) error {
	e, puts, err := c.preparePuts(ctx, recs)
	if err != nil {
		return err
	}
	return e.Upsert(puts)
}

func (c *Collection) preparePuts(ctx context.Context, recs []Record) (*engine.Collection, []engine.Put, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	e, err := c.engine()
	if err != nil {
		return nil, nil, err
	}
	if err := c.checkModel(ctx); err != nil {
		return nil, nil, err
	}
	puts, err := toPuts(recs)
	if err != nil {
		return nil, nil, err
	}
	return e, puts, nil
}

// Update changes existing records. The batch is atomic: a missing id
// refuses all of it with a *RecordError naming the id.
func (c *Collection) Update(ctx context.Context, recs []UpdateRecord) error {
	e, ups, err := c.prepareUpdates(ctx, recs)
	if err != nil {
		return err
	}
	return e.Update(ups)
}

// UpdateIgnoreMissing changes the records that exist and skips ids that do
// not, as Chroma's update does; it returns how many records it changed. The
// batch is atomic and validated whole.
func (c *Collection) UpdateIgnoreMissing(ctx context.Context, recs []UpdateRecord) (int, error) {
	e, ups, err := c.prepareUpdates(ctx, recs)
	if err != nil {
		return 0, err
	}
	return e.UpdateIgnoreMissing(ups)
}

// UpsertMerge inserts the records that do not exist (they need an
// Embedding) and updates those that do as Update would (metadata merged key
// by key, given fields replaced): Chroma's upsert. The batch is atomic.
func (c *Collection) UpsertMerge(ctx context.Context, recs []UpdateRecord) error {
	e, ups, err := c.prepareUpdates(ctx, recs)
	if err != nil {
		return err
	}
	return e.UpsertMerge(ups)
}

func (c *Collection) prepareUpdates(ctx context.Context, recs []UpdateRecord) (*engine.Collection, []engine.Update, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	e, err := c.engine()
	if err != nil {
		return nil, nil, err
	}
	if err := c.checkModel(ctx); err != nil {
		return nil, nil, err
	}
	ups := make([]engine.Update, len(recs))
	for i, r := range recs {
		u := engine.Update{ID: r.ID, Vector: r.Embedding, SetDoc: r.Document != nil, Doc: r.Document}
		set := Metadata{}
		for k, v := range r.Metadata {
			if v == nil {
				u.DeleteKeys = append(u.DeleteKeys, k)
			} else {
				set[k] = v
			}
		}
		md, err := payload.Normalize(set)
		if err != nil {
			return nil, nil, errs.Record(ErrInvalidMetadata, i, r.ID, "%v", err)
		}
		u.Meta = md
		ups[i] = u
	}
	return e, ups, nil
}

// DeleteOptions select records to delete: those among IDs (all records when
// nil) that match Where and WhereDocument (all when both are empty). IDs or
// a non-empty Where or WhereDocument must be set: an empty filter is no
// filter, so it never selects every record on its own.
type DeleteOptions struct {
	IDs           []string
	Where         Where
	WhereDocument Where
}

// DeleteWhere deletes the records selected by opts, as one atomic batch, and
// returns how many it deleted: delete(where={"batch_id": "2026-05-21"}).
func (c *Collection) DeleteWhere(ctx context.Context, opts DeleteOptions) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e, err := c.engine()
	if err != nil {
		return 0, err
	}
	if err := checkIDs(opts.IDs); err != nil {
		return 0, err
	}
	f, err := parseFilter(opts.Where, opts.WhereDocument)
	if err != nil {
		return 0, err
	}
	if opts.IDs == nil && f == nil {
		return 0, fmt.Errorf("%w: delete needs ids or a non-empty filter (an empty Where / WhereDocument is no filter)", ErrInvalidArgument)
	}
	return e.DeleteWhere(opts.IDs, f)
}

// Delete deletes the records with the given ids and returns how many
// existed.
func (c *Collection) Delete(ctx context.Context, ids []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e, err := c.engine()
	if err != nil {
		return 0, err
	}
	if err := checkIDs(ids); err != nil {
		return 0, err
	}
	return e.Delete(ids)
}

// Where is a Chroma `where` or `where_document` filter, as decoded from
// JSON: {"price": {"$lt": 10}}, {"$and": [...]}, {"$contains": "text"}.
type Where = map[string]any

// parseFilter compiles where and whereDocument; nil when both are empty.
func parseFilter(where, whereDocument Where) (*filter.Filter, error) {
	return filter.Parse(where, whereDocument)
}

// GetOptions select records to read.
type GetOptions struct {
	IDs           []string // when set: these records, in this order (missing ids are skipped)
	Where         Where    // metadata filter; records must match it (and WhereDocument)
	WhereDocument Where    // document filter
	Limit         int      // 0: no limit
	Offset        int
	Include       Include
}

// GetResult holds records in columns, as Chroma returns them. Columns not
// included are nil.
type GetResult struct {
	IDs        []string
	Embeddings [][]float32
	Metadatas  []Metadata
	Documents  []*string
}

// Get reads records by id, or all records in insertion order, paged by
// limit and offset; with a filter, only the matching ones. Pages of an
// unchanged collection are disjoint and cover every match exactly once.
func (c *Collection) Get(ctx context.Context, opts GetOptions) (*GetResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := c.engine()
	if err != nil {
		return nil, err
	}
	if err := checkIDs(opts.IDs); err != nil {
		return nil, err
	}
	f, err := parseFilter(opts.Where, opts.WhereDocument)
	if err != nil {
		return nil, err
	}
	inc := opts.Include.resolve(false)
	hits, err := e.Get(ctx, engine.GetRequest{IDs: opts.IDs, Filter: f, Limit: opts.Limit, Offset: opts.Offset, Include: inc.engine()})
	if err != nil {
		return nil, err
	}
	res := &GetResult{IDs: make([]string, len(hits))}
	if inc&IncludeEmbeddings != 0 {
		res.Embeddings = make([][]float32, len(hits))
	}
	if inc&IncludeMetadatas != 0 {
		res.Metadatas = make([]Metadata, len(hits))
	}
	if inc&IncludeDocuments != 0 {
		res.Documents = make([]*string, len(hits))
	}
	for i, h := range hits {
		res.IDs[i] = h.ID
		if res.Embeddings != nil {
			res.Embeddings[i] = h.Vector
		}
		if res.Metadatas != nil {
			res.Metadatas[i] = copyMeta(h.Meta)
		}
		if res.Documents != nil {
			res.Documents[i] = h.Doc
		}
	}
	return res, nil
}

func copyMeta(m Metadata) Metadata {
	if m == nil {
		return nil
	}
	out := make(Metadata, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// QueryOptions is a batch of nearest-neighbour queries.
type QueryOptions struct {
	Embeddings    [][]float32
	K             int      // results per query; default 10
	Ef            int      // HNSW breadth for these queries; 0: the collection's ef_search
	Where         Where    // metadata filter: only matching records are returned
	WhereDocument Where    // document filter
	IDs           []string // when non-nil: only these records may be returned
	Include       Include
	Explain       bool // return the plan of each query
}

// Plan says how a query was executed, so a user can see why it was slow.
type Plan struct {
	// Kind is "exact" (brute force over the matching records), "hnsw"
	// (graph search), "hnsw-filtered" (graph search with an allow-list) or
	// "hnsw-2hop" (graph search over matching nodes with 2-hop expansion).
	Kind                 string
	Ef                   int
	Matches              int // live records matching the filter (all live records without one)
	Live                 int // live records in the collection
	DistanceComputations int
	Fallback             bool   // the traversal found fewer than k; exact search over the matches took over
	Filter               string // the filter in canonical form; empty without one
}

// QueryResult holds, per query, its results nearest first. Columns not
// included are nil.
type QueryResult struct {
	IDs        [][]string
	Distances  [][]float32
	Embeddings [][][]float32
	Metadatas  [][]Metadata
	Documents  [][]*string
	Plans      []Plan // with Explain
}

// Query runs a batch of nearest-neighbour queries. A query vector of the
// wrong dimension, with NaN/Inf, or zero under cosine refuses the batch.
// hitPool holds the per-query result buffers of Query (*[]engine.Hit):
// their contents are copied into the QueryResult's columns.
var hitPool sync.Pool

func (c *Collection) Query(ctx context.Context, opts QueryOptions) (*QueryResult, error) {
	e, err := c.engine()
	if err != nil {
		return nil, err
	}
	if err := c.checkModel(ctx); err != nil {
		return nil, err
	}
	k := opts.K
	if k == 0 {
		k = 10
	}
	if k < 0 {
		return nil, fmt.Errorf("%w: k must be > 0, got %d", ErrInvalidArgument, k)
	}
	if opts.Ef < 0 || opts.Ef > 4096 {
		return nil, fmt.Errorf("%w: ef %d out of range [1, 4096]", ErrInvalidArgument, opts.Ef)
	}
	if err := checkIDs(opts.IDs); err != nil {
		return nil, err
	}
	f, err := parseFilter(opts.Where, opts.WhereDocument)
	if err != nil {
		return nil, err
	}
	qs := make([][]float32, len(opts.Embeddings))
	for i, q := range opts.Embeddings {
		if qs[i], err = e.PrepareQuery(i, q); err != nil {
			return nil, err
		}
	}
	inc := opts.Include.resolve(true)
	n := len(qs)
	res := &QueryResult{IDs: make([][]string, n)}
	if inc&IncludeDistances != 0 {
		res.Distances = make([][]float32, n)
	}
	if inc&IncludeEmbeddings != 0 {
		res.Embeddings = make([][][]float32, n)
	}
	if inc&IncludeMetadatas != 0 {
		res.Metadatas = make([][]Metadata, n)
	}
	if inc&IncludeDocuments != 0 {
		res.Documents = make([][]*string, n)
	}
	if opts.Explain {
		res.Plans = make([]Plan, n)
	}
	hp, _ := hitPool.Get().(*[]engine.Hit)
	if hp == nil {
		hp = new([]engine.Hit)
	}
	defer func() {
		clear(*hp) // drop references to records before pooling
		hitPool.Put(hp)
	}()
	for i, q := range qs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hits, plan, err := e.Search(ctx, engine.SearchRequest{Vector: q, Raw: opts.Embeddings[i], K: k, Ef: opts.Ef, Filter: f, IDs: opts.IDs, Include: inc.engine(), Hits: *hp})
		if err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
		*hp = hits
		ids := make([]string, len(hits))
		var dists []float32
		if res.Distances != nil {
			dists = make([]float32, len(hits))
		}
		for j, h := range hits {
			ids[j] = h.ID
			if dists != nil {
				dists[j] = h.Dist
			}
		}
		res.IDs[i] = ids
		if dists != nil {
			res.Distances[i] = dists
		}
		if res.Embeddings != nil {
			res.Embeddings[i] = make([][]float32, len(hits))
			for j, h := range hits {
				res.Embeddings[i][j] = h.Vector
			}
		}
		if res.Metadatas != nil {
			res.Metadatas[i] = make([]Metadata, len(hits))
			for j, h := range hits {
				res.Metadatas[i][j] = copyMeta(h.Meta)
			}
		}
		if res.Documents != nil {
			res.Documents[i] = make([]*string, len(hits))
			for j, h := range hits {
				res.Documents[i][j] = h.Doc
			}
		}
		if res.Plans != nil {
			res.Plans[i] = Plan(plan)
		}
	}
	return res, nil
}

// Stats is a collection's index and memory state.
type Stats = engine.Stats

// Stats returns the collection's current figures.
func (c *Collection) Stats() (Stats, error) {
	e, err := c.engine()
	if err != nil {
		return Stats{}, err
	}
	return e.Stats(), nil
}

// Verify checks the collection's internal invariants (record table, id map,
// HNSW graph) and returns the first violation found.
func (c *Collection) Verify() error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	return e.Verify()
}

// WaitIndexed blocks until a background index build in progress finishes.
func (c *Collection) WaitIndexed() error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	e.WaitIndexed()
	return nil
}

// Checkpoint writes a checkpoint of the collection now.
func (c *Collection) Checkpoint() error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	return e.Checkpoint()
}

// Health is a collection's recall and drift state: the rolling recall
// estimate with its interval and sample count, the target, the effective
// ef_search and its history, drift findings (severity, code, message,
// figures), the norm / returned-distance / query-duration histograms and the
// last index build time. Status is "ok" or "degraded".
type Health = engine.Health

// Health returns the collection's recall and drift state.
func (c *Collection) Health() (Health, error) {
	e, err := c.engine()
	if err != nil {
		return Health{}, err
	}
	return e.Health(), nil
}

// SetAutoEf switches the ef autopilot on or off, durably: the switch is
// part of the collection's guardrail state, kept across restarts (the
// collection's ManualEf config sets the state it is created in).
func (c *Collection) SetAutoEf(on bool) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	return e.SetAutoEf(on)
}

// OpenFinding is a guardrail finding not resolved yet: what was found, when
// it was first and last raised, how often, and the write batch that raised
// it (BatchRef).
type OpenFinding = monitor.OpenFinding

// BatchRef names a write batch: its index in the collection's log, time,
// vector count, and first and last ids.
type BatchRef = monitor.BatchRef

// ResolvedFinding is a guardrail finding that was resolved, with when and
// how (by evidence, or acknowledged by an operator).
type ResolvedFinding = monitor.ResolvedFinding

// AcknowledgeOptions say which open findings an operator acknowledges.
type AcknowledgeOptions struct {
	Codes []string // finding codes (monitor codes: not_normalized, metric_mismatch, ...)
	All   bool     // every open finding
	// ResetBaseline also forgets the drift baselines: after a deliberate
	// change of embedding model, the next vectors written build new ones
	// instead of being flagged against the old.
	ResetBaseline bool
	By            string // who acknowledges, for the record; default "operator"
}

// Acknowledge resolves the collection's open findings that opts names,
// durably, as acknowledged by opts.By, and returns them. An acknowledged
// metric_mismatch is not raised again until the metric check passes; other
// findings are raised again by new evidence. A finding is never resolved by
// a restart: only by evidence (see Health) or by this call.
func (c *Collection) Acknowledge(ctx context.Context, opts AcknowledgeOptions) ([]ResolvedFinding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := c.engine()
	if err != nil {
		return nil, err
	}
	if len(opts.Codes) > 0 && opts.All {
		return nil, fmt.Errorf("%w: acknowledge names codes or all, not both", ErrInvalidArgument)
	}
	if len(opts.Codes) == 0 && !opts.All && !opts.ResetBaseline {
		return nil, fmt.Errorf("%w: acknowledge needs codes, all or reset_baseline", ErrInvalidArgument)
	}
	known := monitor.Codes()
	for _, code := range opts.Codes {
		if !slices.Contains(known, code) {
			return nil, fmt.Errorf("%w: unknown finding code %q (known: %s)", ErrInvalidArgument, code, strings.Join(known, ", "))
		}
	}
	who := opts.By
	if who == "" {
		who = "operator"
	}
	return e.Acknowledge(opts.Codes, opts.All, opts.ResetBaseline, who)
}

// MeasureRecall runs n stored vectors as queries against exact search now,
// outside the monitor's CPU budget, and returns the updated health.
func (c *Collection) MeasureRecall(ctx context.Context, n int) (Health, error) {
	e, err := c.engine()
	if err != nil {
		return Health{}, err
	}
	if n < 1 || n > 100_000 {
		return Health{}, fmt.Errorf("%w: n %d outside [1, 100000]", ErrInvalidArgument, n)
	}
	e.MeasureRecall(n)
	return e.Health(), ctx.Err()
}

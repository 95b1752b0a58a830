package sextant

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sextantdb/sextant/internal/engine"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/vec"
)

const catalogFile = "catalog.json"

// DB is a Sextant database stored in one directory: a catalog of tenants,
// databases and collections, and one sub-directory per collection.
//
// DB is safe for concurrent use.
type DB struct {
	dir  string
	opts Options

	// mu guards the catalog. Catalog changes (create, rename, delete) hold it
	// across the catalog file write: they are rare and must be ordered.
	mu struct {
		sync.RWMutex
		closed    bool
		tenants   map[string]bool
		databases map[scope]string // → database id
		colls     map[string]*Collection
	}
}

type scope struct{ tenant, database string }

// catalogJSON is the on-disk catalog (docs/format/catalog.md).
type catalogJSON struct {
	Version     int           `json:"version"`
	Tenants     []string      `json:"tenants"`
	Databases   []databaseRow `json:"databases"`
	Collections []collRow     `json:"collections"`
}

type databaseRow struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	ID     string `json:"id"`
}

type collRow struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Tenant         string `json:"tenant"`
	Database       string `json:"database"`
	Dimension      int    `json:"dimension,omitempty"`
	Metric         string `json:"metric"`
	M              int    `json:"m"`
	EfConstruction int    `json:"ef_construction"`
	EfSearch       int    `json:"ef_search"`
	// EmbeddingModel is the pin, NAME[@VERSION] (the first format kept
	// Chroma's embedding function JSON here; openCollection moves it).
	EmbeddingModel    string   `json:"embedding_model,omitempty"`
	ModelDimension    int      `json:"embedding_model_dimension,omitempty"`
	EmbeddingFunction string   `json:"embedding_function,omitempty"`
	ExactThreshold    int      `json:"exact_threshold"`
	UnindexedKeys     []string `json:"unindexed_keys,omitempty"`
	RecallTarget      float64  `json:"recall_target,omitempty"`
	ManualEf          bool     `json:"manual_ef,omitempty"`
	Metadata          []byte   `json:"metadata,omitempty"` // payload encoding
}

// Open opens the database in dir, creating it if needed. Every collection
// is recovered (checkpoint + WAL replay). A collection whose files are
// corrupt does not stop the others: using it returns the error that names
// the file and offset.
func Open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	db := &DB{dir: dir, opts: o}
	db.mu.tenants = map[string]bool{}
	db.mu.databases = map[scope]string{}
	db.mu.colls = map[string]*Collection{}
	fs := o.FS
	if err := vfs.MkdirAllDurable(fs, path.Join(dir, "collections")); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := vfs.SweepTmp(fs, dir); err != nil {
		return nil, err
	}
	cat, err := db.readCatalog()
	if err != nil {
		return nil, err
	}
	if cat == nil {
		cat = &catalogJSON{Version: 1, Tenants: []string{DefaultTenant},
			Databases: []databaseRow{{Tenant: DefaultTenant, Name: DefaultDatabase, ID: newUUID()}}}
		if err := db.writeCatalogRows(cat); err != nil {
			return nil, err
		}
	}
	for _, t := range cat.Tenants {
		db.mu.tenants[t] = true
	}
	for _, d := range cat.Databases {
		db.mu.databases[scope{d.Tenant, d.Name}] = d.ID
	}
	known := map[string]bool{}
	for _, row := range cat.Collections {
		known[row.ID] = true
		c, err := db.openCollection(row)
		if err != nil {
			db.closeAll()
			return nil, err
		}
		db.mu.colls[row.ID] = c
	}
	// Remove directories of collections that were being created or dropped
	// when the process stopped.
	names, err := fs.List(path.Join(dir, "collections"))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !known[n] {
			o.Logger.Warn("removing collection directory not in the catalog", "dir", n)
			if err := fs.RemoveAll(path.Join(dir, "collections", n)); err != nil {
				return nil, err
			}
		}
	}
	return db, nil
}

func (db *DB) readCatalog() (*catalogJSON, error) {
	f, err := db.opts.FS.Open(path.Join(db.dir, catalogFile))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	var cat catalogJSON
	if err := json.Unmarshal(b, &cat); err != nil {
		return nil, fmt.Errorf("catalog %s is corrupt: %w", path.Join(db.dir, catalogFile), err)
	}
	if cat.Version != 1 {
		return nil, fmt.Errorf("catalog %s: unknown version %d", path.Join(db.dir, catalogFile), cat.Version)
	}
	return &cat, nil
}

func (db *DB) writeCatalogRows(cat *catalogJSON) error {
	b, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		return fmt.Errorf("BUG: encode catalog: %w", err)
	}
	if err := vfs.WriteFileAtomic(db.opts.FS, path.Join(db.dir, catalogFile), b); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	return nil
}

// writeCatalogLocked writes the catalog as it is in memory.
// REQUIRES: db.mu held exclusively.
func (db *DB) writeCatalogLocked() error {
	cat := &catalogJSON{Version: 1}
	for t := range db.mu.tenants {
		cat.Tenants = append(cat.Tenants, t)
	}
	sort.Strings(cat.Tenants)
	for s, id := range db.mu.databases {
		cat.Databases = append(cat.Databases, databaseRow{Tenant: s.tenant, Name: s.database, ID: id})
	}
	slices.SortFunc(cat.Databases, func(a, b databaseRow) int {
		if a.Tenant != b.Tenant {
			return strings.Compare(a.Tenant, b.Tenant)
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, c := range db.mu.colls {
		cat.Collections = append(cat.Collections, c.rowLocked())
	}
	slices.SortFunc(cat.Collections, func(a, b collRow) int { return strings.Compare(a.ID, b.ID) })
	return db.writeCatalogRows(cat)
}

// rowPin reads a catalog row's pin, moving an embedding function that the
// first format kept in embedding_model to cfg.EmbeddingFunction.
func (db *DB) rowPin(row collRow, cfg *CollectionConfig) ModelPin {
	s := row.EmbeddingModel
	var pin ModelPin
	switch {
	case s == "":
	case strings.HasPrefix(s, "{"):
		cfg.EmbeddingFunction = s
		p, err := PinFromEmbeddingFunction(s)
		if err != nil {
			db.opts.Logger.Warn("catalog: collection's embedding function has no usable model", "collection", row.Name, "err", err)
		}
		pin = p
	default:
		p, err := ParseModelPin(s)
		if err != nil {
			p = ModelPin{Name: s} // written by the first format's Go API: keep it as given
		}
		pin = p
	}
	if pin.Dimension == 0 {
		pin.Dimension = row.ModelDimension
	}
	if pin.IsZero() {
		return ModelPin{}
	}
	return pin
}

func (db *DB) collDir(id string) string { return path.Join(db.dir, "collections", id) }

func (db *DB) openCollection(row collRow) (*Collection, error) {
	var meta Metadata
	if len(row.Metadata) > 0 {
		md := payload.Reader{B: row.Metadata}
		meta = md.Map()
		if md.Err != nil {
			return nil, fmt.Errorf("catalog: collection %s: metadata: %w", row.ID, md.Err)
		}
	}
	c := &Collection{db: db, id: row.ID}
	c.cat.name, c.cat.tenant, c.cat.database = row.Name, row.Tenant, row.Database
	c.cfg = CollectionConfig{
		Dimension: row.Dimension, Metric: Metric(row.Metric), M: row.M, EfConstruction: row.EfConstruction,
		EfSearch: row.EfSearch, EmbeddingFunction: row.EmbeddingFunction, ExactThreshold: row.ExactThreshold,
		UnindexedKeys: row.UnindexedKeys, RecallTarget: row.RecallTarget, ManualEf: row.ManualEf,
	}
	c.cfg.EmbeddingModel = db.rowPin(row, &c.cfg)
	if !c.cfg.EmbeddingModel.IsZero() {
		p := c.cfg.EmbeddingModel
		c.pin.Store(&p)
	}
	if c.cfg.RecallTarget == 0 {
		c.cfg.RecallTarget = DefaultRecallTarget
	}
	c.cat.metadata = meta
	m, err := vec.ParseMetric(row.Metric)
	if err != nil {
		return nil, fmt.Errorf("catalog: collection %s: %w", row.ID, err)
	}
	eng, err := engine.Open(engine.Options{
		FS: db.opts.FS, Dir: db.collDir(row.ID), Logger: db.opts.Logger.With("collection", row.Name),
		NoSync: db.opts.NoSync, Workers: db.opts.Workers, CheckpointBytes: db.opts.CheckpointBytes,
		Monitor: engine.MonitorOptions{Budget: db.opts.MonitorBudget, RecallTarget: c.cfg.RecallTarget, ManualEf: c.cfg.ManualEf},
	}, engine.Config{
		Dim: row.Dimension, Metric: m, M: row.M, EfConstruction: row.EfConstruction, EfSearch: row.EfSearch,
		ExactThreshold: row.ExactThreshold, UnindexedKeys: row.UnindexedKeys,
	})
	if err != nil {
		// The collection stays in the catalog, unusable, with its error.
		db.opts.Logger.Error("collection cannot be opened", "collection", row.Name, "id", row.ID, "err", err)
		c.openErr = fmt.Errorf("collection %q (%s) cannot be opened: %w", row.Name, row.ID, err)
		return c, nil
	}
	c.eng = eng
	return c, nil
}

// Close closes every collection (writing final checkpoints) and the DB.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.mu.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	db.mu.closed = true
	db.mu.Unlock()
	return db.closeAll()
}

func (db *DB) closeAll() error {
	var errList []error
	for _, c := range db.mu.colls {
		if c.eng != nil {
			if err := c.eng.Close(); err != nil {
				errList = append(errList, fmt.Errorf("close collection %q: %w", c.cat.name, err))
			}
		}
	}
	return errors.Join(errList...)
}

// CreateTenant creates a tenant.
func (db *DB) CreateTenant(name string) error {
	if err := validateScopeName("tenant", name); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.mu.closed {
		return ErrClosed
	}
	if db.mu.tenants[name] {
		return fmt.Errorf("%w: tenant %q", ErrAlreadyExists, name)
	}
	db.mu.tenants[name] = true
	if err := db.writeCatalogLocked(); err != nil {
		delete(db.mu.tenants, name)
		return err
	}
	return nil
}

// ListTenants returns the names of all tenants, sorted.
func (db *DB) ListTenants() []string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]string, 0, len(db.mu.tenants))
	for t := range db.mu.tenants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// GetTenant returns nil if the tenant exists, else an ErrNotFound error.
func (db *DB) GetTenant(name string) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if !db.mu.tenants[name] {
		return fmt.Errorf("%w: tenant %q", ErrNotFound, name)
	}
	return nil
}

// DatabaseInfo describes a database.
type DatabaseInfo struct {
	ID     string
	Name   string
	Tenant string
}

// CreateDatabase creates a database in an existing tenant.
func (db *DB) CreateDatabase(tenant, name string) error {
	if err := validateScopeName("database", name); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.mu.closed {
		return ErrClosed
	}
	if !db.mu.tenants[tenant] {
		return fmt.Errorf("%w: tenant %q", ErrNotFound, tenant)
	}
	s := scope{tenant, name}
	if _, ok := db.mu.databases[s]; ok {
		return fmt.Errorf("%w: database %q in tenant %q", ErrAlreadyExists, name, tenant)
	}
	db.mu.databases[s] = newUUID()
	if err := db.writeCatalogLocked(); err != nil {
		delete(db.mu.databases, s)
		return err
	}
	return nil
}

// GetDatabase returns a database's description.
func (db *DB) GetDatabase(tenant, name string) (DatabaseInfo, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	id, ok := db.mu.databases[scope{tenant, name}]
	if !ok {
		return DatabaseInfo{}, fmt.Errorf("%w: database %q in tenant %q", ErrNotFound, name, tenant)
	}
	return DatabaseInfo{ID: id, Name: name, Tenant: tenant}, nil
}

// ListDatabases lists a tenant's databases by name, with limit (0: all) and offset.
func (db *DB) ListDatabases(tenant string, limit, offset int) ([]DatabaseInfo, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if !db.mu.tenants[tenant] {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, tenant)
	}
	var out []DatabaseInfo
	for s, id := range db.mu.databases {
		if s.tenant == tenant {
			out = append(out, DatabaseInfo{ID: id, Name: s.database, Tenant: tenant})
		}
	}
	slices.SortFunc(out, func(a, b DatabaseInfo) int { return strings.Compare(a.Name, b.Name) })
	return page(out, limit, offset), nil
}

// DeleteDatabase deletes a database and every collection in it.
func (db *DB) DeleteDatabase(tenant, name string) error {
	db.mu.Lock()
	s := scope{tenant, name}
	if _, ok := db.mu.databases[s]; !ok {
		db.mu.Unlock()
		return fmt.Errorf("%w: database %q in tenant %q", ErrNotFound, name, tenant)
	}
	var drop []*Collection
	for id, c := range db.mu.colls {
		if c.cat.tenant == tenant && c.cat.database == name {
			drop = append(drop, c)
			delete(db.mu.colls, id)
		}
	}
	id := db.mu.databases[s]
	delete(db.mu.databases, s)
	if err := db.writeCatalogLocked(); err != nil {
		db.mu.databases[s] = id
		for _, c := range drop {
			db.mu.colls[c.id] = c
		}
		db.mu.Unlock()
		return err
	}
	for _, c := range drop {
		c.markDeleted()
	}
	db.mu.Unlock()
	var errList []error
	for _, c := range drop {
		errList = append(errList, c.drop())
	}
	return errors.Join(errList...)
}

// Database returns a handle on a tenant's database. It is not checked until
// used.
func (db *DB) Database(tenant, name string) *Database {
	return &Database{db: db, s: scope{tenant, name}}
}

// Default returns the default database of the default tenant.
func (db *DB) Default() *Database { return db.Database(DefaultTenant, DefaultDatabase) }

// CollectionByID returns the collection with the given id.
func (db *DB) CollectionByID(id string) (*Collection, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	c, ok := db.mu.colls[id]
	if !ok {
		return nil, fmt.Errorf("%w: collection id %q", ErrNotFound, id)
	}
	return c, c.openErr
}

func page[T any](s []T, limit, offset int) []T {
	if offset >= len(s) {
		return nil
	}
	s = s[offset:]
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

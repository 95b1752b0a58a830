package sextant

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/sextantdb/sextant/internal/catalog"
	"github.com/sextantdb/sextant/internal/engine"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/storage/wal"
	"github.com/sextantdb/sextant/internal/vec"
)

// DB is a Sextant database stored in one directory: a catalog of tenants,
// databases and collections (package internal/catalog, kept by the driver in
// catalog.go), and one sub-directory per collection.
//
// DB is safe for concurrent use. Lock order: cat before mu. The catalog
// state and the collection table change only with both held (cat across
// the log append, mu exclusively for the apply), so holding either is
// enough to read them; lookups take mu shared and never wait on I/O.
type DB struct {
	dir   string
	opts  Options
	sched *engine.Scheduler // the collections' background rounds and insert workers

	// cat is the catalog's durability driver: it serializes catalog changes
	// and owns the command log (see proposeLocked).
	cat struct {
		sync.Mutex
		log    *wal.Log
		logged int64 // bytes of log records since the last snapshot
	}

	mu struct {
		sync.RWMutex
		closed bool
		state  *catalog.State
		colls  map[string]*Collection // by id
	}
}

type scope struct{ tenant, database string }

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
	db := &DB{dir: dir, opts: o, sched: engine.NewScheduler(engine.SchedulerOptions{
		InsertWorkers: o.Workers, Budget: min(1, max(0.10, 2*o.MonitorBudget))})}
	db.mu.colls = map[string]*Collection{}
	opened := false
	defer func() {
		if !opened {
			db.sched.Close() // (closeAll closes it too; Close is idempotent)
		}
	}()
	fs := o.FS
	if err := vfs.MkdirAllDurable(fs, path.Join(dir, "collections")); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := vfs.SweepTmp(fs, dir); err != nil {
		return nil, err
	}
	if err := db.openCatalog(); err != nil {
		return nil, err
	}
	st := db.mu.state
	known := map[string]bool{}
	for _, row := range st.Collections("", "") {
		known[row.ID] = true
		c, err := db.openCollection(row)
		if err != nil {
			_ = db.closeAll()
			return nil, err
		}
		db.mu.colls[row.ID] = c
	}
	// Remove directories of collections that were being created or dropped
	// when the process stopped.
	names, err := fs.List(path.Join(dir, "collections"))
	if err != nil {
		_ = db.closeAll()
		return nil, err
	}
	for _, n := range names {
		if !known[n] {
			o.Logger.Warn("removing collection directory not in the catalog", "dir", n)
			if err := fs.RemoveAll(path.Join(dir, "collections", n)); err != nil {
				_ = db.closeAll()
				return nil, err
			}
		}
	}
	opened = true
	return db, nil
}

// rowPin reads a catalog row's pin, moving an embedding function that the
// first format kept in embedding_model to cfg.EmbeddingFunction.
func (db *DB) rowPin(row catalog.Collection, cfg *CollectionConfig) ModelPin {
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

func (db *DB) openCollection(row catalog.Collection) (*Collection, error) {
	c := &Collection{db: db, id: row.ID}
	c.cat.tenant, c.cat.database = row.Tenant, row.Database
	c.cfg = CollectionConfig{
		Dimension: row.Dimension, Metric: Metric(row.Metric), M: row.M, EfConstruction: row.EfConstruction,
		ExactThreshold: row.ExactThreshold, UnindexedKeys: row.UnindexedKeys, RecallTarget: row.RecallTarget, ManualEf: row.ManualEf,
	}
	if c.cfg.RecallTarget == 0 {
		c.cfg.RecallTarget = DefaultRecallTarget
	}
	if err := c.setRowLocked(row); err != nil {
		return nil, err
	}
	m, err := vec.ParseMetric(row.Metric)
	if err != nil {
		return nil, fmt.Errorf("catalog: collection %s: %w", row.ID, err)
	}
	eng, err := engine.Open(engine.Options{
		FS: db.opts.FS, Dir: db.collDir(row.ID), Logger: db.opts.Logger.With("collection", row.Name),
		NoSync: db.opts.NoSync, Workers: db.opts.Workers, CheckpointBytes: db.opts.CheckpointBytes,
		Monitor:   engine.MonitorOptions{Budget: db.opts.MonitorBudget, RecallTarget: c.cfg.RecallTarget, ManualEf: c.cfg.ManualEf},
		Scheduler: db.sched,
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

// Close closes every collection (writing final checkpoints), snapshots the
// catalog and closes the DB.
func (db *DB) Close() error {
	db.cat.Lock()
	defer db.cat.Unlock()
	db.mu.Lock()
	if db.mu.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	db.mu.closed = true
	db.mu.Unlock()
	return db.closeAll()
}

// closeAll closes the engines and the catalog log.
// REQUIRES: db.cat held, or no other goroutine has db (Open).
func (db *DB) closeAll() error {
	var errList []error
	for _, c := range db.mu.colls {
		if c.eng != nil {
			if err := c.eng.Close(); err != nil {
				errList = append(errList, fmt.Errorf("close collection %q: %w", c.cat.name, err))
			}
		}
	}
	errList = append(errList, db.closeCatalogLocked())
	db.sched.Close()
	return errors.Join(errList...)
}

// CreateTenant creates a tenant.
func (db *DB) CreateTenant(name string) error {
	if err := validateScopeName("tenant", name); err != nil {
		return err
	}
	db.cat.Lock()
	defer db.cat.Unlock()
	return db.proposeLocked(&catalog.CreateTenant{Name: name}, nil)
}

// ListTenants returns the names of all tenants, sorted.
func (db *DB) ListTenants() []string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.mu.state.Tenants()
}

// GetTenant returns nil if the tenant exists, else an ErrNotFound error.
func (db *DB) GetTenant(name string) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if !db.mu.state.HasTenant(name) {
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
	db.cat.Lock()
	defer db.cat.Unlock()
	return db.proposeLocked(&catalog.CreateDatabase{Tenant: tenant, Name: name, ID: newUUID()}, nil)
}

// GetDatabase returns a database's description.
func (db *DB) GetDatabase(tenant, name string) (DatabaseInfo, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	d, ok := db.mu.state.Database(tenant, name)
	if !ok {
		return DatabaseInfo{}, fmt.Errorf("%w: database %q in tenant %q", ErrNotFound, name, tenant)
	}
	return DatabaseInfo{ID: d.ID, Name: name, Tenant: tenant}, nil
}

// ListDatabases lists a tenant's databases by name, with limit (0: all) and offset.
func (db *DB) ListDatabases(tenant string, limit, offset int) ([]DatabaseInfo, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if !db.mu.state.HasTenant(tenant) {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, tenant)
	}
	var out []DatabaseInfo
	for _, d := range db.mu.state.Databases(tenant) {
		out = append(out, DatabaseInfo{ID: d.ID, Name: d.Name, Tenant: tenant})
	}
	return page(out, limit, offset), nil
}

// DeleteDatabase deletes a database and every collection in it.
func (db *DB) DeleteDatabase(tenant, name string) error {
	db.cat.Lock()
	var drop []*Collection
	err := db.proposeLocked(&catalog.DeleteDatabase{Tenant: tenant, Name: name}, func(res catalog.Result) {
		for _, id := range res.Dropped {
			if c := db.mu.colls[id]; c != nil {
				drop = append(drop, c)
				delete(db.mu.colls, id)
				c.markDeleted()
			}
		}
	})
	db.cat.Unlock()
	if err != nil {
		return err
	}
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

package sextant

import (
	"fmt"

	"github.com/sextantdb/sextant/internal/catalog"
	"github.com/sextantdb/sextant/internal/payload"
)

// Database is a handle on one tenant's database: the namespace collections
// live in.
//
// Database is safe for concurrent use.
type Database struct {
	db *DB
	s  scope
}

// Tenant returns the tenant's name.
func (d *Database) Tenant() string { return d.s.tenant }

// Name returns the database's name.
func (d *Database) Name() string { return d.s.database }

// checkLocked returns an error if the DB is closed or the database does not exist.
// REQUIRES: db.mu or db.cat held.
func (d *Database) checkLocked() error {
	if d.db.mu.closed {
		return ErrClosed
	}
	if _, ok := d.db.mu.state.Database(d.s.tenant, d.s.database); !ok {
		return fmt.Errorf("%w: database %q in tenant %q", ErrNotFound, d.s.database, d.s.tenant)
	}
	return nil
}

// findLocked returns the collection named name, in O(1).
// REQUIRES: db.mu or db.cat held.
func (d *Database) findLocked(name string) *Collection {
	id, ok := d.db.mu.state.CollectionID(d.s.tenant, d.s.database, name)
	if !ok {
		return nil
	}
	return d.db.mu.colls[id]
}

// CreateCollection creates a collection; a collection of that name existing
// already is an ErrAlreadyExists error.
func (d *Database) CreateCollection(name string, cfg *CollectionConfig) (*Collection, error) {
	c, _, err := d.create(name, cfg, false)
	return c, err
}

// GetOrCreateCollection returns the named collection, creating it if needed.
// If it exists and cfg sets a fixed field (dimension, metric, M,
// ef_construction, embedding model) to another value than the stored one,
// the call fails with ErrConfigConflict.
func (d *Database) GetOrCreateCollection(name string, cfg *CollectionConfig) (*Collection, error) {
	c, _, err := d.create(name, cfg, true)
	return c, err
}

func (d *Database) create(name string, cfg *CollectionConfig, getOK bool) (*Collection, bool, error) {
	if err := ValidateName(name); err != nil {
		return nil, false, err
	}
	var want CollectionConfig
	if cfg != nil {
		want = *cfg
	}
	resolved, err := want.resolve(d.db.opts.ExactThreshold)
	if err != nil {
		return nil, false, err
	}
	db := d.db
	if getOK {
		// The common get-or-create finds the collection as it wants it:
		// answer under the shared lock, without waiting for catalog changes.
		db.mu.RLock()
		c, pin, err := d.existingLocked(name, want, resolved)
		db.mu.RUnlock()
		if err != nil {
			return nil, false, err
		}
		if c != nil && !pin {
			return c, false, nil
		}
	}
	// Holding db.cat, the catalog cannot change: read it without db.mu.
	db.cat.Lock()
	defer db.cat.Unlock()
	if err := d.checkLocked(); err != nil {
		return nil, false, err
	}
	if c := d.findLocked(name); c != nil {
		if !getOK {
			return nil, false, fmt.Errorf("%w: collection %q", ErrAlreadyExists, name)
		}
		_, pin, err := d.existingLocked(name, want, resolved)
		if err != nil {
			return nil, false, err
		}
		if pin {
			// The caller declares the model of an unpinned collection: pin it.
			if err := c.setPinLocked(resolved.EmbeddingModel, resolved.EmbeddingFunction); err != nil {
				return nil, false, err
			}
			db.opts.Logger.Info("embedding model pinned by get-or-create", "collection", name, "model", resolved.EmbeddingModel.String())
		}
		return c, false, nil
	}
	row := catalog.Collection{
		ID: newUUID(), Name: name, Tenant: d.s.tenant, Database: d.s.database,
		Dimension: resolved.Dimension, Metric: string(resolved.Metric), M: resolved.M,
		EfConstruction: resolved.EfConstruction, EfSearch: resolved.EfSearch,
		EmbeddingModel: resolved.EmbeddingModel.String(), ModelDimension: resolved.EmbeddingModel.Dimension,
		EmbeddingFunction: resolved.EmbeddingFunction, ExactThreshold: resolved.ExactThreshold,
		UnindexedKeys: resolved.UnindexedKeys, RecallTarget: resolved.RecallTarget, ManualEf: resolved.ManualEf,
	}
	if resolved.Metadata != nil {
		row.Metadata = payload.AppendMap(nil, resolved.Metadata)
	}
	c, err := db.openCollection(row)
	if err != nil {
		return nil, false, err
	}
	if c.openErr != nil {
		return nil, false, c.openErr
	}
	// The directory exists before the create is logged: a crash in between
	// leaves a directory the catalog does not name, removed on open.
	err = db.proposeLocked(&catalog.CreateCollection{Collection: row}, func(catalog.Result) { db.mu.colls[row.ID] = c })
	if err != nil {
		_ = c.eng.Drop()
		return nil, false, err
	}
	return c, true, nil
}

// existingLocked checks a get-or-create of name (want as given, resolved)
// against the collection of that name, if there is one (nil: none, or the
// database is missing): an error if they conflict, else whether the call
// must pin it to resolved's model.
// REQUIRES: db.mu or db.cat held.
func (d *Database) existingLocked(name string, want, resolved CollectionConfig) (*Collection, bool, error) {
	if d.checkLocked() != nil {
		return nil, false, nil
	}
	c := d.findLocked(name)
	if c == nil {
		return nil, false, nil
	}
	if c.openErr != nil {
		return c, false, c.openErr
	}
	stored := c.configLocked()
	if err := stored.EmbeddingModel.accepts(resolved.EmbeddingModel); err != nil {
		return c, false, fmt.Errorf("collection %q: %w", name, err)
	}
	if err := stored.conflict(want); err != nil {
		return c, false, fmt.Errorf("collection %q: %w", name, err)
	}
	return c, stored.EmbeddingModel.IsZero() && !resolved.EmbeddingModel.IsZero(), nil
}

// GetCollection returns the named collection.
func (d *Database) GetCollection(name string) (*Collection, error) {
	d.db.mu.RLock()
	defer d.db.mu.RUnlock()
	if err := d.checkLocked(); err != nil {
		return nil, err
	}
	c := d.findLocked(name)
	if c == nil {
		return nil, fmt.Errorf("%w: collection %q", ErrNotFound, name)
	}
	return c, c.openErr
}

// ListCollections lists collections by name, with limit (0: all) and offset.
func (d *Database) ListCollections(limit, offset int) ([]*Collection, error) {
	if limit < 0 || offset < 0 {
		return nil, fmt.Errorf("%w: limit and offset must be >= 0", ErrInvalidArgument)
	}
	d.db.mu.RLock()
	defer d.db.mu.RUnlock()
	if err := d.checkLocked(); err != nil {
		return nil, err
	}
	rows := d.db.mu.state.Collections(d.s.tenant, d.s.database) // sorted by name
	out := make([]*Collection, 0, len(rows))
	for _, r := range rows {
		out = append(out, d.db.mu.colls[r.ID])
	}
	return page(out, limit, offset), nil
}

// CountCollections returns the number of collections in the database.
func (d *Database) CountCollections() (int, error) {
	cs, err := d.ListCollections(0, 0)
	return len(cs), err
}

// RenameCollection renames a collection.
func (d *Database) RenameCollection(oldName, newName string) error {
	if err := ValidateName(newName); err != nil {
		return err
	}
	db := d.db
	db.cat.Lock()
	defer db.cat.Unlock()
	if err := d.checkLocked(); err != nil {
		return err
	}
	c := d.findLocked(oldName)
	if c == nil {
		return fmt.Errorf("%w: collection %q", ErrNotFound, oldName)
	}
	if oldName == newName {
		return nil
	}
	if d.findLocked(newName) != nil {
		return fmt.Errorf("%w: collection %q", ErrAlreadyExists, newName)
	}
	return db.proposeLocked(&catalog.RenameCollection{ID: c.id, Name: newName}, nil)
}

// DeleteCollection deletes a collection and removes its files.
func (d *Database) DeleteCollection(name string) error {
	db := d.db
	db.cat.Lock()
	if err := d.checkLocked(); err != nil {
		db.cat.Unlock()
		return err
	}
	c := d.findLocked(name)
	if c == nil {
		db.cat.Unlock()
		return fmt.Errorf("%w: collection %q", ErrNotFound, name)
	}
	err := db.proposeLocked(&catalog.DropCollection{ID: c.id}, func(catalog.Result) {
		delete(db.mu.colls, c.id)
		c.markDeleted()
	})
	db.cat.Unlock()
	if err != nil {
		return err
	}
	// The drop is durable: a crash before the files are gone leaves a
	// directory the catalog does not name, removed on open.
	return c.drop()
}

package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sextantdb/sextant/internal/errs"
)

// Database is a database row: a namespace of collections in a tenant.
type Database struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	ID     string `json:"id"`
}

// Collection is a collection row: its identity, where it lives and its
// settings, as stored in the snapshot.
type Collection struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Tenant         string `json:"tenant"`
	Database       string `json:"database"`
	Dimension      int    `json:"dimension,omitempty"` // 0: fixed by the first write (the engine holds it)
	Metric         string `json:"metric"`
	M              int    `json:"m"`
	EfConstruction int    `json:"ef_construction"`
	EfSearch       int    `json:"ef_search"`
	// EmbeddingModel is the pin, NAME[@VERSION] (the first format kept
	// Chroma's embedding function JSON here; package sextant reads it).
	EmbeddingModel    string   `json:"embedding_model,omitempty"`
	ModelDimension    int      `json:"embedding_model_dimension,omitempty"`
	EmbeddingFunction string   `json:"embedding_function,omitempty"`
	ExactThreshold    int      `json:"exact_threshold"`
	UnindexedKeys     []string `json:"unindexed_keys,omitempty"`
	RecallTarget      float64  `json:"recall_target,omitempty"`
	ManualEf          bool     `json:"manual_ef,omitempty"`
	Metadata          []byte   `json:"metadata,omitempty"` // payload map encoding, opaque here
}

// Scope names a database: a tenant and a database name in it.
type Scope struct{ Tenant, Database string }

// State is the catalog. The zero value is not usable; see New. It is not
// safe for concurrent use (see the package doc).
type State struct {
	applied   uint64
	tenants   map[string]struct{}
	databases map[Scope]Database
	colls     map[string]*Collection      // by id
	names     map[Scope]map[string]string // scope → name → id
}

// New returns an empty State at applied index 0.
func New() *State {
	return &State{
		tenants:   map[string]struct{}{},
		databases: map[Scope]Database{},
		colls:     map[string]*Collection{},
		names:     map[Scope]map[string]string{},
	}
}

// Applied returns the index of the last command applied (0: none).
func (s *State) Applied() uint64 { return s.applied }

// HasTenant reports whether the tenant exists.
func (s *State) HasTenant(name string) bool {
	_, ok := s.tenants[name]
	return ok
}

// Tenants returns the tenants' names, sorted.
func (s *State) Tenants() []string { return slices.Sorted(maps.Keys(s.tenants)) }

// Database returns the named database of a tenant.
func (s *State) Database(tenant, name string) (Database, bool) {
	d, ok := s.databases[Scope{tenant, name}]
	return d, ok
}

// Databases returns a tenant's databases, sorted by name (all tenants' when
// tenant is "": sorted by tenant, then name).
func (s *State) Databases(tenant string) []Database {
	var out []Database
	for sc, d := range s.databases {
		if tenant == "" || sc.Tenant == tenant {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Database) int {
		if c := strings.Compare(a.Tenant, b.Tenant); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Collection returns the collection with the given id.
func (s *State) Collection(id string) (Collection, bool) {
	c, ok := s.colls[id]
	if !ok {
		return Collection{}, false
	}
	return *c, true
}

// CollectionID returns the id of the collection named name in a database.
func (s *State) CollectionID(tenant, database, name string) (string, bool) {
	id, ok := s.names[Scope{tenant, database}][name]
	return id, ok
}

// CollectionByName returns the collection named name in a database.
func (s *State) CollectionByName(tenant, database, name string) (Collection, bool) {
	id, ok := s.CollectionID(tenant, database, name)
	if !ok {
		return Collection{}, false
	}
	return s.Collection(id)
}

// Collections returns a database's collections sorted by name (every
// collection, sorted by id, when both tenant and database are "").
func (s *State) Collections(tenant, database string) []Collection {
	if tenant == "" && database == "" {
		out := make([]Collection, 0, len(s.colls))
		for _, id := range slices.Sorted(maps.Keys(s.colls)) {
			out = append(out, *s.colls[id])
		}
		return out
	}
	names := s.names[Scope{tenant, database}]
	out := make([]Collection, 0, len(names))
	for _, n := range slices.Sorted(maps.Keys(names)) {
		out = append(out, *s.colls[names[n]])
	}
	return out
}

// Len returns the number of collections.
func (s *State) Len() int { return len(s.colls) }

// Check verifies the state's internal consistency: every collection is in
// its database's name map under its name, every database has its tenant,
// and every name map entry names a collection of that scope.
func (s *State) Check() error {
	n := 0
	for sc, names := range s.names {
		if _, ok := s.databases[sc]; !ok {
			return fmt.Errorf("catalog: names of missing database %q in tenant %q", sc.Database, sc.Tenant)
		}
		for name, id := range names {
			c, ok := s.colls[id]
			if !ok || c.Name != name || c.Tenant != sc.Tenant || c.Database != sc.Database {
				return fmt.Errorf("catalog: name %q in %v maps to collection %q, which does not match", name, sc, id)
			}
			n++
		}
	}
	if n != len(s.colls) {
		return fmt.Errorf("catalog: %d collections but %d names", len(s.colls), n)
	}
	for sc, d := range s.databases {
		if _, ok := s.tenants[sc.Tenant]; !ok || d.Tenant != sc.Tenant || d.Name != sc.Database {
			return fmt.Errorf("catalog: database %v has no tenant or a mismatched row", sc)
		}
	}
	return nil
}

// Result is what applying one command did.
type Result struct {
	Index uint64
	// Stale: the index was at or below the applied one; nothing was done.
	Stale bool
	// Err is why the command was refused (the state is unchanged): it wraps
	// errs.ErrAlreadyExists, errs.ErrNotFound or errs.ErrInvalidArgument.
	Err error
	// Dropped lists the ids of the collections the command removed
	// (DropCollection, DeleteDatabase), sorted.
	Dropped []string
}

// Apply applies cmd as the command at index. See the package doc.
func (s *State) Apply(index uint64, cmd Command) Result {
	if index <= s.applied {
		return Result{Index: index, Stale: true}
	}
	s.applied = index
	res := Result{Index: index}
	res.Err = s.apply(cmd, &res)
	return res
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errs.ErrInvalidArgument}, a...)...)
}

func (s *State) apply(cmd Command, res *Result) error {
	switch c := cmd.(type) {
	case *CreateTenant:
		if c.Name == "" {
			return invalid("empty tenant name")
		}
		if s.HasTenant(c.Name) {
			return fmt.Errorf("%w: tenant %q", errs.ErrAlreadyExists, c.Name)
		}
		s.tenants[c.Name] = struct{}{}
	case *CreateDatabase:
		if c.Name == "" || c.ID == "" {
			return invalid("database name and id must be set")
		}
		if !s.HasTenant(c.Tenant) {
			return fmt.Errorf("%w: tenant %q", errs.ErrNotFound, c.Tenant)
		}
		sc := Scope{c.Tenant, c.Name}
		if _, ok := s.databases[sc]; ok {
			return fmt.Errorf("%w: database %q in tenant %q", errs.ErrAlreadyExists, c.Name, c.Tenant)
		}
		s.databases[sc] = Database{Tenant: c.Tenant, Name: c.Name, ID: c.ID}
	case *DeleteDatabase:
		sc := Scope{c.Tenant, c.Name}
		if _, ok := s.databases[sc]; !ok {
			return fmt.Errorf("%w: database %q in tenant %q", errs.ErrNotFound, c.Name, c.Tenant)
		}
		for _, id := range s.names[sc] {
			res.Dropped = append(res.Dropped, id)
			delete(s.colls, id)
		}
		slices.Sort(res.Dropped)
		delete(s.names, sc)
		delete(s.databases, sc)
	case *CreateCollection:
		row := c.Collection
		if row.ID == "" || row.Name == "" {
			return invalid("collection id and name must be set")
		}
		sc := Scope{row.Tenant, row.Database}
		if _, ok := s.databases[sc]; !ok {
			return fmt.Errorf("%w: database %q in tenant %q", errs.ErrNotFound, row.Database, row.Tenant)
		}
		if _, ok := s.names[sc][row.Name]; ok {
			return fmt.Errorf("%w: collection %q", errs.ErrAlreadyExists, row.Name)
		}
		if _, ok := s.colls[row.ID]; ok {
			return fmt.Errorf("%w: collection id %q", errs.ErrAlreadyExists, row.ID)
		}
		s.colls[row.ID] = &row
		if s.names[sc] == nil {
			s.names[sc] = map[string]string{}
		}
		s.names[sc][row.Name] = row.ID
	case *DropCollection:
		row, ok := s.colls[c.ID]
		if !ok {
			return fmt.Errorf("%w: collection id %q", errs.ErrNotFound, c.ID)
		}
		sc := Scope{row.Tenant, row.Database}
		delete(s.names[sc], row.Name)
		if len(s.names[sc]) == 0 {
			delete(s.names, sc)
		}
		delete(s.colls, c.ID)
		res.Dropped = []string{c.ID}
	case *RenameCollection:
		row, ok := s.colls[c.ID]
		if !ok {
			return fmt.Errorf("%w: collection id %q", errs.ErrNotFound, c.ID)
		}
		if err := s.checkRename(row, c.Name); err != nil {
			return err
		}
		s.rename(row, c.Name)
	case *SetConfig:
		row, ok := s.colls[c.ID]
		if !ok {
			return fmt.Errorf("%w: collection id %q", errs.ErrNotFound, c.ID)
		}
		if c.Set&^setAll != 0 {
			return invalid("set config: unknown fields %#x", uint64(c.Set&^setAll))
		}
		if c.Set&SetName != 0 {
			if err := s.checkRename(row, c.Name); err != nil {
				return err
			}
		}
		if c.Set&SetEfSearch != 0 && c.EfSearch < 1 {
			return invalid("ef_search %d must be >= 1", c.EfSearch)
		}
		if c.Set&SetModel != 0 && c.ModelDimension < 0 {
			return invalid("embedding model dimension %d is negative", c.ModelDimension)
		}
		// Every check passed: change all the fields (a new row, so that
		// copies handed out keep the old values).
		nr := *row
		if c.Set&SetMetadata != 0 {
			nr.Metadata = c.Metadata
		}
		if c.Set&SetEfSearch != 0 {
			nr.EfSearch = c.EfSearch
		}
		if c.Set&SetModel != 0 {
			nr.EmbeddingModel, nr.ModelDimension = c.EmbeddingModel, c.ModelDimension
		}
		if c.Set&SetEmbeddingFunction != 0 {
			nr.EmbeddingFunction = c.EmbeddingFunction
		}
		s.colls[c.ID] = &nr
		if c.Set&SetName != 0 {
			s.rename(&nr, c.Name)
		}
	case nil:
		return invalid("nil command")
	default:
		panic(fmt.Sprintf("BUG: catalog: unhandled command %T", cmd))
	}
	return nil
}

func (s *State) checkRename(row *Collection, name string) error {
	if name == "" {
		return invalid("empty collection name")
	}
	if name == row.Name {
		return nil
	}
	if _, taken := s.names[Scope{row.Tenant, row.Database}][name]; taken {
		return fmt.Errorf("%w: collection %q", errs.ErrAlreadyExists, name)
	}
	return nil
}

// rename renames row, which checkRename accepted.
func (s *State) rename(row *Collection, name string) {
	if name == row.Name {
		return
	}
	names := s.names[Scope{row.Tenant, row.Database}]
	delete(names, row.Name)
	names[name] = row.ID
	nr := *row
	nr.Name = name
	s.colls[row.ID] = &nr
}

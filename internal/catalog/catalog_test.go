package catalog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/stretchr/testify/require"
)

func row(id, name, tenant, db string) Collection {
	return Collection{ID: id, Name: name, Tenant: tenant, Database: db, Metric: "l2", M: 16, EfConstruction: 100, EfSearch: 100, ExactThreshold: 10000}
}

// sample is one command of every kind, with every field set.
func sample() []Command {
	full := row("c1", "docs", "t", "d")
	full.Dimension, full.EmbeddingModel, full.ModelDimension = 8, "m@v1", 8
	full.EmbeddingFunction, full.UnindexedKeys, full.RecallTarget, full.ManualEf = `{"name":"x"}`, []string{"a", "b"}, 0.9, true
	full.Metadata = []byte{2, 1, 'k'}
	return []Command{
		&CreateTenant{Name: "t"},
		&CreateDatabase{Tenant: "t", Name: "d", ID: "db-1"},
		&CreateCollection{Collection: full},
		&CreateCollection{Collection: row("c2", "two", "t", "d")},
		&RenameCollection{ID: "c2", Name: "deux"},
		&SetConfig{ID: "c1", Set: SetEfSearch, EfSearch: 77},
		&SetConfig{ID: "c1", Set: setAll, Name: "docs2", Metadata: []byte{9}, EfSearch: 5, EmbeddingModel: "n", ModelDimension: 4, EmbeddingFunction: "{}"},
		&DropCollection{ID: "c2"},
		&DeleteDatabase{Tenant: "t", Name: "d"},
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for i, cmd := range sample() {
		b := AppendCommand(nil, cmd)
		got, err := DecodeCommand(b)
		require.NoError(t, err, "command %d", i)
		require.Equal(t, cmd, got)
		rec := AppendRecord([]byte("prefix"), uint64(i+1), cmd)[len("prefix"):]
		idx, got2, err := DecodeRecord(rec)
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), idx)
		require.Equal(t, cmd, got2)
		// Every strict prefix fails to decode, and so does a trailing byte.
		for n := range len(b) {
			_, err := DecodeCommand(b[:n])
			require.ErrorIs(t, err, ErrDecode, "command %d cut at %d", i, n)
		}
		_, err = DecodeCommand(append(b, 0))
		require.ErrorIs(t, err, ErrDecode)
	}
}

func TestDecodeRefusesReservedKinds(t *testing.T) {
	for k := 0; k < 256; k++ {
		_, err := DecodeCommand([]byte{byte(k)})
		if k == int(KindCreateTenant) || k == int(KindDropCollection) || k == int(KindSetConfig) {
			continue // a valid one-byte prefix decodes or fails on the missing fields
		}
		require.Error(t, err, "kind %d", k)
	}
	_, err := DecodeCommand([]byte{byte(KindSetConfig), 0, 0x40})
	require.ErrorIs(t, err, ErrDecode, "unknown SetConfig field bit")
}

func FuzzDecodeCommand(f *testing.F) {
	for _, cmd := range sample() {
		f.Add(AppendCommand(nil, cmd))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := DecodeCommand(b)
		if err != nil {
			require.ErrorIs(t, err, ErrDecode)
			return
		}
		enc := AppendCommand(nil, cmd)
		cmd2, err := DecodeCommand(enc)
		require.NoError(t, err)
		require.Equal(t, cmd, cmd2)
		require.Equal(t, enc, AppendCommand(nil, cmd2))
		// Applying any decoded command never panics and keeps the state consistent.
		s := New()
		for i, c := range sample()[:4] {
			s.Apply(uint64(i+1), c)
		}
		s.Apply(100, cmd)
		require.NoError(t, s.Check())
	})
}

func TestApply(t *testing.T) {
	s := New()
	i := uint64(0)
	apply := func(cmd Command) Result {
		t.Helper()
		i++
		res := s.Apply(i, cmd)
		require.NoError(t, s.Check())
		require.Equal(t, i, s.Applied())
		return res
	}
	ok := func(cmd Command) Result {
		t.Helper()
		res := apply(cmd)
		require.NoError(t, res.Err)
		return res
	}
	refused := func(want error, cmd Command) {
		t.Helper()
		before := EncodeSnapshot(s)
		res := apply(cmd)
		require.ErrorIs(t, res.Err, want)
		// Refused: nothing changed but the applied index.
		s.applied--
		require.Equal(t, string(before), string(EncodeSnapshot(s)))
		s.applied++
	}
	refused(errs.ErrInvalidArgument, nil)
	ok(&CreateTenant{Name: "t"})
	refused(errs.ErrAlreadyExists, &CreateTenant{Name: "t"})
	refused(errs.ErrInvalidArgument, &CreateTenant{})
	refused(errs.ErrNotFound, &CreateDatabase{Tenant: "nope", Name: "d", ID: "x"})
	ok(&CreateDatabase{Tenant: "t", Name: "d", ID: "db1"})
	ok(&CreateDatabase{Tenant: "t", Name: "e", ID: "db2"})
	refused(errs.ErrAlreadyExists, &CreateDatabase{Tenant: "t", Name: "d", ID: "db3"})
	refused(errs.ErrNotFound, &CreateCollection{Collection: row("c1", "a", "t", "zz")})
	ok(&CreateCollection{Collection: row("c1", "a", "t", "d")})
	ok(&CreateCollection{Collection: row("c2", "b", "t", "d")})
	ok(&CreateCollection{Collection: row("c3", "a", "t", "e")}) // same name, other database
	refused(errs.ErrAlreadyExists, &CreateCollection{Collection: row("c4", "a", "t", "d")})
	refused(errs.ErrAlreadyExists, &CreateCollection{Collection: row("c1", "z", "t", "d")})
	refused(errs.ErrAlreadyExists, &RenameCollection{ID: "c1", Name: "b"})
	refused(errs.ErrNotFound, &RenameCollection{ID: "c9", Name: "q"})
	ok(&RenameCollection{ID: "c1", Name: "a"}) // no-op
	ok(&RenameCollection{ID: "c1", Name: "a2"})
	c, found := s.CollectionByName("t", "d", "a2")
	require.True(t, found)
	require.Equal(t, "c1", c.ID)
	_, found = s.CollectionByName("t", "d", "a")
	require.False(t, found)
	// SetConfig is all or nothing: a taken name refuses the ef change too.
	refused(errs.ErrAlreadyExists, &SetConfig{ID: "c1", Set: SetName | SetEfSearch, Name: "b", EfSearch: 5})
	refused(errs.ErrInvalidArgument, &SetConfig{ID: "c1", Set: SetEfSearch, EfSearch: 0})
	refused(errs.ErrInvalidArgument, &SetConfig{ID: "c1", Set: 1 << 40})
	ok(&SetConfig{ID: "c1", Set: SetEfSearch | SetModel | SetMetadata, EfSearch: 7, EmbeddingModel: "m", ModelDimension: 3, Metadata: []byte{1}})
	c, _ = s.Collection("c1")
	require.Equal(t, 7, c.EfSearch)
	require.Equal(t, "m", c.EmbeddingModel)
	require.Equal(t, []byte{1}, c.Metadata)
	require.Equal(t, []Collection{s.colls["c1"].clone(), s.colls["c2"].clone()}, s.Collections("t", "d"))
	res := ok(&DropCollection{ID: "c2"})
	require.Equal(t, []string{"c2"}, res.Dropped)
	refused(errs.ErrNotFound, &DropCollection{ID: "c2"})
	ok(&CreateCollection{Collection: row("c5", "b", "t", "d")}) // the name is free again
	res = ok(&DeleteDatabase{Tenant: "t", Name: "d"})
	require.Equal(t, []string{"c1", "c5"}, res.Dropped)
	refused(errs.ErrNotFound, &DeleteDatabase{Tenant: "t", Name: "d"})
	require.Equal(t, 1, s.Len())
	// A stale index does nothing.
	res = s.Apply(3, &CreateTenant{Name: "late"})
	require.True(t, res.Stale)
	require.False(t, s.HasTenant("late"))
}

func (c *Collection) clone() Collection { return *c }

func TestSnapshotRoundTrip(t *testing.T) {
	s := New()
	for i, cmd := range sample()[:7] {
		require.NoError(t, s.Apply(uint64(i+1), cmd).Err)
	}
	b := EncodeSnapshot(s)
	s2, v, err := DecodeSnapshot(b)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.NoError(t, s2.Check())
	require.Equal(t, s, s2)
	require.Equal(t, b, EncodeSnapshot(s2))

	for _, bad := range []string{
		`{"version":3,"applied_index":1}`,
		`{"version":2}`,
		`{"version":1,"applied_index":4}`,
		`{"version":2,"applied_index":1,"tenants":["a","a"]}`,
		`{"version":2,"applied_index":1,"tenants":["a"],"databases":[{"tenant":"b","name":"d","id":"x"}]}`,
		`{"version":2,"applied_index":1,"tenants":["a"],"databases":[{"tenant":"a","name":"d","id":"x"}],` +
			`"collections":[{"id":"1","name":"n","tenant":"a","database":"d"},{"id":"2","name":"n","tenant":"a","database":"d"}]}`,
		`{"version":2,"applied_index":1,"tenants":["a"],"collections":[{"id":"1","name":"n","tenant":"a","database":"d"}]}`,
		`{"version":`,
	} {
		_, _, err := DecodeSnapshot([]byte(bad))
		require.Error(t, err, bad)
	}
}

// TestSnapshotVersion1 reads a catalog.json written before the command log
// existed (by the code of that time).
func TestSnapshotVersion1(t *testing.T) {
	b, err := os.ReadFile("../../testdata/catalog-v1/catalog.json")
	require.NoError(t, err)
	s, v, err := DecodeSnapshot(b)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.Equal(t, uint64(0), s.Applied())
	require.Equal(t, []string{"acme", "default_tenant"}, s.Tenants())
	c, ok := s.CollectionByName("default_tenant", "default_database", "pinned")
	require.True(t, ok)
	require.Equal(t, 77, c.EfSearch)
	require.Equal(t, "text-embedding-3-small@2025-01", c.EmbeddingModel)
	require.Equal(t, []string{"blob"}, c.UnindexedKeys)
	require.True(t, c.ManualEf)
	_, ok = s.CollectionByName("acme", "prod", "events")
	require.True(t, ok)
	// Re-encoded, it is version 2 with the same rows.
	s2, v, err := DecodeSnapshot(EncodeSnapshot(s))
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.Equal(t, s, s2)
}

// TestModel applies random commands and checks the state against a plain
// model after each, and that a snapshot taken at any point plus the rest of
// the log (replayed with some already-covered records) gives the same state.
func TestModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	type mcoll struct{ name, scope string }
	var log [][]byte
	s := New()
	model := map[string]mcoll{} // id → name, scope
	dbs := map[string]bool{}
	tenants := map[string]bool{}
	pick := func(n int) string { return fmt.Sprint(rng.IntN(n)) }
	for i := 1; i <= 3000; i++ {
		var cmd Command
		switch rng.IntN(7) {
		case 0:
			cmd = &CreateTenant{Name: "t" + pick(3)}
		case 1:
			cmd = &CreateDatabase{Tenant: "t" + pick(3), Name: "d" + pick(3), ID: fmt.Sprint(i)}
		case 2:
			if rng.IntN(4) == 0 {
				cmd = &DeleteDatabase{Tenant: "t" + pick(3), Name: "d" + pick(3)}
			} else {
				cmd = &DropCollection{ID: "c" + pick(40)}
			}
		case 3, 4:
			cmd = &CreateCollection{Collection: row("c"+pick(40), "n"+pick(8), "t"+pick(3), "d"+pick(3))}
		case 5:
			cmd = &RenameCollection{ID: "c" + pick(40), Name: "n" + pick(8)}
		case 6:
			cmd = &SetConfig{ID: "c" + pick(40), Set: SetEfSearch | SetName, EfSearch: 1 + rng.IntN(99), Name: "n" + pick(8)}
		}
		rec := AppendRecord(nil, uint64(i), cmd)
		log = append(log, rec)
		res := s.Apply(uint64(i), cmd)
		require.NoError(t, s.Check())
		// The model's verdict.
		taken := func(scope, name, except string) bool {
			for id, c := range model {
				if c.scope == scope && c.name == name && id != except {
					return true
				}
			}
			return false
		}
		var want error
		switch c := cmd.(type) {
		case *CreateTenant:
			if tenants[c.Name] {
				want = errs.ErrAlreadyExists
			} else {
				tenants[c.Name] = true
			}
		case *CreateDatabase:
			sc := c.Tenant + "/" + c.Name
			switch {
			case !tenants[c.Tenant]:
				want = errs.ErrNotFound
			case dbs[sc]:
				want = errs.ErrAlreadyExists
			default:
				dbs[sc] = true
			}
		case *DeleteDatabase:
			sc := c.Tenant + "/" + c.Name
			if !dbs[sc] {
				want = errs.ErrNotFound
			} else {
				delete(dbs, sc)
				for id, mc := range model {
					if mc.scope == sc {
						delete(model, id)
					}
				}
			}
		case *DropCollection:
			if _, ok := model[c.ID]; !ok {
				want = errs.ErrNotFound
			} else {
				delete(model, c.ID)
			}
		case *CreateCollection:
			r := c.Collection
			sc := r.Tenant + "/" + r.Database
			_, idTaken := model[r.ID]
			switch {
			case !dbs[sc]:
				want = errs.ErrNotFound
			case taken(sc, r.Name, ""), idTaken:
				want = errs.ErrAlreadyExists
			default:
				model[r.ID] = mcoll{r.Name, sc}
			}
		case *RenameCollection, *SetConfig:
			id, name := "", ""
			if rc, ok := c.(*RenameCollection); ok {
				id, name = rc.ID, rc.Name
			} else {
				id, name = c.(*SetConfig).ID, c.(*SetConfig).Name
			}
			mc, ok := model[id]
			switch {
			case !ok:
				want = errs.ErrNotFound
			case taken(mc.scope, name, id):
				want = errs.ErrAlreadyExists
			default:
				model[id] = mcoll{name, mc.scope}
			}
		}
		if want == nil {
			require.NoError(t, res.Err, "step %d %T", i, cmd)
		} else {
			require.ErrorIs(t, res.Err, want, "step %d %T", i, cmd)
		}
		require.Equal(t, len(model), s.Len())
		for id, mc := range model {
			got, ok := s.Collection(id)
			require.True(t, ok)
			require.Equal(t, mc.name, got.Name)
			require.Equal(t, mc.scope, got.Tenant+"/"+got.Database)
			gid, ok := s.CollectionID(got.Tenant, got.Database, got.Name)
			require.True(t, ok)
			require.Equal(t, id, gid)
		}
		if i%500 == 0 {
			// Snapshot at a random earlier point, then replay the whole log.
			at := rng.IntN(i + 1)
			r := New()
			for _, rec := range log[:at] {
				idx, cmd, err := DecodeRecord(rec)
				require.NoError(t, err)
				r.Apply(idx, cmd)
			}
			r2, _, err := DecodeSnapshot(EncodeSnapshot(r))
			require.NoError(t, err)
			for _, rec := range log {
				idx, cmd, err := DecodeRecord(rec)
				require.NoError(t, err)
				r2.Apply(idx, cmd)
			}
			require.True(t, bytes.Equal(EncodeSnapshot(s), EncodeSnapshot(r2)), "snapshot at %d + replay differs at %d", at, i)
		}
	}
}

package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"

	"github.com/sextantdb/sextant/internal/errs"
	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/payload"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/storage/wal"
	"github.com/sextantdb/sextant/internal/vec"
)

// The model-based test of the shard state machine: random commands of every
// kind, from one writer or from several at once, applied to a collection and
// to a plain in-memory model in log order (Result.Index); after every step
// the collection's records (ids, insertion order, vectors, metadata,
// documents) equal the model's, and so they do after a random crash (the
// crashable vfs keeps what was synced and a random part of the rest), a
// clean close or a checkpoint, followed by a reopen and WAL replay.

// modelRec is a record of the model.
type modelRec struct {
	seq  uint64
	vec  []float32
	meta payload.Map
	doc  *string
}

// model is the plain state machine the shard must equal.
type model struct {
	recs map[string]*modelRec
	seq  uint64
	dim  int
}

func newModel() *model { return &model{recs: map[string]*modelRec{}} }

// apply applies cmd to the model as the documented semantics say, and
// returns the number of records changed, or the sentinel error the shard
// must refuse it with (state-dependent refusals only: the generator makes
// few stateless ones, checked separately).
func (m *model) apply(cmd *Command) (int, error) {
	// A refused command changes nothing: decide first, then change.
	switch cmd.Kind {
	case CmdAdd:
		for _, p := range cmd.Puts {
			if m.recs[p.ID] != nil {
				return 0, errAlreadyExists
			}
		}
	case CmdUpdate:
		for _, u := range cmd.Updates {
			if m.recs[u.ID] == nil {
				return 0, errNotFound
			}
		}
	case CmdUpsertMerge:
		for _, u := range cmd.Updates {
			if m.recs[u.ID] == nil && u.Vector == nil {
				return 0, errInvalidVector
			}
		}
	}
	n := 0
	put := func(id string, v []float32, meta payload.Map, doc *string) {
		if len(meta) == 0 {
			meta = nil
		}
		if m.dim == 0 {
			m.dim = len(v)
		}
		r := m.recs[id]
		if r == nil {
			m.seq++
			r = &modelRec{seq: m.seq}
			m.recs[id] = r
		}
		r.vec, r.meta, r.doc = slices.Clone(v), meta, doc
		n++
	}
	switch {
	case cmd.Kind.puts():
		for _, p := range cmd.Puts {
			if cmd.Kind == CmdAddSkipExisting && m.recs[p.ID] != nil {
				continue
			}
			put(p.ID, p.Vector, p.Meta, p.Doc)
		}
	case cmd.Kind.updates():
		for _, u := range cmd.Updates {
			r := m.recs[u.ID]
			if r == nil {
				if cmd.Kind == CmdUpsertMerge {
					put(u.ID, u.Vector, u.Meta, u.Doc)
				}
				continue
			}
			meta := maps.Clone(r.meta)
			if meta == nil {
				meta = payload.Map{}
			}
			for _, k := range u.DeleteKeys {
				delete(meta, k)
			}
			maps.Copy(meta, u.Meta)
			doc := r.doc
			if u.SetDoc {
				doc = u.Doc
			}
			v := r.vec
			if u.Vector != nil {
				v = u.Vector
			}
			put(u.ID, v, meta, doc)
		}
	case cmd.Kind == CmdDelete:
		ids := cmd.IDs
		if ids == nil {
			ids = slices.Collect(maps.Keys(m.recs))
		}
		for _, id := range ids {
			if r := m.recs[id]; r != nil && cmd.Filter.Match(r.meta, r.doc) {
				delete(m.recs, id)
				n++
			}
		}
	}
	return n, nil
}

// gen makes random commands over a small id space, so that they conflict.
type gen struct {
	r   *rand.Rand
	ids int
}

func (g *gen) id() string { return fmt.Sprintf("r%02d", g.r.IntN(g.ids)) }

func (g *gen) vector() []float32 {
	v := make([]float32, testDim)
	for j := range v {
		v[j] = float32(g.r.NormFloat64())
	}
	return v
}

func (g *gen) meta() payload.Map {
	m := payload.Map{}
	if g.r.IntN(3) > 0 {
		m["g"] = int64(g.r.IntN(4))
	}
	if g.r.IntN(2) == 0 {
		m["n"] = math.Round(g.r.Float64()*100) / 10
	}
	if g.r.IntN(4) == 0 {
		m["t"] = []string{"a", "b"}[:1+g.r.IntN(2)]
	}
	if len(m) == 0 && g.r.IntN(2) == 0 {
		return nil
	}
	return m
}

func (g *gen) doc() *string {
	if g.r.IntN(3) == 0 {
		return nil
	}
	s := []string{"alpha", "beta", "gamma delta", "a b c"}[g.r.IntN(4)]
	return &s
}

// distinct returns n distinct ids.
func (g *gen) distinct(n int) []string {
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		if id := g.id(); !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (g *gen) filter() *filter.Filter {
	var where, doc map[string]any
	switch g.r.IntN(4) {
	case 0:
		where = map[string]any{"g": int64(g.r.IntN(4))}
	case 1:
		where = map[string]any{"n": map[string]any{"$gt": g.r.Float64() * 10}}
	case 2:
		doc = map[string]any{"$contains": "a"}
	default:
		where = map[string]any{"$or": []any{map[string]any{"t": map[string]any{"$contains": "b"}}, map[string]any{"g": int64(0)}}}
	}
	f, err := filter.Parse(where, doc)
	if err != nil {
		panic(err)
	}
	return f
}

func (g *gen) command() *Command {
	n := 1 + g.r.IntN(4)
	kind := CommandKind(1 + g.r.IntN(int(cmdKinds-1)))
	cmd := &Command{Kind: kind}
	switch {
	case kind.puts():
		for _, id := range g.distinct(n) {
			cmd.Puts = append(cmd.Puts, Put{ID: id, Vector: g.vector(), Meta: g.meta(), Doc: g.doc()})
		}
	case kind.updates():
		for _, id := range g.distinct(n) {
			u := Update{ID: id, Meta: g.meta()}
			if g.r.IntN(2) == 0 {
				u.Vector = g.vector()
			}
			if g.r.IntN(3) == 0 {
				u.DeleteKeys = []string{"g", "t"}[:1+g.r.IntN(2)]
			}
			switch g.r.IntN(3) {
			case 0:
				u.SetDoc, u.Doc = true, g.doc()
			case 1: // without SetDoc: only a record that upsert-merge inserts gets it
				u.Doc = g.doc()
			}
			cmd.Updates = append(cmd.Updates, u)
		}
	default:
		switch g.r.IntN(3) {
		case 0:
			cmd.IDs = g.distinct(n)
		case 1:
			cmd.Filter = g.filter()
		default:
			cmd.IDs, cmd.Filter = g.distinct(n+3), g.filter()
		}
	}
	return cmd
}

// invalid makes a command every state refuses, and the error it must get.
func (g *gen) invalid() (*Command, error) {
	v := g.vector()
	switch g.r.IntN(4) {
	case 0:
		return &Command{Kind: CmdUpsert, Puts: []Put{{ID: "x", Vector: v}, {ID: "x", Vector: v}}}, errDuplicateID
	case 1:
		v[2] = float32(math.NaN())
		return &Command{Kind: CmdAdd, Puts: []Put{{ID: "new", Vector: v}}}, errInvalidVector
	case 2:
		return &Command{Kind: CmdUpsertMerge, Updates: []Update{{ID: "y", Vector: v[:3]}}}, errDimensionMismatch
	}
	return &Command{Kind: CmdAdd, Puts: []Put{{ID: "", Vector: v}}}, errInvalidArgument
}

// checkEqual compares the collection's records with the model's.
func checkEqual(t *testing.T, c *Collection, m *model, what string) {
	t.Helper()
	hits, err := c.Get(context.Background(), GetRequest{Include: Include{Vectors: true, Metadatas: true, Documents: true}})
	require.NoError(t, err)
	type row struct {
		id string
		r  *modelRec
	}
	var want []row
	for id, r := range m.recs {
		want = append(want, row{id, r})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].r.seq < want[j].r.seq })
	require.Len(t, hits, len(want), "%s: record count", what)
	for i, h := range hits {
		w := want[i]
		require.Equal(t, w.id, h.ID, "%s: record %d in insertion order", what, i)
		require.Equal(t, w.r.vec, h.Vector, "%s: vector of %s", what, h.ID)
		meta := h.Meta
		if len(meta) == 0 {
			meta = nil
		}
		require.Equal(t, w.r.meta, meta, "%s: metadata of %s", what, h.ID)
		require.Equal(t, w.r.doc, h.Doc, "%s: document of %s", what, h.ID)
	}
	require.Equal(t, len(want), c.Count(), what)
	require.NoError(t, c.Verify(), what)
}

func openModelCollection(t *testing.T, fs vfs.FS) *Collection {
	t.Helper()
	// Few segments: checkpoints are deltas, and compactions, often.
	c, err := Open(Options{FS: fs, Dir: "/db/coll", CheckpointBytes: 1 << 30, Workers: 2, MaxSegments: 3},
		Config{Metric: vec.L2, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 24})
	require.NoError(t, err)
	return c
}

type outcome struct {
	cmd *Command
	res Result
	err error
}

func TestStateMachineModel(t *testing.T) {
	steps := 300
	if testing.Short() {
		steps = 120
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			g := &gen{r: r, ids: 40}
			mem := vfs.NewMem()
			c := openModelCollection(t, mem)
			defer func() { require.NoError(t, c.Close()) }()
			m := newModel()
			for step := range steps {
				what := fmt.Sprintf("seed %d step %d", seed, step)
				if r.IntN(2) == 0 {
					// One writer: every outcome is checked exactly.
					cmd := g.command()
					if r.IntN(10) == 0 {
						bad, want := g.invalid()
						_, err := c.Write(bad)
						require.ErrorIs(t, err, want, what)
					}
					res, err := c.Write(cmd)
					n, werr := m.apply(cmd)
					if werr != nil {
						require.ErrorIs(t, err, werr, "%s: %v", what, cmd.Kind)
						var re *errs.RecordError
						require.True(t, errors.As(err, &re), "%s: %v names no record", what, err)
						require.Zero(t, res.Index)
					} else {
						require.NoError(t, err, "%s: %v", what, cmd.Kind)
						require.Equal(t, n, res.Changed, "%s: %v changed", what, cmd.Kind)
					}
				} else {
					// Several writers at once (conflicting strict adds and
					// upsert-merges of the same ids among them): the model
					// applies what was logged, in log order.
					var mu sync.Mutex
					var outs []outcome
					var wg sync.WaitGroup
					for range 1 + r.IntN(4) {
						cmds := []*Command{g.command(), g.command()}
						wg.Go(func() {
							for _, cmd := range cmds {
								res, err := c.Write(cmd)
								mu.Lock()
								outs = append(outs, outcome{cmd, res, err})
								mu.Unlock()
							}
						})
					}
					wg.Wait()
					sort.Slice(outs, func(i, j int) bool { return outs[i].res.Index < outs[j].res.Index })
					for _, o := range outs {
						if o.res.Index == 0 {
							continue // refused or changed nothing: not logged
						}
						require.NoError(t, o.err, what)
						n, werr := m.apply(o.cmd)
						require.NoError(t, werr, "%s: the shard applied %v at %d, the model refuses it", what, o.cmd.Kind, o.res.Index)
						require.Equal(t, n, o.res.Changed, "%s: %v at %d changed", what, o.cmd.Kind, o.res.Index)
					}
				}
				checkEqual(t, c, m, what)
				switch x := r.IntN(20); {
				case x == 0: // power cut
					crashed := mem.CrashClone(r)
					require.NoError(t, c.Close())
					mem = crashed
					c = openModelCollection(t, mem)
					checkEqual(t, c, m, what+" after a crash")
				case x == 1: // clean close
					require.NoError(t, c.Close())
					c = openModelCollection(t, mem)
					checkEqual(t, c, m, what+" after a reopen")
				case x == 2:
					require.NoError(t, c.Checkpoint())
				}
			}
			c.WaitIndexed()
			checkEqual(t, c, m, "end")
		})
	}
}

// newShard returns an empty shard (no log, no collection around it).
func newShard(cfg Config) *shard {
	s := &shard{cfg: cfg}
	st := &s.mu.state
	st.ids = make(map[string]uint32)
	st.live = roaring.New()
	st.dirty = roaring.New()
	st.dirtyVec = roaring.New()
	st.pidx = filter.NewIndex(filter.IndexOptions{})
	if cfg.Dim > 0 {
		st.dim = cfg.Dim
		st.vectors = vec.NewSlab(cfg.Dim)
	}
	return s
}

func TestCommandRoundTrip(t *testing.T) {
	g := &gen{r: rand.New(rand.NewPCG(4, 4)), ids: 10}
	for i := range 500 {
		cmd := g.command()
		cmd.Rules = []uint32{0, 1, 2, 300, math.MaxUint32}[i%5]
		b := putRecordHeader(appendCommandBody(nil, cmd), 77, -5)
		rec, err := decodeRecord(b)
		require.NoError(t, err)
		require.Equal(t, byte(recCommand), rec.kind)
		require.Equal(t, uint64(77), rec.index)
		require.Equal(t, int64(-5), rec.at)
		got := rec.cmd
		require.Equal(t, cmd.Kind, got.Kind)
		require.Equal(t, cmd.rules(), got.Rules, "rules version")
		if cmd.rules() == 1 {
			// Version 1 is the format of the records written before the
			// field: the kind byte alone.
			require.Equal(t, byte(cmd.Kind), b[len(b)-len(appendCommandBody(nil, cmd))+cmdHeaderRoom])
		}
		require.Equal(t, cmd.Filter.String(), got.Filter.String())
		require.Equal(t, cmd.IDs, got.IDs)
		// Puts and updates compare field by field (an empty map decodes as nil).
		require.Equal(t, appendCommandBody(nil, cmd), appendCommandBody(nil, got))
		require.Len(t, got.Puts, len(cmd.Puts))
		require.Len(t, got.Updates, len(cmd.Updates))
		for i, p := range cmd.Puts {
			require.Equal(t, p.Vector, got.Puts[i].Vector)
			require.Equal(t, p.Doc, got.Puts[i].Doc)
		}
		for i, u := range cmd.Updates {
			require.Equal(t, u.Vector, got.Updates[i].Vector)
			require.Equal(t, u.SetDoc, got.Updates[i].SetDoc)
			require.Equal(t, u.Doc, got.Updates[i].Doc)
			require.Equal(t, u.DeleteKeys, got.Updates[i].DeleteKeys)
		}
		// Every truncation is refused.
		for _, cut := range []int{1, len(b) / 2, len(b) - 1} {
			_, err := decodeRecord(b[:cut])
			require.Error(t, err)
		}
	}
	// Version 1 has one encoding (no field): an explicit 0 or 1 is corrupt,
	// as is a version past uint32.
	body := appendCommandBody(nil, &Command{Kind: CmdDelete, IDs: []string{"a"}})[cmdHeaderRoom:]
	for _, v := range []uint64{0, 1, math.MaxUint32 + 1} {
		b := append([]byte{recCommand, 1, 0, byte(CmdDelete) | cmdHasRules}, binary.AppendUvarint(nil, v)...)
		_, err := decodeRecord(append(b, body[1:]...))
		require.ErrorIs(t, err, errCorruptCommand, "rules %d", v)
	}
}

// TestRulesVersionAtApply: a command is validated with the rules of its
// version; one of a version this build does not know is refused, whatever
// it holds, and changes nothing; a live write logs the current version.
func TestRulesVersionAtApply(t *testing.T) {
	s := newShard(Config{Metric: vec.Cosine})
	ok := []Put{{ID: "a", Vector: []float32{1, 2}}}
	require.NoError(t, s.Apply(1, &Command{Kind: CmdAdd, Puts: ok, Rules: 1}).Err)
	res := s.Apply(2, &Command{Kind: CmdAdd, Puts: []Put{{ID: "b", Vector: []float32{1, 2}}}, Rules: RulesVersion + 1})
	require.ErrorIs(t, res.Err, errUnknownRules)
	require.Contains(t, res.Err.Error(), "newer build")
	require.Zero(t, res.Changed)
	require.Len(t, s.mu.ids, 1)
	// Version 1 refuses what it always refused.
	long := strings.Repeat("x", maxIDBytesV1+1)
	require.ErrorIs(t, s.Apply(3, &Command{Kind: CmdAdd, Puts: []Put{{ID: long, Vector: []float32{1, 2}}}, Rules: 1}).Err, errInvalidArgument)
	require.ErrorIs(t, s.Apply(4, &Command{Kind: CmdAdd, Puts: []Put{{ID: "z", Vector: []float32{0, 0}}}, Rules: 1}).Err, errInvalidVector)

	// A live write given another version is validated and logged under
	// this build's; the caller's command is not changed.
	mem := vfs.NewMem()
	c := openMem(t, mem, 1000)
	cmd := &Command{Kind: CmdAdd, Puts: []Put{{ID: "a", Vector: testVec(0, 0)}}, Rules: 7}
	_, err := c.Write(cmd)
	require.NoError(t, err)
	require.Equal(t, uint32(7), cmd.Rules)
	closeVerified(t, c)
	c = openMem(t, mem, 1000)
	require.Equal(t, 1, c.Stats().Live)
	closeVerified(t, c)
}

// TestUnknownRulesRefuseOpen: a command record logged under input rules
// this build does not know (a newer build's log) refuses the open with a
// clear error, rather than being skipped (its records were acknowledged);
// the log is left as it was, and opens again once the record is gone.
func TestUnknownRulesRefuseOpen(t *testing.T) {
	mem := vfs.NewMem()
	c := openMem(t, mem, 1000)
	addBatch(t, c, 0, 3)
	c.writeMu.Lock()
	next := c.applied + 1
	c.writeMu.Unlock()
	closeVerified(t, c) // a final checkpoint: the WAL after it is empty

	w, err := wal.Open(wal.Options{FS: mem, Dir: "/db/coll/wal"})
	require.NoError(t, err)
	future := &Command{Kind: CmdAdd, Puts: []Put{{ID: "new", Vector: testVec(1, 1)}}, Rules: RulesVersion + 1}
	pos, err := w.Append(putRecordHeader(appendCommandBody(nil, future), next, 1))
	require.NoError(t, err)
	require.NoError(t, w.Sync(pos))
	require.NoError(t, w.Close())

	_, err = Open(Options{FS: mem, Dir: "/db/coll", CheckpointBytes: 1 << 30},
		Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 1000})
	require.ErrorIs(t, err, errUnknownRules)
	require.False(t, wal.IsCorruption(err), "not corruption: repair must not truncate it")
	require.Contains(t, err.Error(), fmt.Sprintf("WAL record %d", next))
	require.Contains(t, err.Error(), fmt.Sprintf("version %d", RulesVersion+1))
	// Refused again: the open changed nothing.
	_, err = Open(Options{FS: mem, Dir: "/db/coll", CheckpointBytes: 1 << 30},
		Config{Dim: testDim, Metric: vec.Cosine, M: 8, EfConstruction: 40, EfSearch: 40, ExactThreshold: 1000})
	require.ErrorIs(t, err, errUnknownRules)
}

// FuzzDecodeCommand decodes arbitrary command records: never a panic; what
// decodes re-encodes to a record that decodes the same; and the shard's
// Apply is total on it (applies or refuses it, never panics, and leaves a
// consistent state).
func FuzzDecodeCommand(f *testing.F) {
	g := &gen{r: rand.New(rand.NewPCG(5, 5)), ids: 6}
	for i := range 20 {
		cmd := g.command()
		cmd.Rules = uint32(i % 3) // current, 1 and a future version
		f.Add(putRecordHeader(appendCommandBody(nil, cmd), 1, 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil || rec.kind != recCommand {
			return
		}
		enc := appendCommandBody(nil, rec.cmd)
		again, err := decodeRecord(putRecordHeader(slices.Clone(enc), rec.index, rec.at))
		require.NoError(t, err)
		require.Equal(t, enc, appendCommandBody(nil, again.cmd))
		for _, metric := range []vec.Metric{vec.Cosine, vec.L2} {
			s := newShard(Config{Metric: metric})
			s.Apply(1, &Command{Kind: CmdUpsert, Puts: []Put{{ID: "r00", Vector: []float32{1, 2}, Meta: payload.Map{"g": int64(1)}}}})
			res := s.Apply(2, rec.cmd)
			if rec.cmd.Rules > RulesVersion {
				require.ErrorIs(t, res.Err, errUnknownRules)
				require.Len(t, s.mu.ids, 1)
			}
			if res.Err == nil && rec.cmd.Kind.puts() {
				for _, p := range rec.cmd.Puts {
					_, ok := s.mu.ids[p.ID]
					require.True(t, ok || rec.cmd.Kind == CmdAddSkipExisting, "applied put of %q is missing", p.ID)
				}
			}
			require.Equal(t, int(s.mu.live.GetCardinality()), len(s.mu.ids))
			require.ErrorIs(t, s.Apply(2, rec.cmd).Err, errStale)
		}
	})
}

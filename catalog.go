package sextant

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"

	"github.com/sextantdb/sextant/internal/catalog"
	"github.com/sextantdb/sextant/internal/storage/vfs"
	"github.com/sextantdb/sextant/internal/storage/wal"
)

// The catalog's durability driver on one node (docs/format/catalog.md): a
// command log in catalog.wal/ (one WAL record per command, appended and
// fsynced before the command is applied) and a snapshot in catalog.json.
// A raft group would replace proposeLocked's append+sync with a proposal
// and call the same catalog.State.Apply from its FSM.
const (
	catalogFile        = "catalog.json"
	catalogLogDir      = "catalog.wal"
	catalogSegmentSize = 4 << 20
)

// catalogSnapshotBytes is how many bytes of log records make the next
// command take a snapshot (and drop the log segments it covers). A variable
// for tests.
var catalogSnapshotBytes int64 = 1 << 20

// openCatalog reads the snapshot, replays the command log over it and
// sets db.mu.state and db.cat.log. A new catalog gets the default tenant and
// database; a version-1 catalog.json is migrated (snapshot written in
// version 2). REQUIRES: no other goroutine has db (Open).
func (db *DB) openCatalog() error {
	st, version, err := db.readSnapshot()
	if err != nil {
		return err
	}
	fresh := st == nil
	if fresh {
		st = catalog.New()
	}
	logDir := path.Join(db.dir, catalogLogDir)
	log, err := wal.Open(wal.Options{FS: db.opts.FS, Dir: logDir, SegmentSize: catalogSegmentSize, NoSync: db.opts.NoSync, Logger: db.opts.Logger})
	if err != nil {
		return fmt.Errorf("open catalog log: %w", err)
	}
	replayed := 0
	err = log.Replay(0, func(rec []byte) error {
		idx, cmd, err := catalog.DecodeRecord(rec)
		if err != nil {
			return fmt.Errorf("catalog log %s: record after index %d: %w", logDir, st.Applied(), err)
		}
		if idx <= st.Applied() {
			return nil // covered by the snapshot
		}
		if idx != st.Applied()+1 {
			return fmt.Errorf("catalog log %s: record %d follows index %d: commands are missing", logDir, idx, st.Applied())
		}
		st.Apply(idx, cmd) // a refused command was refused when it was proposed too
		replayed++
		db.cat.logged += int64(len(rec))
		return nil
	})
	if err == nil && fresh && replayed > 0 {
		err = fmt.Errorf("catalog %s is missing but its log %s holds commands", path.Join(db.dir, catalogFile), logDir)
	}
	if err != nil {
		_ = log.Close()
		return err
	}
	if fresh {
		st.Apply(1, &catalog.CreateTenant{Name: DefaultTenant})
		st.Apply(2, &catalog.CreateDatabase{Tenant: DefaultTenant, Name: DefaultDatabase, ID: newUUID()})
	}
	db.mu.state, db.cat.log = st, log
	if fresh || version == 1 || replayed > 0 {
		if err := db.snapshotLocked(); err != nil {
			_ = log.Close()
			return err
		}
	}
	return nil
}

// readSnapshot reads catalog.json; nil if there is none.
func (db *DB) readSnapshot() (*catalog.State, int, error) {
	name := path.Join(db.dir, catalogFile)
	f, err := db.opts.FS.Open(name)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open catalog: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, fmt.Errorf("read catalog: %w", err)
	}
	st, version, err := catalog.DecodeSnapshot(b)
	if err != nil {
		return nil, 0, fmt.Errorf("catalog %s: %w", name, err)
	}
	return st, version, nil
}

// snapshotLocked writes catalog.json from the state and removes the log
// segments it covers: rotate, write, remove. A crash between the write and
// the removal leaves records the snapshot covers; replay skips them.
// REQUIRES: db.cat held.
func (db *DB) snapshotLocked() error {
	seg, err := db.cat.log.Rotate()
	if err != nil {
		return fmt.Errorf("catalog snapshot: %w", err)
	}
	if err := vfs.WriteFileAtomic(db.opts.FS, path.Join(db.dir, catalogFile), catalog.EncodeSnapshot(db.mu.state)); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	db.cat.logged = 0
	if err := db.cat.log.RemoveBefore(seg); err != nil {
		return fmt.Errorf("catalog snapshot: %w", err)
	}
	return nil
}

// proposeLocked makes cmd durable (one log record, fsynced) and applies it;
// then, if it was applied, then runs under db.mu (exclusively) to update
// what the root package keeps beside the catalog. It returns the command's
// error: the log's, or the one Apply gave (the state unchanged).
// REQUIRES: db.cat held, db.mu not held.
func (db *DB) proposeLocked(cmd catalog.Command, then func(catalog.Result)) error {
	if db.mu.closed {
		return ErrClosed
	}
	st := db.mu.state
	idx := st.Applied() + 1
	rec := catalog.AppendRecord(nil, idx, cmd)
	pos, err := db.cat.log.Append(rec)
	if err == nil {
		err = db.cat.log.Sync(pos)
	}
	if err != nil {
		return fmt.Errorf("catalog: log %v: %w", cmd.Kind(), err)
	}
	db.mu.Lock()
	res := st.Apply(idx, cmd)
	if res.Err == nil {
		db.refreshLocked(cmd)
		if then != nil {
			then(res)
		}
	}
	db.mu.Unlock()
	db.cat.logged += int64(len(rec))
	if db.cat.logged >= catalogSnapshotBytes {
		if err := db.snapshotLocked(); err != nil {
			// The command is durable in the log; the next one tries again.
			db.opts.Logger.Warn("catalog snapshot failed", "err", err)
		}
	}
	return res.Err
}

// refreshLocked updates the collection a rename or a config change applied
// to. REQUIRES: db.cat held, db.mu held exclusively.
func (db *DB) refreshLocked(cmd catalog.Command) {
	var id string
	switch c := cmd.(type) {
	case *catalog.RenameCollection:
		id = c.ID
	case *catalog.SetConfig:
		id = c.ID
	default:
		return
	}
	c, ok := db.mu.colls[id]
	row, inCat := db.mu.state.Collection(id)
	if !ok || !inCat {
		return
	}
	if err := c.setRowLocked(row); err != nil {
		panic("BUG: " + err.Error()) // the metadata was encoded by this process
	}
}

// closeCatalogLocked snapshots the catalog if commands were logged since
// the last snapshot, and closes the log. REQUIRES: db.cat held, or no other
// goroutine has db.
func (db *DB) closeCatalogLocked() error {
	if db.cat.log == nil {
		return nil
	}
	var err error
	if db.cat.logged > 0 {
		err = db.snapshotLocked()
	}
	err = errors.Join(err, db.cat.log.Close())
	db.cat.log = nil
	return err
}

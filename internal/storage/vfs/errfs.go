package vfs

import (
	"io/fs"
	"os"
	"strings"
	"sync"
)

// Op is a kind of file operation, for error injection. Ops are bit flags, so
// a set of kinds is an Op too: OpWrite|OpSync.
type Op uint16

const (
	OpCreate Op = 1 << iota
	OpOpen      // Open, OpenReadWrite, OpenDir
	OpRead
	OpWrite
	OpSync // of a file or a directory
	OpTruncate
	OpRename // path is the old name
	OpRemove // Remove and RemoveAll
	OpMkdir
	OpList
	OpStat

	// OpAll matches every kind.
	OpAll Op = 1<<iota - 1
)

var opNames = [...]string{"create", "open", "read", "write", "sync", "truncate", "rename", "remove", "mkdir", "list", "stat"}

func (o Op) String() string {
	var names []string
	for i, name := range opNames {
		if o&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// An Injector decides, before each operation of a WithErrors FS, whether it
// fails: a non-nil error is returned (wrapped in an *fs.PathError) instead of
// doing the operation. It must be safe for concurrent use.
type Injector interface {
	MaybeError(op Op, path string) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op, path string) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op, path string) error { return f(op, path) }

// Countdown is an Injector that lets a number of matching operations succeed
// and then fails every later matching one with Err, as a full disk would,
// until it is disabled. An operation matches if its kind is in Ops and its
// path contains PathContains. Countdown is safe for concurrent use.
type Countdown struct {
	mu           sync.Mutex
	ops          Op
	pathContains string
	remaining    int
	err          error
	enabled      bool
	injected     int
}

// NewCountdown returns an enabled Countdown that fails matching operations
// with err after the first `after` of them have succeeded.
func NewCountdown(err error, ops Op, pathContains string, after int) *Countdown {
	return &Countdown{ops: ops, pathContains: pathContains, remaining: after, err: err, enabled: true}
}

// MaybeError implements Injector.
func (c *Countdown) MaybeError(op Op, path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || c.ops&op == 0 || !strings.Contains(path, c.pathContains) {
		return nil
	}
	if c.remaining > 0 {
		c.remaining--
		return nil
	}
	c.injected++
	return c.err
}

// SetEnabled switches injection on or off; while off nothing fails and the
// countdown does not advance.
func (c *Countdown) SetEnabled(on bool) {
	c.mu.Lock()
	c.enabled = on
	c.mu.Unlock()
}

// Injected returns how many operations have been failed so far.
func (c *Countdown) Injected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.injected
}

// WithErrors wraps fsys so that every operation, including those on the files
// it opens, first asks inj whether to fail.
func WithErrors(fsys FS, inj Injector) FS { return &errFS{fs: fsys, inj: inj} }

type errFS struct {
	fs  FS
	inj Injector
}

func (e *errFS) check(op Op, name string) error {
	if err := e.inj.MaybeError(op, name); err != nil {
		return &fs.PathError{Op: op.String(), Path: name, Err: err}
	}
	return nil
}

func (e *errFS) wrap(f File, err error, name string) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, e: e, name: name}, nil
}

func (e *errFS) Create(name string) (File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Create(name)
	return e.wrap(f, err, name)
}

func (e *errFS) Open(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	return e.wrap(f, err, name)
}

func (e *errFS) OpenReadWrite(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenReadWrite(name)
	return e.wrap(f, err, name)
}

func (e *errFS) OpenDir(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenDir(name)
	return e.wrap(f, err, name)
}

func (e *errFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

func (e *errFS) RemoveAll(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.RemoveAll(name)
}

func (e *errFS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, oldname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

func (e *errFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.check(OpMkdir, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

func (e *errFS) List(dir string) ([]string, error) {
	if err := e.check(OpList, dir); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

func (e *errFS) Stat(name string) (fs.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

type errFile struct {
	File
	e    *errFS
	name string
}

func (f *errFile) Read(p []byte) (int, error) {
	if err := f.e.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.e.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errFile) Write(p []byte) (int, error) {
	if err := f.e.check(OpWrite, f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *errFile) Sync() error {
	if err := f.e.check(OpSync, f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errFile) Truncate(size int64) error {
	if err := f.e.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

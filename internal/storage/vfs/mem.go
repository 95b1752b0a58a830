package vfs

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	errIsDir    = errors.New("is a directory")
	errNotDir   = errors.New("not a directory")
	errNotEmpty = errors.New("directory not empty")
	errReadOnly = errors.New("file opened read-only")
)

// MemFS is an in-memory FS that tracks durability; see the package doc.
// MemFS is safe for concurrent use.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// memNode is a file or a directory. Guarded by MemFS.mu.
type memNode struct {
	isDir bool

	// Files.
	data   []byte // current contents
	synced []byte // contents as of the last Sync; never aliases data
	// overwrote is set when bytes below len(synced) changed since the last
	// Sync, so the durable state is not synced+a prefix of the new bytes.
	overwrote bool

	// Directories.
	children       map[string]*memNode
	syncedChildren map[string]*memNode
}

func newDirNode() *memNode {
	return &memNode{isDir: true, children: map[string]*memNode{}, syncedChildren: map[string]*memNode{}}
}

// NewMem returns an empty in-memory FS holding only the root directory "/".
func NewMem() *MemFS { return &MemFS{root: newDirNode()} }

// split cleans name into path components relative to the root.
func split(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// walkLocked returns the node at parts. REQUIRES: m.mu held.
func (m *MemFS) walkLocked(parts []string) (*memNode, error) {
	n := m.root
	for _, p := range parts {
		if !n.isDir {
			return nil, errNotDir
		}
		c, ok := n.children[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// parentLocked returns the directory holding name and name's base.
// REQUIRES: m.mu held.
func (m *MemFS) parentLocked(name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", fs.ErrInvalid // the root has no parent
	}
	dir, err := m.walkLocked(parts[:len(parts)-1])
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir {
		return nil, "", errNotDir
	}
	return dir, parts[len(parts)-1], nil
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked(name)
	if err != nil {
		return nil, pathErr("create", name, err)
	}
	n, ok := dir.children[base]
	switch {
	case ok && n.isDir:
		return nil, pathErr("create", name, errIsDir)
	case ok:
		m.truncateLocked(n, 0)
	default:
		n = &memNode{}
		dir.children[base] = n
	}
	return &memFile{fs: m, node: n, name: name}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	return m.open("open", name, true)
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	return m.open("open", name, false)
}

// OpenDir implements FS.
func (m *MemFS) OpenDir(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.walkLocked(split(name))
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if !n.isDir {
		return nil, pathErr("open", name, errNotDir)
	}
	return &memFile{fs: m, node: n, name: name, readOnly: true}, nil
}

func (m *MemFS) open(op, name string, readOnly bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.walkLocked(split(name))
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	if n.isDir && !readOnly {
		return nil, pathErr(op, name, errIsDir)
	}
	return &memFile{fs: m, node: n, name: name, readOnly: readOnly}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked(name)
	if err != nil {
		return pathErr("remove", name, err)
	}
	n, ok := dir.children[base]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.isDir && len(n.children) > 0 {
		return pathErr("remove", name, errNotEmpty)
	}
	delete(dir.children, base)
	return nil
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return pathErr("removeall", name, err)
	}
	delete(dir.children, base)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.parentLocked(oldname)
	if err != nil {
		return pathErr("rename", oldname, err)
	}
	n, ok := odir.children[obase]
	if !ok {
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	ndir, nbase, err := m.parentLocked(newname)
	if err != nil {
		return pathErr("rename", newname, err)
	}
	if old, ok := ndir.children[nbase]; ok {
		if old == n {
			return nil
		}
		switch {
		case old.isDir && !n.isDir:
			return pathErr("rename", newname, errIsDir)
		case !old.isDir && n.isDir:
			return pathErr("rename", newname, errNotDir)
		case old.isDir && len(old.children) > 0:
			return pathErr("rename", newname, errNotEmpty)
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range split(dir) {
		c, ok := n.children[p]
		if !ok {
			c = newDirNode()
			n.children[p] = c
		} else if !c.isDir {
			return pathErr("mkdir", dir, errNotDir)
		}
		n = c
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.walkLocked(split(dir))
	if err != nil {
		return nil, pathErr("list", dir, err)
	}
	if !n.isDir {
		return nil, pathErr("list", dir, errNotDir)
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.walkLocked(split(name))
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return m.statLocked(n, name), nil
}

func (m *MemFS) statLocked(n *memNode, name string) fs.FileInfo {
	return memInfo{name: path.Base(path.Clean("/" + filepath.ToSlash(name))), size: int64(len(n.data)), dir: n.isDir}
}

// truncateLocked resizes file n. REQUIRES: m.mu held.
func (m *MemFS) truncateLocked(n *memNode, size int64) {
	if size < int64(len(n.synced)) {
		n.overwrote = true
	}
	if size <= int64(len(n.data)) {
		// Zero the cut-off bytes so that a later grow reads zeros.
		clear(n.data[size:])
		n.data = n.data[:size]
		return
	}
	n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
}

// CrashClone returns the state m would be in after a power cut now: every
// directory holds the entries it had when it was last synced; every file holds
// its contents as of its last Sync plus, if only appends happened since, a
// random prefix (chosen with rng) of the appended bytes. The clone shares no
// memory with m. Open files of m are not carried over.
func (m *MemFS) CrashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]*memNode{}
	var clone func(n *memNode) *memNode
	clone = func(n *memNode) *memNode {
		if c, ok := seen[n]; ok {
			return c
		}
		c := &memNode{isDir: n.isDir}
		seen[n] = c
		if n.isDir {
			c.children = make(map[string]*memNode, len(n.syncedChildren))
			for _, name := range slices.Sorted(maps.Keys(n.syncedChildren)) { // sorted: deterministic rng use
				c.children[name] = clone(n.syncedChildren[name])
			}
			c.syncedChildren = maps.Clone(c.children)
			return c
		}
		c.data = slices.Clone(n.synced)
		if !n.overwrote && len(n.data) > len(n.synced) {
			extra := n.data[len(n.synced):]
			k := rng.IntN(len(extra) + 1)
			c.data = append(c.data, extra[:k]...)
		}
		if c.data == nil {
			c.data = []byte{}
		}
		c.synced = slices.Clone(c.data)
		return c
	}
	return &MemFS{root: clone(m.root)}
}

// SyncAll marks everything in m as durable, as if every file and directory
// had been synced. Tests use it to set up a starting state.
func (m *MemFS) SyncAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if n.isDir {
			n.syncedChildren = maps.Clone(n.children)
			for _, c := range n.children {
				walk(c)
			}
			return
		}
		n.synced = slices.Clone(n.data)
		n.overwrote = false
	}
	walk(m.root)
}

type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	off      int64
	readOnly bool
	closed   bool
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("read", f.name, fs.ErrClosed)
	}
	if f.node.isDir {
		return 0, pathErr("read", f.name, errIsDir)
	}
	if f.off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("read", f.name, fs.ErrClosed)
	}
	if f.node.isDir {
		return 0, pathErr("read", f.name, errIsDir)
	}
	if off < 0 {
		return 0, pathErr("read", f.name, fs.ErrInvalid)
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	switch {
	case f.closed:
		return 0, pathErr("write", f.name, fs.ErrClosed)
	case f.node.isDir:
		return 0, pathErr("write", f.name, errIsDir)
	case f.readOnly:
		return 0, pathErr("write", f.name, errReadOnly)
	}
	n := f.node
	if f.off < int64(len(n.synced)) {
		n.overwrote = true
	}
	end := f.off + int64(len(p))
	if end > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
	}
	copy(n.data[f.off:], p)
	f.off = end
	return len(p), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("sync", f.name, fs.ErrClosed)
	}
	n := f.node
	if n.isDir {
		n.syncedChildren = maps.Clone(n.children)
		return nil
	}
	if n.overwrote || len(n.data) < len(n.synced) {
		n.synced = slices.Clone(n.data)
	} else {
		n.synced = append(n.synced, n.data[len(n.synced):]...)
	}
	n.overwrote = false
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, pathErr("stat", f.name, fs.ErrClosed)
	}
	return f.fs.statLocked(f.node, f.name), nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	switch {
	case f.closed:
		return pathErr("truncate", f.name, fs.ErrClosed)
	case f.node.isDir:
		return pathErr("truncate", f.name, errIsDir)
	case f.readOnly:
		return pathErr("truncate", f.name, errReadOnly)
	case size < 0:
		return pathErr("truncate", f.name, fs.ErrInvalid)
	}
	f.fs.truncateLocked(f.node, size)
	return nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

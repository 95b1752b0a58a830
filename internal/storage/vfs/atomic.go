package vfs

import (
	"fmt"
	"path/filepath"
	"strings"
)

// TmpSuffix is the suffix of files (and directories) being written that have
// not yet been renamed into place; SweepTmp removes them.
const TmpSuffix = ".tmp"

// WriteFileAtomic replaces path with data so that a crash at any point leaves
// either the old contents (or no file, if there was none) or the new ones,
// never a mix: it writes path.tmp, fsyncs and closes it, renames it over path
// and fsyncs the parent directory. When it returns nil the new contents are
// durable.
func WriteFileAtomic(fsys FS, path string, data []byte) (err error) {
	tmp := path + TmpSuffix
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("vfs: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = fsys.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("vfs: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("vfs: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vfs: close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("vfs: rename %s: %w", tmp, err)
	}
	if err := SyncDir(fsys, filepath.Dir(path)); err != nil {
		// The rename happened; removing path.tmp would fail anyway.
		return fmt.Errorf("vfs: sync dir of %s: %w", path, err)
	}
	return nil
}

// SweepTmp removes every entry of dir whose name ends in ".tmp" (files and
// directories), as left by a crash during WriteFileAtomic or a checkpoint, and
// fsyncs dir if it removed anything. A missing dir is not an error.
func SweepTmp(fsys FS, dir string) error {
	names, err := fsys.List(dir)
	if err != nil {
		if IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("vfs: sweep %s: %w", dir, err)
	}
	removed := false
	for _, name := range names {
		if !strings.HasSuffix(name, TmpSuffix) {
			continue
		}
		if err := fsys.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("vfs: sweep %s: %w", dir, err)
		}
		removed = true
	}
	if removed {
		if err := SyncDir(fsys, dir); err != nil {
			return fmt.Errorf("vfs: sweep %s: %w", dir, err)
		}
	}
	return nil
}

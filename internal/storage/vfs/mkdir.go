package vfs

import (
	"path/filepath"
)

// MkdirAllDurable creates dir and any missing parents, and fsyncs the parent
// of every directory it created, so the new directories survive a crash.
func MkdirAllDurable(fsys FS, dir string) error {
	dir = filepath.Clean(dir)
	// Find the missing components, deepest first.
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !IsNotExist(err) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range missing {
		if err := SyncDir(fsys, filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

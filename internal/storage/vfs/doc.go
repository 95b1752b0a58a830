// Package vfs is the file-system interface through which all of Sextant's file
// access goes, so that tests can crash it, inject errors and reopen.
//
// # Implementations
//
// Default is the operating system. NewMem returns a MemFS, an in-memory file
// system that remembers what has been made durable: a file's contents survive
// a crash only up to its last Sync, and a directory entry (a created, renamed
// or removed name) only once its parent directory was synced through OpenDir.
// CrashClone returns the state after a power cut, keeping for each file a
// random prefix of the bytes appended since its last Sync to model torn
// writes. WithErrors wraps any FS and asks an Injector before each operation,
// which can fail it (for example with ENOSPC); Countdown is a ready-made
// injector.
//
// # Durable replacement
//
// WriteFileAtomic replaces a file so that a crash leaves either the old or the
// new contents: write name.tmp, fsync, close, rename over name, fsync the
// parent directory. SweepTmp removes the *.tmp names a crash may leave
// behind; call it on open.
//
// # Errors
//
// A missing file is reported with an error wrapping fs.ErrNotExist; test it
// with errors.Is (or IsNotExist). A use of a closed File wraps fs.ErrClosed.
//
// # Concurrency
//
// Every FS here is safe for concurrent use. A File is safe for concurrent use
// only as far as the OS file is: the WAL and checkpoints use each File from
// one goroutine at a time.
package vfs

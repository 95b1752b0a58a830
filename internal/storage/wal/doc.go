// Package wal is Sextant's write-ahead log: a directory of numbered segment
// files holding a sequence of opaque, checksummed records. It knows nothing
// about what a record means; the engine encodes and decodes them.
//
// The byte format (32 KiB blocks of chunks with a CRC-32C|length|type header,
// as in LevelDB and Pebble) and the repair rules are specified in
// docs/format/wal.md.
//
// # Use
//
//	l, err := wal.Open(wal.Options{FS: fs, Dir: dir})
//	err = l.Replay(fromSegment, apply) // records written before Open
//	pos, err := l.Append(rec1, rec2)   // buffered, in call order
//	err = l.Sync(pos)                  // durable; concurrent callers share an fsync
//	seg, err := l.Rotate()             // checkpoint: records in segments < seg are covered
//	err = l.RemoveBefore(seg)          // after the checkpoint is durable
//
// Open never appends to an existing segment: after repairing a torn tail of
// the last one it starts a new segment. A torn tail is truncated and logged;
// any other damage is a *CorruptionError and Open fails.
//
// # Errors
//
// A failed write, fsync or segment creation is sticky: every later Append,
// Sync and Rotate returns it, so a failed fsync is never taken for a success.
// The error wraps the one from the file system (errors.Is(err,
// syscall.ENOSPC) works).
//
// # Concurrency
//
// Log is safe for concurrent use. Appends are serialized in call order. Two
// locks: ioMu serializes file I/O (flush, fsync, rotation) and is acquired
// before mu, which guards the in-memory state and is never held across I/O.
// Group commit falls out of ioMu: while one Sync writes and fsyncs, others
// queue, and each finds on waking whether the fsync it waited for already
// covered its position.
package wal

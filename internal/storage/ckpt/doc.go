// Package ckpt writes and reads checkpoints: a directory ckpt-N of named,
// checksummed blob files, made current by a MANIFEST that names N and carries
// an opaque meta blob. Recovery is the current checkpoint plus a WAL replay
// from the segment the engine recorded in the meta.
//
// The byte formats and the write protocol are specified in
// docs/format/checkpoint.md. Write is crash-safe: at any point the old or the
// new checkpoint is current, never a broken one. Call Sweep on open to remove
// leftovers of an interrupted Write.
//
// # Segments
//
// Segments (docs/format/segments.md) are immutable files under seg/ that
// outlive the checkpoint that wrote them: blocks of opaque entries, each
// block checksummed, built in memory by SegmentBuilder, made durable by
// WriteSegment and read back block by block by SegmentReader, so that a
// reader never holds more than a block. The engine lists the segments that
// make up its state in the MANIFEST's meta; SweepSegments removes the others.
//
// # Errors
//
// Damaged bytes are reported as *CorruptionError naming the file and offset
// (IsCorruption). Other errors wrap the file system's.
//
// # Concurrency
//
// The functions are safe for concurrent use on different directories; the
// caller serializes Write, Sweep and reads of one directory.
package ckpt

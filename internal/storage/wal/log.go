package wal

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

// DefaultSegmentSize is the default Options.SegmentSize.
const DefaultSegmentSize = 64 << 20

// flushThreshold is how many buffered bytes make Append write them out
// (without an fsync), bounding the buffer of a writer that never syncs.
const flushThreshold = 1 << 20

// Options configure a Log.
type Options struct {
	// FS is the file system; default vfs.Default.
	FS vfs.FS
	// Dir is the log directory, created if missing. Required.
	Dir string
	// SegmentSize is the size after which appends move to a new segment;
	// default DefaultSegmentSize. A batch is never split across segments, so
	// a segment may exceed it by one batch.
	SegmentSize int64
	// NoSync makes Sync only hand the data to the OS, without fsync.
	NoSync bool
	// Logger receives the warning about a truncated torn tail; default
	// slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills in zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports an invalid option.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return errors.New("wal: Options.Dir is empty")
	}
	if o.SegmentSize < 0 {
		return fmt.Errorf("wal: Options.SegmentSize %d is negative", o.SegmentSize)
	}
	return nil
}

// Pos is a position in the log: a segment and a byte offset in it.
type Pos struct {
	Segment int
	Offset  int64
}

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Pos) Compare(q Pos) int {
	if c := cmp.Compare(p.Segment, q.Segment); c != 0 {
		return c
	}
	return cmp.Compare(p.Offset, q.Offset)
}

func (p Pos) String() string { return fmt.Sprintf("%06d:%d", p.Segment, p.Offset) }

// SegmentName returns the file name of segment n: "%06d.wal".
func SegmentName(n int) string { return fmt.Sprintf("%06d.wal", n) }

// parseSegmentName returns the number of a segment file name.
func parseSegmentName(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, ".wal")
	if !ok || len(digits) < 6 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

type segment struct {
	num  int
	size int64 // bytes of whole records, after repair
}

// Log is a write-ahead log. It is safe for concurrent use; see the package doc.
type Log struct {
	opts Options

	// old lists the segments found at Open, repaired; immutable.
	old []segment
	// openSeg is the segment Open started for appends; immutable.
	openSeg int

	// ioMu serializes file I/O: flushes, fsyncs, rotation. Acquired before mu.
	ioMu  sync.Mutex
	spare []byte // the other write buffer. REQUIRES: ioMu held

	mu struct {
		sync.Mutex
		seg    int      // current segment number
		file   vfs.File // current segment file; nil only while a rotation creates it or after it failed
		off    int64    // logical end of the current segment, buffered bytes included
		buf    []byte   // appended bytes not yet written to file
		synced Pos      // everything up to here is durable
		err    error    // sticky write/sync error
		closed bool
	}
}

func (l *Log) path(n int) string { return filepath.Join(l.opts.Dir, SegmentName(n)) }

// Open opens the log in opts.Dir, creating the directory if needed, checks
// and repairs the existing segments, and starts a new segment for appends.
func Open(opts Options) (*Log, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l := &Log{opts: opts}
	fsys := opts.FS
	if err := vfs.MkdirAllDurable(fsys, opts.Dir); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	names, err := fsys.List(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list dir: %w", err)
	}
	var nums []int
	for _, name := range names {
		if n, ok := parseSegmentName(name); ok {
			nums = append(nums, n)
		}
	}
	// List is sorted by name; names of different widths need a numeric sort.
	slices.Sort(nums)
	for i, n := range nums {
		size, err := l.check(n, i == len(nums)-1)
		if err != nil {
			return nil, err
		}
		l.old = append(l.old, segment{num: n, size: size})
	}

	next := 1
	if k := len(l.old); k > 0 {
		next = l.old[k-1].num + 1
		if l.old[k-1].size == 0 {
			// An empty last segment holds nothing to protect: reuse it.
			next = l.old[k-1].num
			l.old = l.old[:k-1]
		}
	}
	f, err := l.createSegment(next)
	if err != nil {
		return nil, err
	}
	l.openSeg = next
	l.mu.seg = next
	l.mu.file = f
	l.mu.synced = Pos{Segment: next}
	return l, nil
}

// check scans segment n and returns the size of its whole records. The last
// segment's torn tail is truncated; any other problem is a *CorruptionError.
func (l *Log) check(n int, last bool) (int64, error) {
	fsys, path := l.opts.FS, l.path(n)
	f, err := fsys.Open(path)
	if err != nil {
		return 0, fmt.Errorf("wal: open segment %06d: %w", n, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return 0, fmt.Errorf("wal: stat segment %06d: %w", n, err)
	}
	size := st.Size()
	r := newReader(f, size)
	for {
		if _, ok := r.next(); !ok {
			break
		}
	}
	if r.err != nil {
		_ = f.Close()
		return 0, fmt.Errorf("wal: read segment %06d: %w", n, r.err)
	}
	if r.problem == problemNone {
		return size, f.Close()
	}
	tail := last && r.problem == problemTorn
	if last && r.problem == problemBadChunk {
		more, err := validAfter(f, size, r.probOff)
		if err != nil {
			_ = f.Close()
			return 0, fmt.Errorf("wal: read segment %06d: %w", n, err)
		}
		tail = !more
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("wal: close segment %06d: %w", n, err)
	}
	if !tail {
		reason := r.reason
		if last {
			reason += " (valid data follows)"
		}
		return 0, &CorruptionError{Segment: n, Offset: r.probOff, Path: path, Reason: reason}
	}
	// Repair: cut the torn tail off after the last whole record.
	w, err := fsys.OpenReadWrite(path)
	if err != nil {
		return 0, fmt.Errorf("wal: repair segment %06d: %w", n, err)
	}
	if err := w.Truncate(r.lastEnd); err != nil {
		_ = w.Close()
		return 0, fmt.Errorf("wal: repair segment %06d: %w", n, err)
	}
	if err := w.Sync(); err != nil {
		_ = w.Close()
		return 0, fmt.Errorf("wal: repair segment %06d: %w", n, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("wal: repair segment %06d: %w", n, err)
	}
	l.opts.Logger.Warn("wal: truncated torn tail",
		"file", path, "offset", r.lastEnd, "dropped_bytes", size-r.lastEnd, "reason", r.reason, "problem_offset", r.probOff)
	return r.lastEnd, nil
}

// createSegment creates segment n and makes its directory entry durable.
func (l *Log) createSegment(n int) (vfs.File, error) {
	f, err := l.opts.FS.Create(l.path(n))
	if err != nil {
		return nil, fmt.Errorf("wal: create segment %06d: %w", n, err)
	}
	if err := vfs.SyncDir(l.opts.FS, l.opts.Dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: create segment %06d: sync dir: %w", n, err)
	}
	return f, nil
}

// Replay calls fn with every record of the segments numbered fromSegment or
// more that existed when the log was opened, in order. Call it right after
// Open: records appended since are not replayed. rec is only valid during fn.
// An error from fn stops the replay and is returned as is.
func (l *Log) Replay(fromSegment int, fn func(rec []byte) error) error {
	// The segments from fromSegment on must all be there: a gap would lose
	// records. The current segment counts as present.
	nums := make([]int, 0, len(l.old)+1)
	for _, s := range l.old {
		nums = append(nums, s.num)
	}
	nums = append(nums, l.openSeg)
	missing := func(n int) error {
		return &CorruptionError{Segment: n, Path: l.path(n), Reason: "missing segment"}
	}
	if cur := nums[len(nums)-1]; fromSegment > cur {
		return missing(fromSegment)
	}
	prev, older := 0, false
	for _, n := range nums {
		switch {
		case n < fromSegment:
			older = true
			continue
		case prev == 0 && older && n != fromSegment:
			return missing(fromSegment)
		case prev != 0 && n != prev+1:
			return missing(prev + 1)
		}
		prev = n
	}

	for _, s := range l.old {
		if s.num < fromSegment {
			continue
		}
		if err := l.replaySegment(s, fn); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) replaySegment(s segment, fn func(rec []byte) error) error {
	path := l.path(s.num)
	f, err := l.opts.FS.Open(path)
	if err != nil {
		return fmt.Errorf("wal: open segment %06d: %w", s.num, err)
	}
	defer f.Close()
	r := newReader(f, s.size)
	for {
		rec, ok := r.next()
		if !ok {
			break
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if r.err != nil {
		return fmt.Errorf("wal: read segment %06d: %w", s.num, r.err)
	}
	if r.problem != problemNone {
		// It was whole at Open: something changed it since.
		return &CorruptionError{Segment: s.num, Offset: r.probOff, Path: path, Reason: r.reason}
	}
	return nil
}

// Append adds recs, in order, to the log's buffer and returns the position
// after the last one; pass it to Sync to make them durable. Concurrent
// Appends are serialized in call order. The records are copied.
func (l *Log) Append(recs ...[]byte) (Pos, error) {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return Pos{}, ErrClosed
	}
	if err := l.mu.err; err != nil {
		l.mu.Unlock()
		return Pos{}, err
	}
	for _, rec := range recs {
		l.mu.buf, l.mu.off = appendRecord(l.mu.buf, l.mu.off, rec)
	}
	pos := Pos{Segment: l.mu.seg, Offset: l.mu.off}
	rotate := l.mu.off >= l.opts.SegmentSize
	flush := len(l.mu.buf) >= flushThreshold
	l.mu.Unlock()

	switch {
	case rotate:
		l.ioMu.Lock()
		defer l.ioMu.Unlock()
		l.mu.Lock()
		still := l.mu.seg == pos.Segment && l.mu.off >= l.opts.SegmentSize && !l.mu.closed
		l.mu.Unlock()
		if still {
			if _, err := l.rotateLocked(); err != nil {
				return pos, err
			}
		}
	case flush:
		l.ioMu.Lock()
		defer l.ioMu.Unlock()
		if err := l.flushLocked(false); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// Sync returns once everything up to pos is durable (with NoSync: written to
// the OS). Concurrent callers share fsyncs.
func (l *Log) Sync(pos Pos) error {
	if done, err := l.syncDone(pos); done || err != nil {
		return err
	}
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	// Another Sync may have covered pos while this one waited.
	if done, err := l.syncDone(pos); done || err != nil {
		return err
	}
	return l.flushLocked(true)
}

// syncDone reports whether pos is already durable, or the error to return.
func (l *Log) syncDone(pos Pos) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.mu.err != nil:
		return false, l.mu.err
	case pos.Compare(l.mu.synced) <= 0:
		return true, nil
	case l.mu.closed:
		return false, ErrClosed
	}
	return false, nil
}

// maxSpare bounds the write buffer a Log keeps between writes. A batch of
// large vectors makes a record of megabytes; keeping both buffers at that
// size would hold ~2x the largest batch per collection for its whole life
// (measured: 7 MiB, 719 B/vector, after loading fashion-mnist-784 in
// batches of 1,000). Larger buffers are dropped after their write.
const maxSpare = 256 << 10

// keepSpare keeps data, just written, as the next write buffer unless it is
// larger than maxSpare. REQUIRES: ioMu held.
func (l *Log) keepSpare(data []byte) {
	if cap(data) <= maxSpare {
		l.spare = data[:0]
	} else {
		l.spare = nil
	}
}

// flushLocked writes the buffered bytes to the current segment and, if sync,
// fsyncs it (unless NoSync). REQUIRES: ioMu held, mu not held.
func (l *Log) flushLocked(sync bool) error {
	l.mu.Lock()
	if err := l.mu.err; err != nil {
		l.mu.Unlock()
		return err
	}
	data, f, seg := l.mu.buf, l.mu.file, l.mu.seg
	target := Pos{Segment: seg, Offset: l.mu.off}
	l.mu.buf = l.spare[:0]
	l.mu.Unlock()

	var err error
	if len(data) > 0 {
		if _, werr := f.Write(data); werr != nil {
			err = fmt.Errorf("wal: write segment %06d: %w", seg, werr)
		}
	}
	if err == nil && sync && !l.opts.NoSync {
		if serr := f.Sync(); serr != nil {
			err = fmt.Errorf("wal: sync segment %06d: %w", seg, serr)
		}
	}
	l.keepSpare(data)

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.mu.err = err
		return err
	}
	if (sync || l.opts.NoSync) && target.Compare(l.mu.synced) > 0 {
		l.mu.synced = target
	}
	return nil
}

// Rotate makes the current segment durable, closes it and starts a new one,
// and returns the new segment's number: every record appended before Rotate
// is in a segment numbered less. Appends after it land in the new segment.
func (l *Log) Rotate() (int, error) {
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	closed, err := l.mu.closed, l.mu.err
	l.mu.Unlock()
	switch {
	case closed:
		return 0, ErrClosed
	case err != nil:
		return 0, err
	}
	return l.rotateLocked()
}

// rotateLocked switches to a new segment. REQUIRES: ioMu held, mu not held.
func (l *Log) rotateLocked() (int, error) {
	l.mu.Lock()
	if err := l.mu.err; err != nil {
		l.mu.Unlock()
		return 0, err
	}
	data, old, oldSeg, oldEnd := l.mu.buf, l.mu.file, l.mu.seg, l.mu.off
	next := oldSeg + 1
	// Appends from now on buffer for the new segment; nothing writes them
	// before its file exists, since writing needs ioMu.
	l.mu.seg, l.mu.off, l.mu.file = next, 0, nil
	l.mu.buf = l.spare[:0]
	l.mu.Unlock()

	var err error
	if len(data) > 0 {
		if _, werr := old.Write(data); werr != nil {
			err = fmt.Errorf("wal: write segment %06d: %w", oldSeg, werr)
		}
	}
	if err == nil {
		if serr := old.Sync(); serr != nil {
			err = fmt.Errorf("wal: sync segment %06d: %w", oldSeg, serr)
		}
	}
	if cerr := old.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close segment %06d: %w", oldSeg, cerr)
	}
	l.keepSpare(data)
	var f vfs.File
	if err == nil {
		f, err = l.createSegment(next)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.mu.err = err
		return 0, err
	}
	l.mu.file = f
	if p := (Pos{Segment: oldSeg, Offset: oldEnd}); p.Compare(l.mu.synced) > 0 {
		l.mu.synced = p
	}
	return next, nil
}

// RemoveBefore deletes the segments numbered less than segment (never the
// current one) and fsyncs the directory.
func (l *Log) RemoveBefore(segment int) error {
	l.mu.Lock()
	segment = min(segment, l.mu.seg)
	closed := l.mu.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	names, err := l.opts.FS.List(l.opts.Dir)
	if err != nil {
		return fmt.Errorf("wal: list dir: %w", err)
	}
	removed := false
	for _, name := range names {
		if n, ok := parseSegmentName(name); ok && n < segment {
			if err := l.opts.FS.Remove(filepath.Join(l.opts.Dir, name)); err != nil {
				return fmt.Errorf("wal: remove segment %06d: %w", n, err)
			}
			removed = true
		}
	}
	if removed {
		if err := vfs.SyncDir(l.opts.FS, l.opts.Dir); err != nil {
			return fmt.Errorf("wal: remove segments: sync dir: %w", err)
		}
	}
	return nil
}

// Segment returns the number of the segment appends go to.
func (l *Log) Segment() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.seg
}

// Close writes out and syncs what is buffered (unless NoSync) and closes the
// current segment. It returns the sticky error, if any. Later calls return
// ErrClosed.
func (l *Log) Close() error {
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.mu.closed = true
	l.mu.Unlock()
	err := l.flushLocked(true)
	l.mu.Lock()
	f := l.mu.file
	l.mu.file = nil
	l.mu.Unlock()
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("wal: close segment: %w", cerr)
		}
	}
	return err
}

package wal

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by operations on a closed Log.
var ErrClosed = errors.New("wal: log closed")

// CorruptionError reports damage in the log that is not a torn tail: the log
// refuses to open rather than lose or invent records.
type CorruptionError struct {
	Segment int    // segment number
	Offset  int64  // byte offset of the offending chunk in the segment
	Path    string // the segment file
	Reason  string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in %s (segment %06d) at offset %d: %s", e.Path, e.Segment, e.Offset, e.Reason)
}

// IsCorruption reports whether err is or wraps a *CorruptionError.
func IsCorruption(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

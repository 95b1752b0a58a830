// Package errs defines the error values and types that Sextant returns to its
// callers. Package sextant re-exports every one of them, so callers match them
// with errors.Is / errors.As against the sextant names; internal packages
// produce them without importing the root package.
package errs

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every error Sextant returns for bad input wraps one of them.
var (
	ErrNotFound          = errors.New("not found")
	ErrAlreadyExists     = errors.New("already exists")
	ErrInvalidName       = errors.New("invalid name")
	ErrInvalidArgument   = errors.New("invalid argument")
	ErrDimensionMismatch = errors.New("dimension mismatch")
	ErrInvalidVector     = errors.New("invalid vector")
	ErrDuplicateID       = errors.New("duplicate id")
	ErrInvalidMetadata   = errors.New("invalid metadata")
	ErrConfigConflict    = errors.New("config conflict")
	ErrModelMismatch     = errors.New("embedding model mismatch")
	ErrClosed            = errors.New("closed")
	ErrReadOnly          = errors.New("collection is read-only after a storage failure")
	ErrInvalidFilter     = errors.New("invalid filter")
)

// RecordError says which record of a batch was refused and why. The whole
// batch is refused with it; nothing of the batch is applied.
type RecordError struct {
	ID     string // the record's id
	Index  int    // its position in the batch
	Reason string // what is wrong, in words
	Err    error  // the sentinel: ErrDimensionMismatch, ErrInvalidVector, ...
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %s (batch index %d): %s", QuoteID(e.ID), e.Index, e.Reason)
}

// QuoteID quotes an id for an error message, cut to its first 64 bytes (on
// a rune boundary) and followed by "..." when it is longer: a refused
// megabyte id must not make a megabyte message.
func QuoteID(id string) string {
	const limit = 64
	if len(id) <= limit {
		return strconv.Quote(id)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return strconv.Quote(id[:cut]) + "..."
}

func (e *RecordError) Unwrap() error { return e.Err }

// Record builds a *RecordError.
func Record(sentinel error, index int, id, format string, args ...any) error {
	return &RecordError{ID: id, Index: index, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

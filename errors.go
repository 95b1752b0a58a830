package sextant

import "github.com/sextantdb/sextant/internal/errs"

// Errors returned by Sextant. Match them with errors.Is; a refused record of
// a batch is a *RecordError that wraps one of them.
var (
	ErrNotFound          = errs.ErrNotFound
	ErrAlreadyExists     = errs.ErrAlreadyExists
	ErrInvalidName       = errs.ErrInvalidName
	ErrInvalidArgument   = errs.ErrInvalidArgument
	ErrDimensionMismatch = errs.ErrDimensionMismatch
	ErrInvalidVector     = errs.ErrInvalidVector
	ErrDuplicateID       = errs.ErrDuplicateID
	ErrInvalidMetadata   = errs.ErrInvalidMetadata
	ErrInvalidFilter     = errs.ErrInvalidFilter
	ErrConfigConflict    = errs.ErrConfigConflict
	// ErrModelMismatch: a request declared another embedding model than the
	// collection's pin (or a get-or-create named another), or a change
	// would replace the pin without saying so.
	ErrModelMismatch = errs.ErrModelMismatch
	ErrClosed        = errs.ErrClosed
	ErrReadOnly      = errs.ErrReadOnly
)

// RecordError names the record of a batch that was refused, and why. The
// whole batch was refused; nothing of it was applied.
type RecordError = errs.RecordError

package engine

import "github.com/sextantdb/sextant/internal/errs"

var (
	errNotFound          = errs.ErrNotFound
	errDimensionMismatch = errs.ErrDimensionMismatch
	errInvalidVector     = errs.ErrInvalidVector
	errDuplicateID       = errs.ErrDuplicateID
	errAlreadyExists     = errs.ErrAlreadyExists
	errInvalidArgument   = errs.ErrInvalidArgument
)

package engine

import (
	"errors"

	"github.com/sextantdb/sextant/internal/errs"
)

var (
	errNotFound          = errs.ErrNotFound
	errDimensionMismatch = errs.ErrDimensionMismatch
	errInvalidVector     = errs.ErrInvalidVector
	errDuplicateID       = errs.ErrDuplicateID
	errAlreadyExists     = errs.ErrAlreadyExists
	errInvalidArgument   = errs.ErrInvalidArgument
)

// errUnknownRules refuses a command logged under a version of the input
// rules this build does not know (a newer build wrote it): it is neither
// applied nor skipped, and the log does not open.
var errUnknownRules = errors.New("command logged under unknown input rules")

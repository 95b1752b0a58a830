package chroma

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sextantdb/sextant"
)

// Error names of Chroma's error bodies (§7). Every code without a special
// name is "ChromaError".
const (
	errInvalidArgument = "InvalidArgumentError"
	errNotFound        = "NotFoundError"
	errInternal        = "InternalError"
	errChroma          = "ChromaError"
)

// apiError is an error answered as-is: status, Chroma error name, message.
type apiError struct {
	status int
	name   string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.name, e.msg) }

// errorBody is Chroma's error response body.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func newError(status int, name, format string, args ...any) *apiError {
	return &apiError{status: status, name: name, msg: fmt.Sprintf(format, args...)}
}

// invalidArg is a 400 InvalidArgumentError.
func invalidArg(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, errInvalidArgument, format, args...)
}

// unprocessable is axum's 422 for a body that is JSON but not of the
// expected shape (§7).
func unprocessable(format string, args ...any) *apiError {
	return newError(http.StatusUnprocessableEntity, errChroma,
		"Failed to deserialize the JSON body into the target type: "+format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, errNotFound, format, args...)
}

func unimplemented(format string, args ...any) *apiError {
	return newError(http.StatusNotImplemented, errChroma, format, args...)
}

// toAPIError maps an error of package sextant (or of decoding) to Chroma's
// status and error name (§7).
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, errChroma, "request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, sextant.ErrInvalidFilter):
		return invalidFilter(err)
	case errors.Is(err, sextant.ErrNotFound):
		return notFound("%s", err.Error())
	case errors.Is(err, sextant.ErrModelMismatch):
		return newError(http.StatusConflict, errChroma, "%s", err.Error())
	case errors.Is(err, sextant.ErrAlreadyExists):
		return newError(http.StatusConflict, errChroma, "%s", err.Error())
	case errors.Is(err, sextant.ErrInvalidName), errors.Is(err, sextant.ErrInvalidArgument),
		errors.Is(err, sextant.ErrDimensionMismatch), errors.Is(err, sextant.ErrInvalidVector),
		errors.Is(err, sextant.ErrDuplicateID), errors.Is(err, sextant.ErrInvalidMetadata),
		errors.Is(err, sextant.ErrConfigConflict):
		return invalidArg("%s", err.Error())
	case errors.Is(err, sextant.ErrClosed):
		return newError(http.StatusServiceUnavailable, errChroma, "%s", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, errChroma, "%s", err.Error())
	case errors.Is(err, context.Canceled):
		return newError(http.StatusBadRequest, errChroma, "%s", err.Error())
	}
	return newError(http.StatusInternalServerError, errInternal, "%s", err.Error())
}

// invalidFilter words a filter error as Chroma does: "Invalid where clause"
// or "Invalid where document clause", followed by Sextant's detail, which
// names the offending node.
func invalidFilter(err error) *apiError {
	msg := err.Error()
	if strings.Contains(msg, "where_document") {
		return invalidArg("Invalid where document clause: %s", msg)
	}
	return invalidArg("Invalid where clause: %s", msg)
}

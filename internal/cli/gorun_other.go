//go:build !linux

package cli

import "log/slog"

// stopWithGoRun does nothing outside Linux: a SIGTERM sent to `go run`
// there leaves the server running. Services run bin/sextant (make build).
func stopWithGoRun(*slog.Logger) {}

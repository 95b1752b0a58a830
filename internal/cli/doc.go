// Package cli implements the sextant command: one cobra command per file,
// each a thin layer over the root package sextant.
//
// # Commands
//
//   - version: prints the build's version.
//   - serve: opens a DB (default ./sextant-data) and serves HTTP with the
//     standard library; SIGINT/SIGTERM shut the server down, then close the DB.
//     Started by `go run` on Linux, it also stops when go run exits (gorun.go).
//   - bench: builds a fresh collection from .fvecs files and measures build
//     time, memory per vector, recall@k, QPS and latency per ef, in the
//     JSON-lines format shared with shared/bench/hnswlib-native (see
//     docs/bench.md).
//
// # Conventions
//
// Commands write results to cmd.OutOrStdout() and diagnostics to
// cmd.ErrOrStderr(), so tests run them in-process with buffers. Errors are
// returned, never printed and exited on inside a command; [Main] prints them
// once and turns them into the exit status.
package cli

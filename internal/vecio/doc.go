// Package vecio reads and writes the TEXMEX vector files that ANN benchmarks
// use: .fvecs (float32 rows) and .ivecs (int32 rows, e.g. ground-truth ids).
//
// # Format
//
// A file is a sequence of rows. Each row is a little-endian int32 d, the
// dimension, followed by d little-endian values (float32 for .fvecs, int32
// for .ivecs). Every row of a file has the same d. This is the layout of
// SIFT1M, faiss, hnswlib and the data sets in shared/data.
//
// Rows are returned in one flat slice (a [Matrix]), not one slice per row, so
// a 50,000 × 512 file is one allocation of 100 MB rather than 50,000.
//
// # Errors
//
// A malformed file (a dimension ≤ 0 or above [MaxDim], rows of different
// dimensions, a truncated last row, an empty file) is an error that names the
// row and byte offset; the readers never panic on bad input.
//
// # Concurrency
//
// The functions are safe for concurrent use. A Matrix is not safe for
// concurrent writes.
package vecio

// Package testutil holds helpers shared by Sextant's tests and benchmarks:
// readers for the fvecs/ivecs data sets in ../shared/data, recall@k, and the
// lookup of the data directory. Library code never imports it.
package testutil

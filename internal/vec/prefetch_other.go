//go:build !amd64 || purego

package vec

// Prefetch is a no-op here: only the amd64 build has a prefetch instruction
// wired in. See prefetch_amd64.go.
func Prefetch(v []float32, lines int) {}

// PrefetchUint32 is a no-op here, like Prefetch.
func PrefetchUint32(v []uint32, lines int) {}

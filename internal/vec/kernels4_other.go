//go:build !amd64 || purego

package vec

func dot4Impl(q, a, b, c, d []float32, out *[4]float32)  { dot4Generic(q, a, b, c, d, out) }
func l2sq4Impl(q, a, b, c, d []float32, out *[4]float32) { l2sq4Generic(q, a, b, c, d, out) }

//go:build amd64 && !purego

package vec

//go:noescape
func dot4AVX2(q []float32, v0, v1, v2, v3 *float32, out *[4]float32)

//go:noescape
func l2sq4AVX2(q []float32, v0, v1, v2, v3 *float32, out *[4]float32)

// dot4Impl and l2sq4Impl use the four-way AVX2 kernels when the AVX2 set is
// in use (the arguments are checked: each vector has len(q) elements).
func dot4Impl(q, a, b, c, d []float32, out *[4]float32) {
	if !wide4 || len(q) == 0 {
		dot4Generic(q, a, b, c, d, out)
		return
	}
	dot4AVX2(q, &a[0], &b[0], &c[0], &d[0], out)
}

func l2sq4Impl(q, a, b, c, d []float32, out *[4]float32) {
	if !wide4 || len(q) == 0 {
		l2sq4Generic(q, a, b, c, d, out)
		return
	}
	l2sq4AVX2(q, &a[0], &b[0], &c[0], &d[0], out)
}

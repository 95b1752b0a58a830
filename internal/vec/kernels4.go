package vec

// Dot4 sets out[i] to the inner product of q and the i-th of a, b, c, d (each
// at least len(q) long; it panics otherwise). With the AVX2 kernels it is one
// pass that loads q once for the four; the graph search uses it on small
// dimensions, where a distance is a few nanoseconds and the per-call work
// (argument passing, the horizontal sum) is a large share of it.
func Dot4(q, a, b, c, d []float32, out *[4]float32) {
	check4(q, a, b, c, d)
	dot4Impl(q, a, b, c, d, out)
}

// L2Sq4 is Dot4 for the squared Euclidean distance.
func L2Sq4(q, a, b, c, d []float32, out *[4]float32) {
	check4(q, a, b, c, d)
	l2sq4Impl(q, a, b, c, d, out)
}

func check4(q, a, b, c, d []float32) {
	if n := len(q); len(a) < n || len(b) < n || len(c) < n || len(d) < n {
		panic("vec: Dot4/L2Sq4 with a vector shorter than the query")
	}
}

// dot4Generic and l2sq4Generic are the portable versions (four calls).
func dot4Generic(q, a, b, c, d []float32, out *[4]float32) {
	out[0], out[1], out[2], out[3] = dotImpl(q, a), dotImpl(q, b), dotImpl(q, c), dotImpl(q, d)
}

func l2sq4Generic(q, a, b, c, d []float32, out *[4]float32) {
	out[0], out[1], out[2], out[3] = l2Impl(q, a), l2Impl(q, b), l2Impl(q, c), l2Impl(q, d)
}

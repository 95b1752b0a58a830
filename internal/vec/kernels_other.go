//go:build !amd64 || purego

package vec

// archKernels: no assembly kernels on this architecture or under purego.
func archKernels() []kernelSet { return nil }

// defaultKernelOrder: only the portable kernels exist here.
var defaultKernelOrder = []string{"generic"}

//go:build linux

package vec

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestKernelsGuardPage puts both slices' last element at the end of a page
// whose successor is unmapped, so a kernel that reads even one float past
// len (a wide load, or a masked load whose mask is wrong) faults.
func TestKernelsGuardPage(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	require.NoError(t, err)
	defer syscall.Munmap(mem)
	require.NoError(t, syscall.Mprotect(mem[page:], syscall.PROT_NONE))
	// a ends at the guard; b ends off floats before it (off 0: at it too).
	all := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), page/4)
	for i := range all {
		all[i] = float32(i%9 - 4)
	}
	forEachKernelSet(t, func(t *testing.T, k kernelSet) {
		for n := 0; n <= 200; n++ {
			a := all[len(all)-n:]
			for _, off := range []int{0, 1, 3} {
				if n+off > len(all) {
					continue
				}
				b := all[len(all)-n-off : len(all)-off]
				require.Equal(t, dotGeneric(a, b), k.dot(a, b), "dot len %d off %d", n, off)
				require.Equal(t, l2Generic(a, b), k.l2(a, b), "l2 len %d off %d", n, off)
				require.Equal(t, dotGeneric(b, a), k.dot(b, a), "dot swapped len %d off %d", n, off)
			}
		}
	})
}

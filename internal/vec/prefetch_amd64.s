//go:build amd64 && !purego

#include "textflag.h"

// func prefetchLines(p unsafe.Pointer, lines int)
//
// Issues PREFETCHT0 for lines consecutive 64-byte cache lines from p (lines
// >= 1). A prefetch never faults, so p may point anywhere.
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX

prefetch_loop:
	PREFETCHT0 (AX)
	ADDQ       $64, AX
	DECQ       CX
	JNE        prefetch_loop
	RET

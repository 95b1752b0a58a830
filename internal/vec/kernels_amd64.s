//go:build amd64 && !purego

#include "textflag.h"

// func dotAVX2(a, b []float32) float32
//
// Registers: SI = &a[i], DI = &b[i], CX = elements left,
// Y0..Y3 = the four 8-wide accumulators, Y4..Y7 = loads.
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ    a_base+0(FP), SI
	MOVQ    a_len+8(FP), CX
	MOVQ    b_base+24(FP), DI
	MOVQ    b_len+32(FP), DX
	CMPQ    DX, CX
	CMOVQLT DX, CX // n = min(len(a), len(b)): never read past either slice
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	CMPQ    CX, $32
	JLT     dot_by8

dot_loop32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0   // Y0 += a[i:i+8] * b[i:i+8]
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         dot_loop32

dot_by8:
	CMPQ CX, $8
	JLT  dot_reduce

dot_loop8:
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	CMPQ        CX, $8
	JGE         dot_loop8

dot_reduce:
	// Fold the four accumulators into Y0, then its 8 lanes into X0[0].
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0 // 4 lanes
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0 // 2 lanes
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0 // 1 lane
	TESTQ        CX, CX
	JEQ          dot_done

dot_tail:
	// The last 0..7 elements, one at a time.
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNE         dot_tail

dot_done:
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// func l2AVX2(a, b []float32) float32
//
// Same layout as dotAVX2; each step forms d = a - b and accumulates d*d.
TEXT ·l2AVX2(SB), NOSPLIT, $0-52
	MOVQ    a_base+0(FP), SI
	MOVQ    a_len+8(FP), CX
	MOVQ    b_base+24(FP), DI
	MOVQ    b_len+32(FP), DX
	CMPQ    DX, CX
	CMOVQLT DX, CX
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	CMPQ    CX, $32
	JLT     l2_by8

l2_loop32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      (DI), Y4, Y4   // Y4 = a[i:i+8] - b[i:i+8]
	VSUBPS      32(DI), Y5, Y5
	VSUBPS      64(DI), Y6, Y6
	VSUBPS      96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0     // Y0 += Y4 * Y4
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         l2_loop32

l2_by8:
	CMPQ CX, $8
	JLT  l2_reduce

l2_loop8:
	VMOVUPS     (SI), Y4
	VSUBPS      (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	CMPQ        CX, $8
	JGE         l2_loop8

l2_reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	TESTQ        CX, CX
	JEQ          l2_done

l2_tail:
	VMOVSS      (SI), X1
	VSUBSS      (DI), X1, X1
	VFMADD231SS X1, X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNE         l2_tail

l2_done:
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// func dotAVX512(a, b []float32) float32
//
// Registers: SI = &a[i], DI = &b[i], CX = elements left,
// Z0..Z3 = the four 16-wide accumulators, Z4..Z7 = loads, K1 = tail mask.
TEXT ·dotAVX512(SB), NOSPLIT, $0-52
	MOVQ    a_base+0(FP), SI
	MOVQ    a_len+8(FP), CX
	MOVQ    b_base+24(FP), DI
	MOVQ    b_len+32(FP), DX
	CMPQ    DX, CX
	CMOVQLT DX, CX // n = min(len(a), len(b)): never read past either slice
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPXORD  Z2, Z2, Z2
	VPXORD  Z3, Z3, Z3
	CMPQ    CX, $64
	JLT     dot512_by16

dot512_loop64:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0   // Z0 += a[i:i+16] * b[i:i+16]
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JGE         dot512_loop64

dot512_by16:
	CMPQ CX, $16
	JLT  dot512_tail

dot512_loop16:
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	CMPQ        CX, $16
	JGE         dot512_loop16

dot512_tail:
	// The last 0..15 elements in one step: K1 = (1<<CX)-1 selects them, and
	// the zero-masked loads leave the other lanes 0 without touching memory.
	TESTQ       CX, CX
	JEQ         dot512_reduce
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

dot512_reduce:
	// Fold the four accumulators into Z0, then its 16 lanes into X0[0].
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0 // 8 lanes
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0 // 4 lanes
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0 // 2 lanes
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0 // 1 lane
	VMOVSS        X0, ret+48(FP)
	VZEROUPPER
	RET

// func l2AVX512(a, b []float32) float32
//
// Same layout as dotAVX512; each step forms d = a - b and accumulates d*d.
TEXT ·l2AVX512(SB), NOSPLIT, $0-52
	MOVQ    a_base+0(FP), SI
	MOVQ    a_len+8(FP), CX
	MOVQ    b_base+24(FP), DI
	MOVQ    b_len+32(FP), DX
	CMPQ    DX, CX
	CMOVQLT DX, CX
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPXORD  Z2, Z2, Z2
	VPXORD  Z3, Z3, Z3
	CMPQ    CX, $64
	JLT     l2512_by16

l2512_loop64:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VSUBPS      (DI), Z4, Z4   // Z4 = a[i:i+16] - b[i:i+16]
	VSUBPS      64(DI), Z5, Z5
	VSUBPS      128(DI), Z6, Z6
	VSUBPS      192(DI), Z7, Z7
	VFMADD231PS Z4, Z4, Z0     // Z0 += Z4 * Z4
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JGE         l2512_loop64

l2512_by16:
	CMPQ CX, $16
	JLT  l2512_tail

l2512_loop16:
	VMOVUPS     (SI), Z4
	VSUBPS      (DI), Z4, Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	CMPQ        CX, $16
	JGE         l2512_loop16

l2512_tail:
	TESTQ       CX, CX
	JEQ         l2512_reduce
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VSUBPS      Z5, Z4, Z4     // masked-off lanes: 0 - 0
	VFMADD231PS Z4, Z4, Z1

l2512_reduce:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VMOVSS        X0, ret+48(FP)
	VZEROUPPER
	RET

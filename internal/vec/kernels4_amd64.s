//go:build amd64 && !purego

#include "textflag.h"

// func dot4AVX2(q []float32, v0, v1, v2, v3 *float32, out *[4]float32)
//
// out[i] = dot(q, vi) over len(q) elements: one 8-wide load of q feeds four
// FMA chains (Y0..Y3), the four sums are folded together by three VHADDPS,
// and the last 0..7 elements are done four lanes at a time (q[j] broadcast,
// the vi[j] gathered into one register). AX = byte offset, DX = 8-blocks
// left, CX = tail elements.
TEXT ·dot4AVX2(SB), NOSPLIT, $0-64
	MOVQ   q_base+0(FP), SI
	MOVQ   q_len+8(FP), CX
	MOVQ   v0+24(FP), R8
	MOVQ   v1+32(FP), R9
	MOVQ   v2+40(FP), R10
	MOVQ   v3+48(FP), R11
	MOVQ   out+56(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX
	MOVQ   CX, DX
	SHRQ   $3, DX
	JZ     dot4_reduce

dot4_loop8:
	VMOVUPS     (SI)(AX*1), Y4
	VFMADD231PS (R8)(AX*1), Y4, Y0
	VFMADD231PS (R9)(AX*1), Y4, Y1
	VFMADD231PS (R10)(AX*1), Y4, Y2
	VFMADD231PS (R11)(AX*1), Y4, Y3
	ADDQ        $32, AX
	DECQ        DX
	JNZ         dot4_loop8

dot4_reduce:
	VHADDPS      Y1, Y0, Y0 // [a01 a23 b01 b23 | a45 a67 b45 b67]
	VHADDPS      Y3, Y2, Y2 // [c01 c23 d01 d23 | ...]
	VHADDPS      Y2, Y0, Y0 // [a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7]
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0 // [a b c d]
	ANDQ         $7, CX
	JZ           dot4_store

dot4_tail:
	VBROADCASTSS (SI)(AX*1), X6
	VMOVSS       (R8)(AX*1), X7
	VINSERTPS    $0x10, (R9)(AX*1), X7, X7
	VINSERTPS    $0x20, (R10)(AX*1), X7, X7
	VINSERTPS    $0x30, (R11)(AX*1), X7, X7
	VFMADD231PS  X7, X6, X0
	ADDQ         $4, AX
	DECQ         CX
	JNZ          dot4_tail

dot4_store:
	VMOVUPS    X0, (DI)
	VZEROUPPER
	RET

// func l2sq4AVX2(q []float32, v0, v1, v2, v3 *float32, out *[4]float32)
//
// out[i] = squared Euclidean distance of q and vi, laid out as dot4AVX2.
TEXT ·l2sq4AVX2(SB), NOSPLIT, $0-64
	MOVQ   q_base+0(FP), SI
	MOVQ   q_len+8(FP), CX
	MOVQ   v0+24(FP), R8
	MOVQ   v1+32(FP), R9
	MOVQ   v2+40(FP), R10
	MOVQ   v3+48(FP), R11
	MOVQ   out+56(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX
	MOVQ   CX, DX
	SHRQ   $3, DX
	JZ     l24_reduce

l24_loop8:
	VMOVUPS     (SI)(AX*1), Y4
	VSUBPS      (R8)(AX*1), Y4, Y5
	VSUBPS      (R9)(AX*1), Y4, Y6
	VSUBPS      (R10)(AX*1), Y4, Y7
	VSUBPS      (R11)(AX*1), Y4, Y8
	VFMADD231PS Y5, Y5, Y0
	VFMADD231PS Y6, Y6, Y1
	VFMADD231PS Y7, Y7, Y2
	VFMADD231PS Y8, Y8, Y3
	ADDQ        $32, AX
	DECQ        DX
	JNZ         l24_loop8

l24_reduce:
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	ANDQ         $7, CX
	JZ           l24_store

l24_tail:
	VBROADCASTSS (SI)(AX*1), X6
	VMOVSS       (R8)(AX*1), X7
	VINSERTPS    $0x10, (R9)(AX*1), X7, X7
	VINSERTPS    $0x20, (R10)(AX*1), X7, X7
	VINSERTPS    $0x30, (R11)(AX*1), X7, X7
	VSUBPS       X7, X6, X7
	VFMADD231PS  X7, X7, X0
	ADDQ         $4, AX
	DECQ         CX
	JNZ          l24_tail

l24_store:
	VMOVUPS    X0, (DI)
	VZEROUPPER
	RET

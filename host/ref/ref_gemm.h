/* host/ref/ref_gemm.h: plain-C reference of fcl_gemm over host float arrays (tests only; accumulates in double). */
#ifndef FACECL_REF_GEMM_H
#define FACECL_REF_GEMM_H

#include "facecl/gemm.h"

/* The semantics of fcl_gemm (facecl/gemm.h: leading dimensions 0 mean tight, offsets and batch
 * strides in elements, beta 0 ignores NaN in C as BLAS does) over host arrays. */
void fcl_ref_gemm(float *c, const float *a, const float *b, const fcl_gemm_params *p);

#endif

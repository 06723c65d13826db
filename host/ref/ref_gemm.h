/* host/ref/ref_gemm.h: plain-C reference of fcl_gemm over host float arrays, and the double product the
 * other references share (tests only; accumulates in double). */
#ifndef FACECL_REF_GEMM_H
#define FACECL_REF_GEMM_H

#include "facecl/gemm.h"

/* The semantics of fcl_gemm (facecl/gemm.h: leading dimensions 0 mean tight, offsets and batch
 * strides in elements, beta 0 ignores NaN in C as BLAS does) over host arrays. */
void fcl_ref_gemm(float *c, const float *a, const float *b, const fcl_gemm_params *p);

/* The references' own product in double: c [m, n] += op(a) op(b), op(a) [m, k] (a stored [k, m]
 * when ta), op(b) [k, n] (b stored [n, k] when tb); tight rows. */
void fcl_ref_matmul_acc(double *c, const double *a, const double *b, size_t m, size_t n, size_t k, int ta,
                        int tb);

#endif

/* facecl/gemm.h: row-major single-precision GEMM through CLBlast (its plain-C reference is test-only: host/ref/ref_gemm.h). */
#ifndef FACECL_GEMM_H
#define FACECL_GEMM_H

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, all row-major.
 * op(A) is A (stored m x k, lda >= k) or A^T (stored k x m, lda >= m); likewise B.
 * Offsets are in elements. batch > 1 repeats it with the given element strides. */
typedef struct fcl_gemm_params {
    int trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    size_t lda, ldb, ldc;            /* 0 means "tight" (the stored row length) */
    size_t a_off, b_off, c_off;
    size_t batch;                    /* 0 or 1: single */
    size_t stride_a, stride_b, stride_c;
} fcl_gemm_params;

fcl_status fcl_gemm(fcl_ctx *ctx, cl_mem c, cl_mem a, cl_mem b, const fcl_gemm_params *p);

/* Applies tuned CLBlast parameters for this device from "<cache>/clblast-<device-key>.txt"
 * (lines: "Xgemm KWG=32 KWI=2 ..."), if that file exists. Called by fcl_ctx_create; a malformed
 * file is an error naming the line. *applied counts kernels overridden. */
fcl_status fcl_gemm_load_tuning(fcl_ctx *ctx, const char *path, int *applied);
/* The path of this device's tuning file (in the cache folder). */
void fcl_gemm_tuning_path(const fcl_ctx *ctx, char *buf, size_t size);

/* The tunable CLBlast kernels ("Xgemm", "XgemmDirect", "GemmRoutine"): fills up to max of the
 * kernel's parameter names and returns how many it has (-1: not one facecl tunes). */
int fcl_gemm_param_names(const char *kernel, const char **names, int max);
/* Checks a full parameter set of such a kernel: every name once, each value in its range, and
 * CLBlast's constraints and this device's limits (work-group size, local memory). */
fcl_status fcl_gemm_check_override(fcl_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                                   const size_t *values);
/* Checks, then applies it with CLBlastOverrideParameters: CLBlast keeps it for this device in the
 * whole process (not per context) and rebuilds its GEMM with it at the next call. */
fcl_status fcl_gemm_override(fcl_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                             const size_t *values);
/* The Xgemm parameter sets `facecl tune` tries on this device, in its order, each valid here
 * (values in fcl_gemm_param_names order): how many were written (at most max). */
int fcl_gemm_xgemm_candidates(fcl_ctx *ctx, size_t (*values)[16], int max);
/* 1: a row-major GEMM of m x n x k may run on CLBlast in the ops (linear layers, margin heads:
 * host/ops/op_util.c fcl_op_gemm, when CONV_LINEAR is 0); 0: on the CPU kernels (CONV_GPU 0) one of
 * 2^26 multiply-adds or more always takes facecl's conv GEMMs (`facecl tune` leaves it out). */
int fcl_gemm_clblast_may_run(const fcl_ctx *ctx, size_t m, size_t n, size_t k);

#ifdef __cplusplus
}
#endif
#endif

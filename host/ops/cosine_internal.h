/* host/ops/cosine_internal.h: the cosine-similarity matrix's pieces (host/ops/loss.c) that the margin heads (host/ops/margin.c) fuse with their own passes. */
#ifndef FCL_OPS_COSINE_INTERNAL_H
#define FCL_OPS_COSINE_INTERNAL_H

#include "facecl/tensor.h"

/* r [n] = 1 / max(||rows of x [n, d]||, FCL_L2NORM_EPS), a new pooled tensor (released by the caller). */
fcl_status fcl_cos_inv_norms(fcl_ctx *ctx, const fcl_tensor *x, size_t n, size_t d, fcl_tensor *r);

/* The cosine matrix's backward from D = diag(ra) dS diag(rb) [na, nb] (dS its gradient, ra / rb
 * the inverse row norms of a [na, d] / b [nb, d]): da += l2norm_bwd of D b, db += that of D^T a
 * (either may be NULL). */
fcl_status fcl_cos_bwd_scaled(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db, const fcl_tensor *dsr, const fcl_tensor *a,
                              const fcl_tensor *b, size_t na, size_t nb, size_t d);
/* its da alone from D in panels of pw columns (dt: D(i, j) at ((j / pw) na + i) pw + j % pw,
 * cl/margin_head.cl HEAD_PANEL), where fcl_op_gemm_ab_panels_ok(na, d, nb, pw) (host/ops/op_util.h) */
fcl_status fcl_cos_bwd_scaled_panels(fcl_ctx *ctx, fcl_tensor *da, const fcl_tensor *dt, size_t pw, const fcl_tensor *a,
                                     const fcl_tensor *b, size_t na, size_t nb, size_t d);

#endif

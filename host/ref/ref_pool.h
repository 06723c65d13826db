/* host/ref/ref_pool.h: plain-C double references of max / average / adaptive pooling (tests, FD). */
#ifndef FACECL_REF_POOL_H
#define FACECL_REF_POOL_H

#include <stddef.h>
#include "facecl/ops_pool.h"

/* Same semantics as the launchers in include/facecl/ops_pool.h over host arrays:
 * x, dx [n, c, h, w]; y, dy, idx [n, c, oh, ow] (the caller computes oh, ow, e.g. with
 * fcl_pool2d_out_hw). The forwards are written as PyTorch's CPU loops; the backwards scatter
 * (the kernels gather), so the two formulations check each other. dx accumulates. */
void fcl_ref_maxpool2d_fwd(double *y, double *idx, const double *x, size_t n, size_t c, size_t h,
                           size_t w, size_t oh, size_t ow, const fcl_pool2d_params *p);
void fcl_ref_maxpool2d_bwd(double *dx, const double *dy, const double *idx, size_t n, size_t c,
                           size_t h, size_t w, size_t oh, size_t ow);
void fcl_ref_avgpool2d_fwd(double *y, const double *x, size_t n, size_t c, size_t h, size_t w,
                           size_t oh, size_t ow, const fcl_pool2d_params *p);
void fcl_ref_avgpool2d_bwd(double *dx, const double *dy, size_t n, size_t c, size_t h, size_t w,
                           size_t oh, size_t ow, const fcl_pool2d_params *p);
void fcl_ref_adaptive_avgpool2d_fwd(double *y, const double *x, size_t n, size_t c, size_t h,
                                    size_t w, size_t oh, size_t ow);
void fcl_ref_adaptive_avgpool2d_bwd(double *dx, const double *dy, size_t n, size_t c, size_t h,
                                    size_t w, size_t oh, size_t ow);

#endif

/* host/ref/ref_conv.h: plain-C double references of 2-D convolution (tests, finite differences). */
#ifndef FACECL_REF_CONV_H
#define FACECL_REF_CONV_H

#include "facecl/ops_conv.h"

/* Same semantics and argument order as fcl_conv2d_fwd / fcl_conv2d_bwd_* (include/facecl/
 * ops_conv.h) over host arrays: x, dx [n][cin][h][w]; w, dw [cout][cin/groups][kh][kw];
 * b, db [cout]; y, dy [n][cout][oh][ow]. p must pass fcl_conv2d_check (p->algo is ignored).
 * b may be NULL in the forward. The backward functions ACCUMULATE into their output. */
void fcl_ref_conv2d_fwd(double *y, const double *x, const double *w, const double *b,
                        const fcl_conv2d_params *p);
void fcl_ref_conv2d_bwd_data(double *dx, const double *dy, const double *w,
                             const fcl_conv2d_params *p);
void fcl_ref_conv2d_bwd_weight(double *dw, const double *dy, const double *x,
                               const fcl_conv2d_params *p);
void fcl_ref_conv2d_bwd_bias(double *db, const double *dy, const fcl_conv2d_params *p);

#endif

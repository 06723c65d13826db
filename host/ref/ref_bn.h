/* host/ref/ref_bn.h: plain-C double references of batch normalisation (tests, finite differences). */
#ifndef FACECL_REF_BN_H
#define FACECL_REF_BN_H

#include <stddef.h>
#include "facecl/ops_bn.h"

/* Same semantics and argument order as fcl_bn2d_fwd / _bwd / _fold (include/facecl/ops_bn.h),
 * over host arrays: x, y, dx, dy [n, c, inner]; per-channel arrays [c]. NULL where the
 * launcher allows NULL. */
void fcl_ref_bn2d_fwd(double *y, double *save_mean, double *save_invstd, double *running_mean,
                      double *running_var, const double *x, const double *gamma,
                      const double *beta, size_t n, size_t c, size_t inner,
                      const fcl_bn2d_params *p);
void fcl_ref_bn2d_bwd(double *dx, double *dgamma, double *dbeta, const double *dy,
                      const double *x, const double *gamma, const double *save_mean,
                      const double *save_invstd, size_t n, size_t c, size_t inner,
                      const fcl_bn2d_params *p);
/* fcl_bn2d_relu_fwd / _bwd: y = relu(bn(x) + r) (r may be NULL); backward from the saved y. */
void fcl_ref_bn2d_relu_fwd(double *y, double *save_mean, double *save_invstd, double *running_mean,
                           double *running_var, const double *x, const double *r, const double *gamma,
                           const double *beta, size_t n, size_t c, size_t inner, const fcl_bn2d_params *p);
void fcl_ref_bn2d_relu_bwd(double *dx, double *dgamma, double *dbeta, double *dr, const double *dy,
                           const double *y, const double *x, const double *gamma, const double *save_mean,
                           const double *save_invstd, size_t n, size_t c, size_t inner,
                           const fcl_bn2d_params *p);
/* fcl_bn2d_act_fwd_wg / _bwd_wg: y = act(bn(x) + r), act 0 none, 1 ReLU, 2 ReLU6 (clamp to
 * [0, 6]); the backward masks dy by the saved y (act 1: y > 0; 2: 0 < y < 6; y unused for 0). */
void fcl_ref_bn2d_act_fwd(double *y, double *save_mean, double *save_invstd, double *running_mean,
                          double *running_var, const double *x, const double *r, const double *gamma,
                          const double *beta, size_t n, size_t c, size_t inner, const fcl_bn2d_params *p, int act);
void fcl_ref_bn2d_act_bwd(double *dx, double *dgamma, double *dbeta, double *dr, const double *dy,
                          const double *y, const double *x, const double *gamma, const double *save_mean,
                          const double *save_invstd, size_t n, size_t c, size_t inner,
                          const fcl_bn2d_params *p, int act);
/* w, w_out [cout, per_out]; b, b_out [cout]. */
void fcl_ref_bn2d_fold(double *w_out, double *b_out, const double *w, const double *b,
                       const double *gamma, const double *beta, const double *running_mean,
                       const double *running_var, double eps, size_t cout, size_t per_out);

#endif

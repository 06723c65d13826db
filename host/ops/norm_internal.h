/* host/ops/norm_internal.h: LayerNorm2d / layer-scale / weight-standardisation launchers with a forced reduction group size (tests). */
#ifndef FACECL_OPS_NORM_INTERNAL_H
#define FACECL_OPS_NORM_INTERNAL_H

#include "facecl/ops_norm.h"

/* fcl_ln2d_bwd / fcl_layer_scale_bwd with the work-group size of the per-channel parameter
 * sums forced to `forced_wg` (rounded down to a power of two and the device limit; 0: the
 * tuned value the public functions use), so the tests check the one-work-item and the tree
 * paths on any device. */
fcl_status fcl_ln2d_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dweight, fcl_tensor *dbias,
                           const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *weight,
                           const fcl_tensor *save_mean, const fcl_tensor *save_rstd, int forced_wg);
fcl_status fcl_layer_scale_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, const fcl_tensor *dy,
                                  const fcl_tensor *x, const fcl_tensor *gamma, int forced_wg);
/* fcl_wstd_fwd / fcl_wstd_bwd with the per-output-channel group size forced likewise. */
fcl_status fcl_wstd_fwd_wg(fcl_ctx *ctx, fcl_tensor *w_hat, const fcl_tensor *w, const fcl_tensor *gain,
                           float scale, float eps, int forced_wg);
fcl_status fcl_wstd_bwd_wg(fcl_ctx *ctx, fcl_tensor *dw, fcl_tensor *dgain, const fcl_tensor *dw_hat,
                           const fcl_tensor *w, const fcl_tensor *gain, float scale, float eps,
                           int forced_wg);

#endif

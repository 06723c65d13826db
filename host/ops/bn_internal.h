/* host/ops/bn_internal.h: batch-norm launchers with an explicit reduction group size (tests, internal). */
#ifndef FACECL_OPS_BN_INTERNAL_H
#define FACECL_OPS_BN_INTERNAL_H

#include "facecl/ops_bn.h"

/* fcl_bn2d_fwd / fcl_bn2d_bwd with the work-group size of the per-channel reductions forced to
 * `forced_wg` (rounded down to a power of two and the device limit; 0: the device's tuned
 * value, which is what the public functions use). The tuned value on PoCL CPUs is 1 (one
 * work-item walks a channel), GPUs use a tree over 256: the tests force both, so each path is
 * checked on any device. */
fcl_status fcl_bn2d_fwd_wg(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                           fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                           const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p,
                           int forced_wg);
fcl_status fcl_bn2d_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                           const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                           const fcl_tensor *save_mean, const fcl_tensor *save_invstd,
                           const fcl_bn2d_params *p, int forced_wg);
/* The same for fcl_bn2d_relu_fwd / fcl_bn2d_relu_bwd. */
fcl_status fcl_bn2d_relu_fwd_wg(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                                fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                                const fcl_tensor *res, const fcl_tensor *gamma, const fcl_tensor *beta,
                                const fcl_bn2d_params *p, int forced_wg);
fcl_status fcl_bn2d_relu_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                                fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                                const fcl_tensor *gamma, const fcl_tensor *save_mean,
                                const fcl_tensor *save_invstd, const fcl_bn2d_params *p, int forced_wg);

/* The fused epilogue of fcl_bn2d_act_*: y = act(bn(x) [+ res]) with act none, ReLU or ReLU6
 * (min(max(v, 0), 6), NaN kept as in fcl_act_fwd). The backward masks dy through the activation
 * from the saved output y (ReLU: y > 0; ReLU6: 0 < y < 6, the same as fcl_act_bwd's 0 < x < 6
 * on the activation's input); with dres it also adds the masked dy to the residual's gradient,
 * and y is required with an activation and dres. Without dres it does not read y (NULL allowed):
 * it recomputes the activation's input bn(x) from x, gamma, beta (the forward's; NULL when it
 * had none) and the saved statistics with the forward kernel's own expression (the same floats,
 * so the same mask), which saves two reads of y per element. The relu functions are these with
 * FCL_BN_ACT_RELU, except that their backward always reads y (required). */
typedef enum fcl_bn_act { FCL_BN_ACT_NONE = 0, FCL_BN_ACT_RELU, FCL_BN_ACT_RELU6 } fcl_bn_act;
fcl_status fcl_bn2d_act_fwd_wg(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                               fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                               const fcl_tensor *res, const fcl_tensor *gamma, const fcl_tensor *beta,
                               const fcl_bn2d_params *p, fcl_bn_act act, int forced_wg);
fcl_status fcl_bn2d_act_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                               fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                               const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_tensor *save_mean,
                               const fcl_tensor *save_invstd, const fcl_bn2d_params *p, fcl_bn_act act,
                               int forced_wg);
/* fcl_bn2d_act_bwd_wg whose outputs named in `set` are overwritten (dx = ..., dres = g) instead of
 * accumulated: their earlier contents are never read (anything, NaN included, may be there).
 * The network engine passes them where a gradient buffer has no earlier contribution, which saves
 * zeroing it and reading it back. From a zeroed buffer the accumulation gives the same floats.
 * A flag for an output that is NULL, or an unknown flag, is FCL_ERR_INVALID_ARG. */
enum { FCL_BN_SET_DX = 1, FCL_BN_SET_DRES = 2 };
fcl_status fcl_bn2d_act_bwd_set(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                                fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                                const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_tensor *save_mean,
                                const fcl_tensor *save_invstd, const fcl_bn2d_params *p, fcl_bn_act act,
                                int forced_wg, int set);

#endif

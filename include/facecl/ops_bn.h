/* facecl/ops_bn.h: batch normalisation over channels (training and inference) and folding into a conv. */
#ifndef FACECL_OPS_BN_H
#define FACECL_OPS_BN_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Semantics of torch.nn.BatchNorm2d (and BatchNorm1d on [N, C] tensors).
 * Shapes: x, y, dx, dy [N, C, H, W] (ndim 2..4; the channel is dim 1, dims after it are the
 * "inner" extent, 1 when absent); every per-channel vector (gamma, beta, running_*, save_*,
 * dgamma, dbeta) has numel C. Each channel is reduced by one work-group with a fixed-order tree,
 * so results are bit-reproducible on a device. */
typedef struct fcl_bn2d_params {
    int training;     /* 1: normalise with the batch statistics and update the running ones;
                         0: normalise with running_mean / running_var (inference) */
    float eps;        /* added to the variance (PyTorch default 1e-5) */
    float momentum;   /* running = (1 - momentum) * running + momentum * batch (PyTorch 0.1);
                         the cumulative average of momentum=None is not supported */
} fcl_bn2d_params;

/* Forward. y = (x - mean) * invstd * gamma + beta, invstd = 1 / sqrt(var + eps).
 * training: mean and the biased var are the batch statistics over N*H*W (needs N*H*W > 1, as
 *   PyTorch); running_mean/var (if not NULL) become (1-m)*running + m*batch, using the UNBIASED
 *   batch variance var * M / (M - 1), M = N*H*W, as PyTorch does. save_mean / save_invstd (if
 *   not NULL) receive the batch mean and invstd for fcl_bn2d_bwd.
 * inference: running_mean and running_var are required and not changed; save_mean / save_invstd
 *   (if not NULL) receive running_mean and 1 / sqrt(running_var + eps).
 * gamma / beta may be NULL (affine=False: 1 and 0). y may be x (in place). */
fcl_status fcl_bn2d_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                        fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                        const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p);

/* Backward, accumulating into dx, dgamma, dbeta (each may be NULL). save_mean / save_invstd are
 * what fcl_bn2d_fwd wrote with the same p->training. With xhat = (x - mean) * invstd, M = N*H*W:
 *   dbeta += sum(dy), dgamma += sum(dy * xhat) (per channel)
 *   training:  dx += gamma * invstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)
 *   inference: dx += gamma * invstd * dy   (the statistics are constants)
 * gamma may be NULL (1). dx must not overlap dy or x. */
fcl_status fcl_bn2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                        const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                        const fcl_tensor *save_mean, const fcl_tensor *save_invstd,
                        const fcl_bn2d_params *p);

/* BN fused with what follows it in ResNet-style blocks (one pass instead of two or three):
 *   y = relu(bn(x) + res)   (res may be NULL: y = relu(bn(x)))
 * bn(x) is fcl_bn2d_fwd's (training or inference, same statistics, running and saved values);
 * the ReLU keeps NaN (as fcl_act_fwd). res has x's shape and must not overlap y; y may be x. */
fcl_status fcl_bn2d_relu_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                             fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                             const fcl_tensor *res, const fcl_tensor *gamma, const fcl_tensor *beta,
                             const fcl_bn2d_params *p);

/* Its backward from the saved output y, accumulating: g = y > 0 ? dy : 0 (as fcl_act_bwd's ReLU);
 * dres += g; then dx, dgamma, dbeta as fcl_bn2d_bwd with dy = g. Any of dx, dgamma, dbeta, dres
 * may be NULL; dx and dres must not overlap dy, x, y or each other. */
fcl_status fcl_bn2d_relu_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                             fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *gamma, const fcl_tensor *save_mean,
                             const fcl_tensor *save_invstd, const fcl_bn2d_params *p);

/* Folds an inference-mode BN that follows a conv (or linear) layer into that layer:
 *   s = gamma / sqrt(running_var + eps);  w_out[co, ...] = w[co, ...] * s[co];
 *   b_out[co] = (b[co] - running_mean[co]) * s[co] + beta[co]
 * so that bn(conv(x; w, b)) == conv(x; w_out, b_out). w, w_out [Cout, ...] (any ndim, dim 0 is
 * the output channel), b, b_out [Cout]; b may be NULL (a conv without bias), gamma / beta may be
 * NULL (1 / 0). w_out may be w and b_out may be b (in place). */
fcl_status fcl_bn2d_fold(fcl_ctx *ctx, fcl_tensor *w_out, fcl_tensor *b_out, const fcl_tensor *w,
                         const fcl_tensor *b, const fcl_tensor *gamma, const fcl_tensor *beta,
                         const fcl_tensor *running_mean, const fcl_tensor *running_var, float eps);

#ifdef __cplusplus
}
#endif
#endif

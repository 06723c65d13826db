/* facecl/ops_norm.h: LayerNorm over the channels of NCHW tensors (ConvNeXt), layer scale, scaled weight standardisation (NFNet). */
#ifndef FACECL_OPS_NORM_H
#define FACECL_OPS_NORM_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- LayerNorm2d -------------------------------------------------------------------------------
 * torchvision's LayerNorm2d (ConvNeXt's downsampling / classifier norm), which equals ConvNeXt's
 * channels-last nn.LayerNorm(C) between Permute([0, 2, 3, 1]) and its inverse: every pixel
 * (b, h, w) is normalised over its C channel values.
 * Shapes: x, y, dx, dy [N, C, H, W] (ndim 2..4: dims after C are the spatial extent, 1 when
 * absent, so [N, C] is the plain nn.LayerNorm(C)); weight, bias, dweight, dbias: numel C;
 * save_mean, save_rstd: numel N * H * W (one value per pixel, in [N, H, W] order).
 * Forward: mean = sum_c x / C, var = sum_c (x - mean)^2 / C (biased, as PyTorch),
 *   rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * weight[c] + bias[c].
 *   weight / bias may be NULL (1 / 0: elementwise_affine=False); save_* may be NULL (inference).
 *   y may be x (in place). eps: PyTorch default 1e-5; ConvNeXt uses 1e-6.
 * Backward (accumulates; each output may be NULL), xhat = (x - mean) * rstd, g = dy * weight[c]:
 *   dx      += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   dweight += sum over N, H, W of dy * xhat;   dbias += sum over N, H, W of dy
 * save_mean / save_rstd are the forward's. The parameter sums use one work-group per channel
 * and a fixed tree: bit-reproducible per device. dx must not overlap dy, x or the saved values. */
fcl_status fcl_ln2d_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_rstd,
                        const fcl_tensor *x, const fcl_tensor *weight, const fcl_tensor *bias,
                        float eps);
fcl_status fcl_ln2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dweight, fcl_tensor *dbias,
                        const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *weight,
                        const fcl_tensor *save_mean, const fcl_tensor *save_rstd);

/* ---- layer scale -------------------------------------------------------------------------------
 * ConvNeXt's (torchvision CNBlock.layer_scale, shape [C, 1, 1]) learnable per-channel gain:
 * y[b, c, h, w] = x[b, c, h, w] * gamma[c]. x, y, dx, dy [N, C, H, W] (ndim 2..4), gamma and
 * dgamma numel C. y may be x (but the backward's dgamma needs the forward's input x).
 * Backward (accumulates; dx / dgamma may be NULL):
 *   dx += dy * gamma[c];   dgamma[c] += sum over N, H, W of dy * x   (one work-group per
 *   channel, fixed tree: bit-reproducible per device). dx, dgamma must not overlap the inputs. */
fcl_status fcl_layer_scale_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x,
                               const fcl_tensor *gamma);
fcl_status fcl_layer_scale_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, const fcl_tensor *dy,
                               const fcl_tensor *x, const fcl_tensor *gamma);

/* ---- scaled weight standardisation (NFNet) ------------------------------------------------------
 * timm's ScaledStdConv2d / ScaledStdConv2dSame (0.9.16): the conv uses, instead of its weight w,
 *   w_hat[o, :] = gain[o] * scale * (w[o, :] - mean_o) / sqrt(var_o + eps)
 * where mean_o and var_o (biased) run over the K = fan-in = numel(w) / O values of output
 * channel o (F.batch_norm of w.reshape(1, O, -1) in training mode), and
 *   scale = gamma / sqrt(K)    (timm: self.scale = gamma * weight[0].numel() ** -0.5; timm
 *                              0.9.16's nfnet_f0 has gamma_in_act False, so gamma is GELU's
 *                              1.7015043497085571 here and the activations are plain GELU)
 *   eps: timm's NFNet configs pass std_conv_eps 1e-5 (ScaledStdConv2d's own default is 1e-6).
 * Shapes: w, w_hat, dw, dw_hat [O, ...] (any ndim >= 1: dim 0 is the output channel), gain and
 * dgain numel O (timm's [O, 1, 1, 1]; gain NULL means 1). w_hat must not overlap w or gain.
 * Apply it to the weight before each forward (fcl_wstd_fwd into a scratch w_hat, then the conv
 * with w_hat); after the conv's backward has produced dw_hat, fcl_wstd_bwd turns it into the
 * gradients of w and gain. The backward recomputes the statistics from w (no saved state):
 *   xhat = (w - mean) * rstd, rstd = 1 / sqrt(var + eps):
 *   dgain[o] += scale * sum_k dw_hat * xhat
 *   dw       += gain[o] * scale * rstd * (dw_hat - mean_k(dw_hat) - xhat * mean_k(dw_hat * xhat))
 * (accumulates; dw / dgain may be NULL). One work-group per output channel, fixed trees:
 * bit-reproducible per device. */
fcl_status fcl_wstd_fwd(fcl_ctx *ctx, fcl_tensor *w_hat, const fcl_tensor *w, const fcl_tensor *gain,
                        float scale, float eps);
fcl_status fcl_wstd_bwd(fcl_ctx *ctx, fcl_tensor *dw, fcl_tensor *dgain, const fcl_tensor *dw_hat,
                        const fcl_tensor *w, const fcl_tensor *gain, float scale, float eps);

#ifdef __cplusplus
}
#endif
#endif

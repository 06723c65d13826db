/* facecl/ops_attn.h: ResNeSt split attention: radix softmax (r-SoftMax) and radix sums. */
#ifndef FACECL_OPS_ATTN_H
#define FACECL_OPS_ATTN_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- r-SoftMax (timm's RadixSoftmax(radix R, cardinality card)) --------------------------------
 * x, y, dx, dy: [B, ...] with numel per sample K = card * R * rest (in SplitAttn: x is fc2's
 * output [B, R * C, 1, 1], C = card * rest). Within a sample x is read as [card, R, rest] and y
 * is written as [R, card, rest] (torch: x.view(B, card, R, -1).transpose(1, 2), softmax over
 * dim 1, reshape(B, -1)):
 *   y[b, r, g, j] = exp(x[b, g, r, j]) / sum_r' exp(x[b, g, r', j])     (R > 1)
 *   y = sigmoid(x) elementwise                                          (R == 1)
 * so y viewed as [B, R, C] is the attention of radix split r for channel c = g * rest + j (what
 * fcl_radix_sum's `a` expects). y must not overlap x.
 * Backward (saved: y; dy in y's layout): dx[b, g, r, j] += y_r * (dy_r - sum_r' y_r' dy_r')
 * (R == 1: dx += dy * y * (1 - y)). dx must not overlap dy or y. */
fcl_status fcl_rsoftmax_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, int radix, int cardinality);
fcl_status fcl_rsoftmax_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *y,
                            int radix, int cardinality);

/* ---- radix sum (SplitAttn's x.reshape(B, R, C, H, W).sum(1), optionally attention-weighted) ----
 * x [B, R * C, H, W] (ndim 2..4; channel r * C + c is split r of channel c), y [B, C, H, W]
 * (the same dims after the channel), a (may be NULL): numel B * R * C ([B, R * C] or
 * [B, R * C, 1, 1]), the per-(split, channel) attention from fcl_rsoftmax_fwd.
 *   y[b, c, hw] = sum_r x[b, r * C + c, hw] * a[b, r * C + c]   (a == NULL: weight 1; this is
 *   x_gap before the mean; with a it is SplitAttn's output)
 * y must not overlap x or a.
 * Backward (accumulates; dx / da may be NULL; da needs a forward with a):
 *   dx[b, r * C + c, hw] += dy[b, c, hw] * a[b, r * C + c]
 *   da[b, r * C + c]     += sum over hw of dy[b, c, hw] * x[b, r * C + c, hw]
 *   (one work-group per entry of da, fixed tree: bit-reproducible per device). */
fcl_status fcl_radix_sum_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *a,
                             int radix);
fcl_status fcl_radix_sum_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *da, const fcl_tensor *dy,
                             const fcl_tensor *x, const fcl_tensor *a, int radix);

#ifdef __cplusplus
}
#endif
#endif

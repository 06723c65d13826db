/* facecl/ops_pad.h: constant 2-D padding with separate amounts per side (timm's "same" padding). */
#ifndef FACECL_OPS_PAD_H
#define FACECL_OPS_PAD_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.nn.functional.pad(x, (left, right, top, bottom), value=value) on the last two dims:
 * x [N, C, H, W], y [N, C, top + H + bottom, left + W + right]; amounts >= 0. Dims before H
 * may be any (ndim 2..4: [H, W] is one plane, [C, H, W] C planes). y must not overlap x. */
typedef struct fcl_pad2d_params {
    int top, bottom, left, right;
    float value;    /* 0 for zero padding */
} fcl_pad2d_params;

/* timm's get_same_padding / pad_same (TensorFlow "SAME") for one dimension of size `in`, kernel
 * k, stride s, dilation d: total = max((ceil(in / s) - 1) * s + (k - 1) * d + 1 - in, 0),
 * before = total / 2, after = total - before (the extra pixel goes after: bottom / right). */
void fcl_pad_same_amounts(int in, int k, int s, int d, int *before, int *after);

fcl_status fcl_pad2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_pad2d_params *p);
/* dx [N, C, H, W] += the interior of dy (the padding's gradient is dropped). dx must not overlap dy. */
fcl_status fcl_pad2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_pad2d_params *p);

#ifdef __cplusplus
}
#endif
#endif

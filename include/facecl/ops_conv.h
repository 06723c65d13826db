/* facecl/ops_conv.h: 2-D convolution (dense, grouped, depthwise) forward and backward, NCHW. */
#ifndef FACECL_OPS_CONV_H
#define FACECL_OPS_CONV_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Semantics of torch.nn.Conv2d (padding_mode "zeros").
 * Shapes: x, dx [n, cin, h, w]; w, dw [cout, cin / groups, kh, kw]; b, db [cout];
 *         y, dy [n, cout, oh, ow] with oh = fcl_conv2d_out_size(h, kh, stride_h, pad_h, dil_h)
 *         and ow likewise. Tensors are checked by element count (any ndim), so [cout] or
 *         [cout, 1, 1, 1] both do for a bias.
 * groups splits the channels into independent convolutions (ResNeXt): cin and cout must be
 * multiples of it; groups == cin == cout is a depthwise convolution (MobileNet). */
typedef struct fcl_conv2d_params {
    int n, cin, h, w;
    int cout, kh, kw;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dil_h, dil_w;       /* dilation; 1 is an ordinary convolution */
    int groups;             /* 1: dense */
    int algo;               /* 0: automatic; else an fcl_conv2d_algo to force (tests, bench) */
    int out_act;            /* fcl_conv2d_act applied to the forward's output after the bias (0:
                               none); forward only: the backward directions refuse a nonzero one */
} fcl_conv2d_params;

/* The fused output activation of fcl_conv2d_fwd: y = act(conv(x, w) + b), bit for bit the
 * conv followed by fcl_act_fwd with FCL_ACT_RELU / FCL_ACT_RELU6 (NaN propagates). Every path
 * gives it; paths whose kernels do not apply it yet run one in-place pass after them. */
typedef enum fcl_conv2d_act {
    FCL_CONV_ACT_NONE = 0,
    FCL_CONV_ACT_RELU = 1,
    FCL_CONV_ACT_RELU6 = 2
} fcl_conv2d_act;

/* How a convolution is computed (all give the same result up to rounding):
 *   GEMM       im2col (in chunks of images) + register-blocked GEMM; any shape
 *   1X1        the GEMM straight on the NCHW tensors (images whose pixel count is not a
 *              multiple of the GEMM's column block are gathered first); needs kh == kw == 1,
 *              stride 1, pad 0
 *   DEPTHWISE  direct per-channel kernels (dedicated ones for 3x3, pad 1, stride 1 or 2);
 *              needs groups == cin == cout
 *   WINOGRAD   Winograd F(2x2, 3x3) (transformed 4x4 tiles, 16 GEMMs over the channels), or
 *              F(4x4, 3x3) (6x6 tiles, 36 GEMMs) where the "conv" tuning's CONV_WINO is 2, for
 *              the forward and the data gradient (the weight gradient: Winograd F(3x3, 2x2) or
 *              F(3x3, 4x4) where CONV_WGRAD is 1 or 2, see host/ops/conv_wino_wgrad.c); needs a dense
 *              (groups 1) 3x3 kernel, stride 1, dilation 1, padding 0..2. The automatic choice
 *              takes it on such shapes with 16 or more channels in and out where CONV_WINO is 1
 *              or 2 (fcl_conv2d_algo_in says so; fcl_conv2d_algo_of, having no context, reports GEMM). Largest relative error vs a double reference
 *              in tests/test_ops_conv.c: F(2x2) 2e-6 like im2col-GEMM's 3e-6, F(4x4) 4e-5
 *              (its transforms scale by up to 8 and 1/24). Dense 3x3 stride-2x2 convs (dilation 1,
 *              padding 0..2): the forward by an additions-only stride-2 form (5x5 tiles, 25 GEMMs
 *              per 2x2 outputs: cl/conv_wino_s2.cl), automatic where CONV_WINO_S2 is 1; their
 *              gradients run on the GEMM
 *   IMPLICIT   implicit GEMM (host/ops/conv_implicit.c): no im2col buffer, register blocks of
 *              pixels x channel vectors reading the (zero-padded) input directly; the forward
 *              and the data gradient (per stride phase, no col2im; the weight gradient runs on
 *              the GEMM); needs groups 1. The automatic choice takes it for strided dense convs
 *              with 25 or more taps (the 7x7 stem) where the "conv" tuning's CONV_IMPLICIT says
 *              so (fcl_conv2d_algo_in)
 * All are deterministic: no atomics, reductions in a fixed order. */
typedef enum fcl_conv2d_algo {
    FCL_CONV_AUTO = 0,
    FCL_CONV_GEMM = 1,
    FCL_CONV_1X1 = 2,
    FCL_CONV_DEPTHWISE = 3,
    FCL_CONV_WINOGRAD = 4,
    FCL_CONV_IMPLICIT = 5
} fcl_conv2d_algo;

/* Output extent: floor((in + 2 * pad - dil * (k - 1) - 1) / stride) + 1 (may be <= 0 when the
 * window does not fit; fcl_conv2d_check rejects that). */
int fcl_conv2d_out_size(int in, int k, int stride, int pad, int dil);

/* Validates p (every size >= 1, pad >= 0, channels divisible by groups, output >= 1x1, a forced
 * algo that applies) and returns the output size in *oh / *ow (either may be NULL). Errors are
 * FCL_ERR_SHAPE / FCL_ERR_INVALID_ARG with a message naming "conv2d" and the offending field. */
fcl_status fcl_conv2d_check(const fcl_conv2d_params *p, int *oh, int *ow, fcl_error *err);

/* The algorithm fcl_conv2d_* use for p (p->algo when set, else the fastest that applies). */
fcl_conv2d_algo fcl_conv2d_algo_of(const fcl_conv2d_params *p);
/* The algorithm that runs for p on ctx's device: fcl_conv2d_fwd (weight_grad 0), _bwd_weight (1)
 * or _bwd_data (2; 0 gives the forward's, which differs for the implicit GEMM and stride-2 Winograd), automatic
 * choices read from ctx's tuning (Winograd, the implicit GEMM on the CPU). */
fcl_conv2d_algo fcl_conv2d_algo_in(fcl_ctx *ctx, const fcl_conv2d_params *p, int weight_grad);
const char *fcl_conv2d_algo_name(fcl_conv2d_algo a);    /* "gemm", "1x1", "depthwise", "winograd", "implicit", "auto" */

/* Floating-point operations (2 per multiply-add) of the forward pass; the backward to the data
 * and the backward to the weights cost the same. */
double fcl_conv2d_flops(const fcl_conv2d_params *p);

/* y = conv(x, w) + b, then p->out_act. b may be NULL (no bias). y must not overlap x, w or b.
 * x [n, cin, h, w], w [cout, cin/groups, kh, kw], b [cout] -> y [n, cout, oh, ow]. */
fcl_status fcl_conv2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_tensor *b, const fcl_conv2d_params *p);

/* Backward, ACCUMULATING (+=) into each gradient given; any of dx, dw, db may be NULL:
 *   dx += conv_transpose(dy, w)          dx [n, cin, h, w]     (needs w)
 *   dw += sum_n dy * x (correlation)     dw [cout, cin/groups, kh, kw] (needs x)
 *   db += sum over n, oh, ow of dy       db [cout]
 * dy [n, cout, oh, ow]. x / w may be NULL when the gradient needing them is NULL. Gradients must
 * not overlap the inputs. Reductions run in a fixed order (bit-reproducible on a device). */
fcl_status fcl_conv2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, fcl_tensor *db,
                          const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_conv2d_params *p);

/* The three parts of fcl_conv2d_bwd separately (same shapes, same accumulation). */
fcl_status fcl_conv2d_bwd_data(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                               const fcl_tensor *w, const fcl_conv2d_params *p);
fcl_status fcl_conv2d_bwd_weight(fcl_ctx *ctx, fcl_tensor *dw, const fcl_tensor *dy,
                                 const fcl_tensor *x, const fcl_conv2d_params *p);
fcl_status fcl_conv2d_bwd_bias(fcl_ctx *ctx, fcl_tensor *db, const fcl_tensor *dy,
                               const fcl_conv2d_params *p);

#ifdef __cplusplus
}
#endif
#endif

/* host/ops/conv_wino.h: Winograd F(2x2, 3x3) and F(4x4, 3x3) for dense 3x3 stride-1 convolutions (forward, data gradient) and the stride-2 form (forward) (internal). */
#ifndef FACECL_OPS_CONV_WINO_H
#define FACECL_OPS_CONV_WINO_H

#include "facecl/ops_conv.h"
#include "ops/conv_cpu.h"
#include "ops/conv_prep.h"

/* The Winograd launchers' shared shapes: FCL_WINO_SKEW floats (a cache line) skew the transform
 * planes so that their streams do not fall in the same L1 sets (host/ops/conv_wino.c); the
 * automatic choice needs FCL_WINO_MIN_C channels in and out (why: conv_wino.c) and the stride-2
 * forms outputs of at least FCL_WINO_S2_MIN square (measured: host/runtime/tuning_table.c
 * CONV_WINO_S2, CONV_WINO_S2_BWD). */
enum { FCL_WINO_SKEW = 16, FCL_WINO_MIN_C = 16, FCL_WINO_S2_MIN = 8 };

/* 1 when p is a dense (groups 1) 3x3 convolution with stride 1, dilation 1 and padding 0..2 on
 * each axis: the shapes fcl_conv_wino_fwd / _bwd_data compute (any n, channels and image size). */
int fcl_conv_wino_applies(const fcl_conv2d_params *p);

/* 1 when a conv with params p (checked) goes through Winograd: forced (p->algo), or automatic on
 * a shape where it applies, with 16 or more input and output channels, the tuning's CONV_WINO 1
 * or 2 and the CPU-shaped kernels (CONV_GPU 0). */
int fcl_conv_wino_use(const fcl_conv_tune *t, const fcl_conv2d_params *p);

/* 1 when p is a dense 3x3 convolution with stride 2 (both axes), dilation 1 and padding 0..2:
 * the shapes fcl_conv_wino_fwd also computes, by cl/conv_wino_s2.cl's form (forward only). */
int fcl_conv_wino_s2_applies(const fcl_conv2d_params *p);

/* 1 when the forward of p goes through the stride-2 form: applying, and forced (p->algo) or
 * automatic with 16 or more channels in and out, the tuning's CONV_WINO_S2 1 and CONV_GPU 0. */
int fcl_conv_wino_s2_use(const fcl_conv_tune *t, const fcl_conv2d_params *p);

/* 1 when a stride-2 pass of p takes its Winograd form: applying, and forced (p->algo) or
 * automatic with `on` (that pass's tuning value), CONV_GPU 0, FCL_WINO_MIN_C or more channels in
 * and out and an output of at least FCL_WINO_S2_MIN square (the forward's rule and the data
 * gradient's: host/ops/conv_wino_s2_bwd.c). */
int fcl_conv_wino_s2_pick(const fcl_conv_tune *t, const fcl_conv2d_params *p, int on);

/* y = act(conv(x, w) + b + r) (b, r may be NULL; act: p->out_act; the bias, r and act applied in
 * the output transform), shapes of fcl_conv2d_fwd (r shaped like y: fcl_conv2d_fwd_res), p
 * checked and applying (fcl_conv_wino_applies or _s2_applies); oh x ow the output size. Chunks of images keep the transformed tiles
 * within t's CONV_COL_KB budget. prep (may be NULL): the transformed filters are kept there
 * across calls (host/ops/conv_prep.h). */
fcl_status fcl_conv_wino_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow,
                             fcl_conv_prep *prep, const fcl_tensor *r);

/* dx += conv_transpose(dy, w): for stride 1 a Winograd convolution of dy with w rotated by 180
 * degrees, cin and cout swapped, and padding 2 - pad. */
fcl_status fcl_conv_wino_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                  const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow);

#endif

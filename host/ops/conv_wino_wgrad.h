/* host/ops/conv_wino_wgrad.h: the Winograd weight gradient F(3x3, 2x2) / F(3x3, 4x4) of dense 3x3 stride-1 convolutions (internal). */
#ifndef FACECL_OPS_CONV_WINO_WGRAD_H
#define FACECL_OPS_CONV_WINO_WGRAD_H

#include "facecl/ops_conv.h"
#include "ops/conv_cpu.h"

/* 1 when the weight gradient of a conv with params p (checked) goes through Winograd: the
 * tuning's CONV_WGRAD is 1 or 2, the CPU-shaped kernels run (CONV_GPU 0), p is a shape
 * fcl_conv_wino_applies to, and the algorithm is FCL_CONV_WINOGRAD (forced) or automatic with 16
 * or more input and output channels. */
int fcl_conv_wgrad_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p);

/* dw += the weight gradient of y = conv(x, w) (shapes of fcl_conv2d_bwd_weight, p checked and
 * applying; oh x ow the output size), in chunks of images within t's CONV_COL_KB budget. */
fcl_status fcl_conv_wgrad(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                          const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow);

#endif

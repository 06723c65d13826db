/* host/ops/conv_implicit.h: implicit-GEMM convolution (no im2col buffer) for strided convs and the stem, forward and data gradient (internal). */
#ifndef FACECL_OPS_CONV_IMPLICIT_H
#define FACECL_OPS_CONV_IMPLICIT_H

#include "facecl/ops_conv.h"
#include "ops/conv_cpu.h"

/* Directions, as bits of the tuning's CONV_IMPLICIT, and FCL_CIM_ALL_TAPS: the automatic choice
 * on strided convs with any number of taps above 1 (3x3/2), not only 25 or more. */
enum { FCL_CIM_FWD = 1, FCL_CIM_DATA = 2, FCL_CIM_ALL_TAPS = 4 };

/* 1 when direction dir (FCL_CIM_*) of a conv with params p (checked) goes through the implicit
 * GEMM: forced (p->algo FCL_CONV_IMPLICIT, any dense shape, every direction but the weight
 * gradient), or automatic where CONV_IMPLICIT has the direction's bit, the CPU-shaped kernels run
 * (CONV_GPU 0) and p is a dense (groups 1) conv with a stride above 1 on either axis and at least
 * 25 taps (5x5, the 7x7 stem; 2 with FCL_CIM_ALL_TAPS; the data gradient also 16 or more input
 * channels, its vector lanes).
 * Why 25 (bench ops, process CPU ms, batch 32 @112, loaded 2-core Xeon, 2-3 alternating runs,
 * GEMM vs implicit): ResNet-18's stem 7x7/2 3->64 fwd 27.4-31.5 vs 24.1-24.8, where im2col writes
 * 147 rows per output pixel for 64 channels; the 3x3/2 layers about even (layer2.0 11.6-12.4 vs
 * 11.5-11.9, layer3.0 9.7-11.0 vs 10.5-11.3, layer4.0 13.4-13.5 vs 14.2-14.8), MobileNetV2's 3x3/2
 * stem 3->32 5.8-6.1 vs 6.4-6.5, the 1x1/2 downsamples 1.4-1.8 vs 1.6-2.5. With conv_gemm_nn's
 * prefetch (CONV_PF) and the same here (CONV_IMPLICIT 5 forces the 3x3s): stem 25.7-29.4 vs
 * 22.5-22.8, layer2.0 9.6-10.5 vs 9.7-10.1, layer3.0 8.2-9.2 vs 10.0-10.1, layer4.0 10.6-11.8 vs
 * 12.7-13.3. */
int fcl_conv_implicit_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p, int dir);

/* y = act(conv(x, w) + b) (b may be NULL; act p->out_act, applied in the store), shapes of
 * fcl_conv2d_fwd, p checked and dense (groups 1); oh x ow the output size. */
fcl_status fcl_conv_implicit_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                                 const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh,
                                 int ow);

/* dx += conv_transpose(dy, w) (shapes of fcl_conv2d_bwd_data, p checked and dense): per phase
 * (iy % stride_h, ix % stride_w) of dx, a stride-1 gather of the padded dy over the taps that
 * reach it (no inserted zeros, no col2im). */
fcl_status fcl_conv_implicit_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                      const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow);

#endif

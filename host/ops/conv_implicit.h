/* host/ops/conv_implicit.h: implicit-GEMM convolution (no im2col buffer) for strided convs and the stem, forward and data gradient (internal). */
#ifndef FACECL_OPS_CONV_IMPLICIT_H
#define FACECL_OPS_CONV_IMPLICIT_H

#include "facecl/ops_conv.h"
#include "ops/conv_cpu.h"

/* Directions, as bits of the tuning's CONV_IMPLICIT (FCL_CIM_WGRAD: the weight gradient), and
 * FCL_CIM_ALL_TAPS: the automatic choice on strided convs with any number of taps above 1 (3x3/2),
 * not only 25 or more; FCL_CIM_WGRAD_TAPS: the same for the weight gradient alone where the output
 * is at least FCL_CIM_WGRAD_OW pixels wide and 16+ channels go in (ResNet-18's layer2.0 / layer3.0
 * 3x3/2, not layer4.0's 4 pixels nor MobileNetV2's 3-channel stem). */
enum { FCL_CIM_FWD = 1, FCL_CIM_DATA = 2, FCL_CIM_ALL_TAPS = 4, FCL_CIM_WGRAD = 8, FCL_CIM_WGRAD_TAPS = 16 };
enum { FCL_CIM_WGRAD_OW = 7 };

/* 1 when direction dir (FCL_CIM_*) of a conv with params p (checked) goes through the implicit
 * GEMM: forced (p->algo FCL_CONV_IMPLICIT, any dense shape, every direction), or automatic where
 * CONV_IMPLICIT has the direction's bit, the CPU-shaped kernels run (CONV_GPU 0) and p is a dense
 * (groups 1) conv with a stride above 1 on either axis and at least 25 taps (5x5, the 7x7 stem; 2
 * with FCL_CIM_ALL_TAPS, where a forward below 25 taps also needs 16 or more input channels; the
 * data gradient always needs 16 or more input channels, its vector lanes).
 * Why 25 (bench ops, process CPU ms, batch 32 @112, loaded 2-core Xeon, 2-3 alternating runs,
 * GEMM vs implicit): ResNet-18's stem 7x7/2 3->64 fwd 27.4-31.5 vs 24.1-24.8, where im2col writes
 * 147 rows per output pixel for 64 channels; the 3x3/2 layers about even (layer2.0 11.6-12.4 vs
 * 11.5-11.9, layer3.0 9.7-11.0 vs 10.5-11.3, layer4.0 13.4-13.5 vs 14.2-14.8), MobileNetV2's 3x3/2
 * stem 3->32 5.8-6.1 vs 6.4-6.5, the 1x1/2 downsamples 1.4-1.8 vs 1.6-2.5. With conv_gemm_nn's
 * prefetch (CONV_PF) and the same here (CONV_IMPLICIT 5 forces the 3x3s): stem 25.7-29.4 vs
 * 22.5-22.8, layer2.0 9.6-10.5 vs 9.7-10.1, layer3.0 8.2-9.2 vs 10.0-10.1, layer4.0 10.6-11.8 vs
 * 12.7-13.3. Session 7, with one pointer per pixel in cim_row (no per-pixel index arithmetic),
 * the padded copy one plane per work-item and the weight gradient on cim_wgrad, against main at
 * adcd212 (wgrad_nn packing dy from NCHW), 3 alternating runs, loaded, GEMM vs implicit: layer2.0
 * fwd 11.8-12.6 vs 9.7-10.1, bwd_weight 10.3-11.0 vs 8.5-9.4; layer3.0 fwd 9.5-11.2 vs 8.4-10.0,
 * bwd_weight 9.0-9.3 vs 8.1-8.6; layer4.0 fwd 12.0-13.2 vs 12.2-12.7, bwd_weight 12.7-13.0 vs
 * 11.2-14.0; stem bwd_weight 30.8-32.1 vs 17.8-18.6; MobileNetV2's 3x3/2 stem 3 -> 32 bwd_weight
 * 5.0 vs 2.8 (its forward 5.1 vs 5.6, one run: 3 input channels, hence 16+ for the forward's
 * 3x3s). Data gradient (bit 2, one-two runs): layer2.0 10.9-11.1 vs 10.7-14.0, layer3.0 9.7-10.4
 * vs 9.6-10.7, layer4.0 12.3-12.6 vs 9.9-10.5: mixed, off.
 * Session 8, Zen 3 (AVX2, 16 ymm), blocks 4 x 3 float8 (CONV_TW 8), loaded, 2 alternating runs,
 * CPU ms, GEMM (CONV_IMPLICIT 9) vs implicit (13 / 15): the 3x3/2 forwards are slower here
 * (layer2.0 15.3-16.7 vs 22.7-34.2, layer3.0 13.8-18.2 vs 15.9-24.0, layer4.0 18.0-27.7 vs
 * 18.5-32.9; other blocks, 1 run, vs the GEMM at the same block: 6 x 2 36.3 vs 19.5, 3 x 4 48.1 vs
 * 29.6 (17 ymm: spills), 8 x 1 56.4 vs 20.5), although cim_fwd's 4 x 3 loop compiles clean (3
 * loads, 4 broadcasts, 12 FMAs, no spills). Most of the gap is the grid order (our reading: pixels
 * vary fastest, so each panel of 24 channels streams the whole padded input, 6.9 MB at layer2.0,
 * from L3 again). Now the typed value CONV_CIM_ORDER (default 1, its numbers in tuning_table.c;
 * first measured here, stem unclear, 35.1 / 57.3 -> 51.2 / 56.0): the channel panels fastest (global (panels, pixel blocks) in cim_fwd and
 * cim_bwd_data) gave layer2.0 fwd 31.1 / 37.5 -> 16.3 / 15.5, layer3.0 22.7 / 24.4 -> 15.9 / 15.4,
 * layer2.0 bwd_data 24.6 / 31.3 -> 24.1 / 18.4, layer3.0 30.7 / 34.3 -> 22.3 / 18.5, i.e. level
 * with the GEMM (14.8-19.6 vs 16.6-16.7 at layer2.0). Weight gradient about even (layer2.0 13.5-18.2 vs 14.2-21.0, layer3.0 12.9-17.6 vs
 * 13.2-21.3, layer4.0 17.0-21.2 vs 17.1-24.0); data gradient (15) mixed as before (layer2.0
 * 16.9-17.7 vs 20.7-27.2, layer3.0 15.4-20.9 vs 21.8-33.2, layer4.0 23.3-30.2 vs 17.8-25.2). The
 * stem stays implicit (fwd 37.4-53.6 vs GEMM 46.0-58.7, bwd_weight 27.8-38.8 vs 50.0-53.9): 9
 * remains the right default on this CPU. */
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

/* dw += the weight gradient (shapes of fcl_conv2d_bwd_weight, p checked and dense): dy transposed
 * to [pixel][channel] (cim_dyt), x padded as in the forward, one kernel reducing over every image's
 * pixels (cim_wgrad; no im2col, no packing). */
fcl_status fcl_conv_implicit_bwd_weight(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                        const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow);

#endif

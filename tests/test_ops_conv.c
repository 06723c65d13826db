/* tests/test_ops_conv.c: conv2d (dense, grouped, depthwise, 1x1) as op-driver descriptors: OpenCL vs the
 * double reference forward and backward (every algorithm, forced algorithms and tunings), the
 * reference vs finite differences; partial gradients, determinism and bad input. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/conv_desc.h"
#include "helpers/opcheck.h"
#include "ref/ref_conv.h"

/* The sets of cases, one Test each. */
enum { S_DENSE, S_CHUNKED, S_GROUPED, S_DW, S_DW_LARGE, S_POINTWISE, S_FORCED, S_TUNED, S_GPU, S_WINO, S_FD };

/* One configuration: its set, params, whether it has a bias, and the algorithm the automatic
 * choice must pick (so every path is known to be exercised). */
typedef struct conv_case {
    int set;
    const char *name;
    fcl_conv2d_params p;
    int bias;
    fcl_conv2d_algo expect;
} conv_case;

/* n, cin, h, w, cout, kh, kw, stride h/w, pad h/w, dilation h/w, groups (algo 0: automatic) */
#define CP(n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, g) \
    {n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, g, 0, 0}

static const conv_case conv_cases[] = {
    {S_DENSE, "3x3 pad 1", CP(2, 3, 13, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_DENSE, "batch 1, stride 2, odd 31", CP(1, 7, 31, 31, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_DENSE, "dilation 2, 13x7", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1), 0, FCL_CONV_GEMM},
    {S_DENSE, "5x5 pad 2", CP(2, 4, 13, 13, 7, 5, 5, 1, 1, 2, 2, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_DENSE, "7x7 stride 2 pad 3 (stem)", CP(2, 3, 31, 31, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1), 0, FCL_CONV_GEMM},
    {S_DENSE, "1x3 stride 2x1 pad 0x1", CP(2, 6, 7, 13, 11, 1, 3, 2, 1, 0, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_DENSE, "3x5 stride 3 dilation 1x2 no pad", CP(3, 2, 13, 31, 3, 3, 5, 3, 3, 0, 0, 1, 2, 1), 1, FCL_CONV_GEMM},
    {S_DENSE, "28x28, 33 out channels", CP(3, 17, 28, 28, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    /* 16 pixels an image: column blocks of 32 or 48 straddle images in whole vectors of 16 */
    {S_DENSE, "4x4 images, 3 of them", CP(3, 6, 4, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_DENSE, "single channel in and out", CP(2, 1, 7, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_DEPTHWISE},
    /* Large enough that im2col runs in several chunks of images with the CPU row's 4 MiB budget
     * (3 + 3 + 1 and 2 + 2 + 2 + 1 images; one chunk under CPU256's CONV_IM_KB 16 MiB, where
     * other_tunings' first two rows chunk im2col): 32x32 (column blocks never straddle images) and 29x29
     * (the backward to the data also gathers dy into the workspace). GEMM forced (algo = expect):
     * these dense 3x3 stride-1 shapes go through Winograd automatically where CONV_WINO is 1 or 2. */
    {S_CHUNKED, "chunks of images", CP(7, 32, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_CHUNKED, "chunks of images, 29x29", CP(7, 48, 29, 29, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1), 0, FCL_CONV_GEMM},
    {S_GROUPED, "groups 2", CP(2, 6, 7, 7, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2), 1, FCL_CONV_GEMM},
    {S_GROUPED, "groups 4, stride 2, 9x11", CP(3, 12, 9, 11, 8, 3, 3, 2, 2, 1, 1, 1, 1, 4), 0, FCL_CONV_GEMM},
    {S_GROUPED, "groups 32 (ResNeXt)", CP(1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 32), 1, FCL_CONV_GEMM},
    {S_GROUPED, "depthwise multiplier 2", CP(2, 5, 13, 13, 10, 3, 3, 1, 1, 1, 1, 1, 1, 5), 1, FCL_CONV_GEMM},
    {S_GROUPED, "groups 3, 1x1", CP(2, 9, 7, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 3), 1, FCL_CONV_1X1},
    {S_DW, "dw 3x3 stride 1", CP(2, 13, 13, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 13), 1, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x3 stride 1, 31x31", CP(1, 3, 31, 31, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3), 0, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x3 stride 2, 31", CP(1, 7, 31, 31, 7, 3, 3, 2, 2, 1, 1, 1, 1, 7), 0, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x3 stride 2, 7x7 (4x4 out)", CP(3, 9, 7, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 9), 1, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x3 stride 2, even 28x20", CP(2, 5, 28, 20, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
    /* 106 small planes: conv_dw3_fwd / conv_dw3_bwd_data_s2 run 3 planes a work-item (host/ops/conv.c
     * dw3_ppw), the last work-item only 1; 7 and 6 columns: partial strips (float4 / float2 / float stores) */
    {S_DW, "dw 3x3 stride 1, 106 planes of 5x7", CP(2, 53, 5, 7, 53, 3, 3, 1, 1, 1, 1, 1, 1, 53), 1, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x3 stride 2, 106 planes of 9x11", CP(2, 53, 9, 11, 53, 3, 3, 2, 2, 1, 1, 1, 1, 53), 0, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 5x5 stride 2 pad 2", CP(2, 6, 13, 31, 6, 5, 5, 2, 2, 2, 2, 1, 1, 6), 1, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x5 stride 1x3 dil 2x1", CP(2, 3, 13, 31, 3, 3, 5, 1, 3, 2, 1, 2, 1, 3), 1, FCL_CONV_DEPTHWISE},
    {S_DW, "dw 3x3 dilation 2, wide 40", CP(1, 4, 9, 40, 4, 3, 3, 1, 1, 2, 2, 2, 2, 4), 0, FCL_CONV_DEPTHWISE},
    /* EfficientNet's 5x5 and ConvNeXt's 7x7 depthwise convs (padding k // 2), stride 1 and 2, odd
     * and even sizes, maps narrower than one 8-lane chunk and smaller than the kernel (ConvNeXt's
     * last stage is 7x7 under a 7x7 kernel), and MobileFaceNet's global depthwise 7x7 (no padding). */
    {S_DW_LARGE, "dw 5x5 stride 1 pad 2, 15x11", CP(2, 5, 15, 11, 5, 5, 5, 1, 1, 2, 2, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 5x5 stride 2 pad 2, 17x9", CP(3, 7, 17, 9, 7, 5, 5, 2, 2, 2, 2, 1, 1, 7), 0, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 5x5 stride 2 pad 2, even 14", CP(2, 3, 14, 14, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3), 1, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 7x7 stride 1 pad 3, 13x19", CP(2, 6, 13, 19, 6, 7, 7, 1, 1, 3, 3, 1, 1, 6), 1, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 7x7 stride 2 pad 3, 21x17", CP(2, 5, 21, 17, 5, 7, 7, 2, 2, 3, 3, 1, 1, 5), 0, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 7x7 stride 1 pad 3, 7x7 map", CP(3, 9, 7, 7, 9, 7, 7, 1, 1, 3, 3, 1, 1, 9), 1, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 7x7 stride 1 pad 3, 5x3 map", CP(2, 4, 5, 3, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), 1, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 7x7 stride 1 pad 3, wide 37", CP(1, 3, 9, 37, 3, 7, 7, 1, 1, 3, 3, 1, 1, 3), 1, FCL_CONV_DEPTHWISE},
    {S_DW_LARGE, "dw 7x7 pad 0 on 7x7 (MobileFaceNet GDC)", CP(3, 10, 7, 7, 10, 7, 7, 1, 1, 0, 0, 1, 1, 10), 1, FCL_CONV_DEPTHWISE},
    {S_POINTWISE, "1x1, 7x7 (blocks cross images)", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_POINTWISE, "1x1, batch 1, 13x13", CP(1, 5, 13, 13, 30, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
    {S_POINTWISE, "1x1, 16x16, 40 in", CP(3, 40, 16, 16, 9, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_POINTWISE, "1x1 stride 2 (downsample)", CP(2, 10, 13, 13, 6, 1, 1, 2, 2, 0, 0, 1, 1, 1), 0, FCL_CONV_GEMM},
    {S_POINTWISE, "1x1, 4x4 images (blocks straddle images)", CP(3, 10, 4, 4, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_POINTWISE, "1x1, 3x3 images, batch 4", CP(4, 6, 3, 3, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
    {S_POINTWISE, "1x1, 11x11 images, batch 3", CP(3, 11, 11, 11, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_POINTWISE, "1x1 pad 1", CP(2, 3, 7, 7, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    /* The general algorithm on shapes the automatic choice sends elsewhere, and each specialised
     * algorithm forced where it applies (algo = the expected one). */
    /* dense 3x3 stride 1 goes through Winograd automatically where CONV_WINO is 1 or 2: GEMM forced */
    {S_FORCED, "3x3 s1 pad 1 through gemm", CP(2, 3, 13, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_FORCED, "1x1 shape through gemm", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_FORCED, "depthwise shape through gemm", CP(2, 13, 13, 13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 13), 1, FCL_CONV_GEMM},
    {S_FORCED, "depthwise 1x1 forced 1x1", CP(2, 8, 7, 9, 8, 1, 1, 1, 1, 0, 0, 1, 1, 8), 1, FCL_CONV_1X1},
    {S_FORCED, "depthwise 5x5 through gemm", CP(2, 5, 11, 9, 5, 5, 5, 2, 2, 2, 2, 1, 1, 5), 1, FCL_CONV_GEMM},
    {S_FORCED, "depthwise 7x7 through gemm", CP(2, 4, 9, 9, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), 0, FCL_CONV_GEMM},
    /* Winograd F(2x2, 3x3) forced (algo = expect), forward and data gradient: odd and unequal
     * sizes (a last tile row / column half outside), images smaller than a tile, every padding
     * 0..2 per axis (the data gradient convolves with padding 2 - pad), channel counts that are
     * not multiples of the GEMM's register blocks, batch 1 and 3; F(4x4, 3x3) and chunks of fewer
     * images than the batch under wino_tunings. */
    {S_WINO, "wino 3x3 pad 1, 13x7", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino pad 0, 9x12", CP(1, 7, 9, 12, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino pad 2, 5x6", CP(3, 3, 5, 6, 4, 3, 3, 1, 1, 2, 2, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    {S_WINO, "wino pad 0x2, 7x4", CP(2, 4, 7, 4, 5, 3, 3, 1, 1, 0, 2, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino pad 2x1, 6x9", CP(1, 6, 6, 9, 2, 3, 3, 1, 1, 2, 1, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 1x1 image, pad 1", CP(3, 4, 1, 1, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 1x1 image, pad 2", CP(2, 3, 1, 1, 2, 3, 3, 1, 1, 2, 2, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 2x2 image, pad 1", CP(3, 5, 2, 2, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 3x3 image, pad 0 (1x1 out)", CP(2, 9, 3, 3, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 17 -> 33 channels, 11x11", CP(3, 17, 11, 11, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 24 -> 40, 12x12", CP(3, 24, 12, 12, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 16 -> 16, 8x8, batch 4 (RegNet-X n)", CP(4, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    {S_WINO, "wino 1 channel in and out, 4x4", CP(1, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    /* rows of 8 tiles at a time: 19 tile columns (2 full groups and 3), rows wide enough for the
     * vector loads inside and their element-wise edges */
    {S_WINO, "wino 3 -> 5, 21x37 (tile groups)", CP(2, 3, 21, 37, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino pad 0x2, 18x34", CP(1, 4, 18, 34, 3, 3, 3, 1, 1, 0, 2, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    /* maps of at most 4 tiles a row (cl/conv_wino_cols.cl): 8 tiles of 2 (F(4x4)) or half an image
     * (F(2x2)) a vector, under F(4x4) the last one part-filled (5 images of 4 tiles) */
    {S_WINO, "wino 19 -> 18, 7x7, batch 5 (tile columns)", CP(5, 19, 7, 7, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    /* stride 2 (cl/conv_wino_s2.cl, the forward; cl/conv_wino_s2_bwd.cl, the data gradient; the weight gradient
     * on the GEMM): odd and even sizes (partial
     * tiles at the bottom / right), paddings 0..2, 3x3 and 4x4 images, rows of 17 tiles (two whole vectors
     * of 8 and one tile) and of 7, channels not multiples of the register blocks, batch 5 (chunks) */
    {S_WINO, "wino s2 pad 1, 13x11, 10 -> 14", CP(3, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 pad 0, 9x12", CP(2, 7, 9, 12, 5, 3, 3, 2, 2, 0, 0, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 pad 2, 6x7", CP(1, 3, 6, 7, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 pad 1x0, 37x70 (17 tiles a row)", CP(2, 5, 37, 70, 6, 3, 3, 2, 2, 1, 0, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 pad 0x2, 3x3 image", CP(2, 4, 3, 3, 3, 3, 3, 2, 2, 0, 2, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 pad 1, 4x4 image", CP(3, 6, 4, 4, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 17 -> 33, 28x28, batch 5", CP(5, 17, 28, 28, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_WINOGRAD},
    {S_WINO, "wino s2 pad 0, 3x3 image (1x1 out)", CP(2, 3, 3, 3, 2, 3, 3, 2, 2, 0, 0, 1, 1, 1), 0, FCL_CONV_WINOGRAD},
    /* run under each of other_tunings */
    {S_TUNED, "3x3 stride 2, odd", CP(3, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_TUNED, "1x1, 7x7", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_TUNED, "1x1, 8x8", CP(2, 9, 8, 8, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
    {S_TUNED, "groups 2, 5x5", CP(2, 6, 9, 9, 4, 5, 5, 1, 1, 2, 2, 1, 1, 2), 1, FCL_CONV_GEMM},
    {S_TUNED, "1x1, 4x4 images", CP(3, 10, 4, 4, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
    /* 25 pixels: vectors that run into the next image (two loads where CONV_B1X1 reads x / dy in
     * place), blocks over three images, the last columns lane by lane */
    {S_TUNED, "1x1, 5x5 images, batch 3", CP(3, 11, 5, 5, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_TUNED, "3x3, 4x4 images", CP(3, 6, 4, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_TUNED, "3x3, 5 images in chunks of 64 KiB", CP(5, 16, 10, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1), 0, FCL_CONV_GEMM},
    {S_TUNED, "groups 3, 1x1 stride 2, 13x9", CP(3, 9, 13, 9, 6, 1, 1, 2, 2, 0, 0, 1, 1, 3), 1, FCL_CONV_GEMM},
    {S_TUNED, "dw 3x3 stride 2", CP(2, 5, 13, 13, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
    /* rows of 19 (conv_im2col_panel's row runs, CONV_IM_ROW 1: vectors of 8 inside a row or across
     * two, of 16 across up to three: those gather), dilation 2 and padding 2 around the taps */
    {S_TUNED, "3x3 stride 2 dil 2 pad 2, 9x37, groups 2", CP(2, 4, 9, 37, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2), 1, FCL_CONV_GEMM},
    /* run under each of gpu_tunings */
    {S_GPU, "3x3 stride 2, odd", CP(3, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    {S_GPU, "7x7 stride 2 pad 3 (stem)", CP(2, 3, 31, 29, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1), 0, FCL_CONV_GEMM},
    {S_GPU, "dilation 2, 13x7", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1), 1, FCL_CONV_GEMM},
    {S_GPU, "1x1, 7x7", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
    {S_GPU, "1x1, 8x8, 70 out", CP(2, 9, 8, 8, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
    {S_GPU, "groups 3, 1x1", CP(2, 9, 7, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 3), 1, FCL_CONV_1X1},
    {S_GPU, "groups 2, 5x5", CP(2, 6, 9, 9, 4, 5, 5, 1, 1, 2, 2, 1, 1, 2), 1, FCL_CONV_GEMM},
    {S_GPU, "dw 3x3 stride 1, 31x31", CP(1, 3, 31, 37, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3), 1, FCL_CONV_DEPTHWISE},
    {S_GPU, "dw 3x3 stride 2", CP(2, 5, 13, 13, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
    {S_GPU, "dw 5x5 stride 2 pad 2", CP(2, 6, 13, 31, 6, 5, 5, 2, 2, 2, 2, 1, 1, 6), 0, FCL_CONV_DEPTHWISE},
    {S_GPU, "dw 7x7 pad 3", CP(1, 4, 11, 9, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), 1, FCL_CONV_DEPTHWISE},
    {S_GPU, "dw 3x5 stride 1x3 dil 2x1", CP(2, 3, 13, 31, 3, 3, 5, 1, 3, 2, 1, 2, 1, 3), 1, FCL_CONV_DEPTHWISE},
    /* the reference vs finite differences only (d/dx, d/dw, d/db, 40 samples) */
    {S_FD, "3x3 s2x1 p1x2 d2x1 g2", CP(2, 4, 9, 7, 6, 3, 3, 2, 1, 1, 2, 2, 1, 2), 1, 0},
    {S_FD, "depthwise 3x3 s2", CP(2, 3, 7, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3), 1, 0},
    {S_FD, "7x7 s2 p3", CP(1, 3, 13, 13, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1), 1, 0},
    {S_FD, "1x1", CP(2, 5, 5, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, 0},
    {S_FD, "depthwise 5x5 s2 p2", CP(2, 3, 9, 7, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3), 1, 0},
    {S_FD, "depthwise 7x7 s1 p3", CP(1, 2, 9, 11, 2, 7, 7, 1, 1, 3, 3, 1, 1, 2), 1, 0},
};
#define N_CONV_CASES (sizeof conv_cases / sizeof conv_cases[0])

/* ---- the descriptor: x, w, b, y, dy, dx, dw, db ------------------------------------------------- */

enum { X = CD_X, W = CD_W, B = CD_B, Y = CD_Y, DY = CD_DY, DX = CD_DX, DW = CD_DW, DB = CD_DB };

static fcl_status conv_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return cd_dev_fwd(ctx, t, &OC_P(c, conv_case)->p);
}

static fcl_status conv_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return cd_dev_bwd(ctx, t, &OC_P(c, conv_case)->p, OC_P(c, conv_case)->bias);
}

static void conv_ref_fwd(double *const *h, const oc_case *c) { cd_ref_fwd(h, &OC_P(c, conv_case)->p); }

static void conv_ref_bwd(double *const *h, const oc_case *c)
{
    cd_ref_bwd(h, &OC_P(c, conv_case)->p, OC_P(c, conv_case)->bias);
}

/* case i of the set op->ud points to */
static int conv_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int set = *(const int *)op->ud;
    size_t k = 0;
    for (size_t seen = 0; k < N_CONV_CASES; k++)
        if (conv_cases[k].set == set && seen++ == i) break;
    if (k == N_CONV_CASES) return 0;
    conv_case *cc = OC_P(c, conv_case);
    *cc = conv_cases[k];
    if (set == S_FORCED || set == S_WINO || set == S_CHUNKED) cc->p.algo = cc->expect;
    const fcl_conv2d_params *p = &cc->p;
    int oh = 0, ow = 0;
    fcl_error err;
    fcl_status st = fcl_conv2d_check(p, &oh, &ow, &err);
    cr_assert(st == FCL_OK, "%s: fcl_conv2d_check: %s", cc->name, err.msg);
    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    if (!p->algo && set != S_FD)
        cr_expect(algo == cc->expect, "%s: automatic algo is %s, expected %s", cc->name, fcl_conv2d_algo_name(algo),
                  fcl_conv2d_algo_name(cc->expect));
    cd_args(c, p, cc->bias, oh, ow);
    snprintf(c->what, sizeof c->what,
             "conv2d %s: n%d %dx%dx%d -> %dx%dx%d k%dx%d s%dx%d p%dx%d d%dx%d g%d bias %d algo %s", cc->name, p->n,
             p->cin, p->h, p->w, p->cout, oh, ow, p->kh, p->kw, p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dil_h,
             p->dil_w, p->groups, cc->bias, fcl_conv2d_algo_name(algo));
    if (set == S_FD) {
        c->device = 0;
        oc_fd_add(c, X, Y, DY, DX, 40, NULL);
        oc_fd_add(c, W, Y, DY, DW, 40, NULL);
        oc_fd_add(c, B, Y, DY, DB, 40, NULL);
    }
    return 1;
}

/* Other register blocks, vector widths, work-group sizes and chunk budgets than this device's
 * tuning row: the kernels must be correct for any legal tuning, not just the one measured here.
 * The GPU row's values (4 rows x 1 float8 column vector) with conv_gemm_nn's right operands in
 * rows (CONV_BPANEL 0) and chunks of one image (CONV_COL_KB 64, handed to the im2col GEMMs by
 * CONV_IM_KB 0; the weight gradient on conv_gemm_nn, CONV_WG_NN's default, over several
 * chunks), no prefetch (CONV_PF 0), 1x1s gathered (CONV_B1X1 0) and col2im's channels fastest
 * (CONV_C2I_ORDER 0); 7 x 3 float16 vectors (48-column
 * panels) with the driver's choice of work-group (0) named explicitly, im2col chunks of their own
 * budget (CONV_IM_KB 100 KiB, Winograd's CONV_COL_KB 200), col2im's images fastest (CONV_C2I_ORDER 1), im2col_panel's
 * row runs (CONV_IM_ROW 1, also in the CPU columns' rows below), every weight gradient on
 * conv_gemm_nt, a prefetch 1 k step ahead and 1x1s read in place from 20 pixels an image; the former CPU row (12 x 2 float8) with the weight
 * gradient on conv_gemm_nn up to 50 pixels an image and the others on conv_gemm_nt in chunks of
 * one image (CONV_NT_KB 1), every 1x1 read in place (CONV_B1X1 1), im2col_panel lane by lane (CONV_IM_ROW 0).
 * conv_im2col_tpanel (the weight gradient on conv_gemm_nn) both ways: input rows as vectors at
 * every width (CONV_TPANEL 1) in the first row (8-column panels, chunks of one image) and the
 * AVX-512 blocks (32-column panels), the gather (0) in the former CPU row and the AVX2 blocks. */
static const char *const other_tunings[] = {
    "conv:-DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8 -DCONV_TM=2 -DCONV_TN=2 -DCONV_TW=8 -DCONV_LNN=16 -DCONV_LNT=16 -DCONV_COL_KB=64 "
    "-DCONV_BPANEL=0 -DCONV_PF=0 -DCONV_B1X1=0 -DCONV_IM_KB=0 -DCONV_C2I_ORDER=0 -DCONV_TPANEL=1",
    "conv:-DCONV_MB=7 -DCONV_NV=3 -DCONV_VW=16 -DCONV_TM=3 -DCONV_TN=5 -DCONV_TW=16 -DCONV_LNN=0 -DCONV_LNT=0 -DCONV_LOCAL=8 "
    "-DCONV_COL_KB=200 -DCONV_WG_NN=0 -DCONV_PF=1 -DCONV_B1X1=20 -DCONV_IM_KB=100 -DCONV_C2I_ORDER=1 -DCONV_IM_ROW=1",
    "conv:-DCONV_MB=12 -DCONV_NV=2 -DCONV_VW=8 -DCONV_WG_NN=50 -DCONV_NT_KB=1 -DCONV_B1X1=1 -DCONV_IM_ROW=0 -DCONV_TPANEL=0",
    /* the two CPU columns' blocks (host/runtime/tuning_table.c), so that either machine tests the
     * other's defaults: AVX2 (CPU256: 6 x 2 float8, dy 4 x 3 float8) and AVX-512 (8 x 2 float16,
     * dy 4 x 4 float16); the first with conv_gemm_nn in groups of 3 row blocks (CONV_LNN 3: grids
     * rounded up to whole groups in every direction, 1 below 3 row blocks) */
    "conv:-DCONV_MB=6 -DCONV_NV=2 -DCONV_VW=8 -DCONV_TM=4 -DCONV_TN=3 -DCONV_TW=8 -DCONV_LNN=3 -DCONV_IM_ROW=1 -DCONV_TPANEL=0",
    "conv:-DCONV_MB=8 -DCONV_NV=2 -DCONV_VW=16 -DCONV_TM=4 -DCONV_TN=4 -DCONV_TW=16 -DCONV_IM_ROW=1 -DCONV_TPANEL=1",
    NULL,
};

/* Winograd (S_WINO, forced) under other register blocks, vector widths and chunk budgets (64 and
 * 200 KiB: chunks of fewer images than the batch), as F(2x2, 3x3) (CONV_WINO 1) and as F(4x4, 3x3)
 * (CONV_WINO 2, the CPU default: 6x6 tiles, 36 planes). Panels of 6 rows (CONV_MB 6: the weight
 * transform's 6-lane float8 path, the last panel of 40 channels masked) on any machine. */
static const char *const wino_tunings[] = {
    "conv:-DCONV_WINO=1 -DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8 -DCONV_COL_KB=64",
    "conv:-DCONV_WINO=1 -DCONV_MB=7 -DCONV_NV=3 -DCONV_VW=16 -DCONV_LOCAL=8 -DCONV_COL_KB=200",
    "conv:-DCONV_WINO=1 -DCONV_MB=6 -DCONV_NV=2 -DCONV_VW=8",
    "conv:-DCONV_WINO=2 -DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8 -DCONV_COL_KB=64",
    "conv:-DCONV_WINO=2 -DCONV_MB=7 -DCONV_NV=3 -DCONV_VW=16 -DCONV_LOCAL=8 -DCONV_COL_KB=200",
    NULL,
};

/* The GPU-shaped kernels (cl/conv_gpu.cl, cl/conv_dw_gpu.cl) forced on this device: the GPU
 * tuning row itself; an odd tile with small groups, im2col chunks of one image and the local-
 * memory tree instead of subgroups; a tile too large for any device's work-group limit (the
 * launcher must fall back to a smaller one) and no split of the weight gradient's reduction (the
 * first two split it). Every algorithm, odd shapes, both directions. */
static const char *const gpu_tunings[] = {
    "conv:-DCONV_GPU=1 -DCONV_GM=64 -DCONV_GN=64 -DCONV_GK=16 -DCONV_GWM=4 -DCONV_GWN=4 -DCONV_GWG=256 "
    "-DCONV_COL_KB=65536",
    "conv:-DCONV_GPU=1 -DCONV_GM=12 -DCONV_GN=40 -DCONV_GK=5 -DCONV_GWM=3 -DCONV_GWN=5 -DCONV_GWG=64 "
    "-DCONV_COL_KB=1 -DFCL_USE_SG=0 -DCONV_GSPLIT=3",
    "conv:-DCONV_GPU=1 -DCONV_GM=128 -DCONV_GN=128 -DCONV_GK=4 -DCONV_GWM=1 -DCONV_GWN=1 -DCONV_GWG=100000 "
    "-DCONV_GSPLIT=1",
    NULL,
};

/* Every case of a set, under a forced tuning (tunings[k]) when tunings is not NULL. */
static void run_set(int set, const char *const *tunings, size_t k)
{
    oc_op op = {.name = "conv2d", .ud = &set, .gen = conv_gen, .dev_fwd = conv_dev_fwd, .dev_bwd = conv_dev_bwd,
                .ref_fwd = conv_ref_fwd, .ref_bwd = conv_ref_bwd, .tunings = tunings};
    if (tunings) oc_run_forced(&op, k);
    else oc_run(&op);
}

/* ---- OpenCL vs reference -------------------------------------------------------------------- */

Test(conv2d, dense) { run_set(S_DENSE, NULL, 0); }
Test(conv2d, chunked_im2col) { run_set(S_CHUNKED, NULL, 0); }
Test(conv2d, grouped) { run_set(S_GROUPED, NULL, 0); }
Test(conv2d, depthwise) { run_set(S_DW, NULL, 0); }
Test(conv2d, depthwise_large_kernels) { run_set(S_DW_LARGE, NULL, 0); }
Test(conv2d, pointwise) { run_set(S_POINTWISE, NULL, 0); }
Test(conv2d, forced_algorithms) { run_set(S_FORCED, NULL, 0); }
Test(conv2d, winograd) { run_set(S_WINO, NULL, 0); }

/* {0: other_tunings, 1: gpu_tunings, 2: wino_tunings; which one}, each its own test process */
typedef struct conv_run {
    int list, k;
} conv_run;
ParameterizedTestParameters(conv2d, tunings)
{
    static conv_run runs[] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}, {1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4}};
    return cr_make_param_array(conv_run, runs, sizeof runs / sizeof runs[0]);
}
/* FACECL_TEST_SHARD=gpu runs only the GPU-shaped rows (gpu_tunings), =cpu only the others (the
 * CPU-shaped kernels); unset: all. ci/oclgrind.sh runs these rows as two simulator processes, the
 * GPU-shaped ones (local memory, barriers) under the data-race checker, the CPU-shaped ones without
 * it: they are most of this stage's time there. */
static void shard_or_skip(int gpu_row)
{
    const char *s = getenv("FACECL_TEST_SHARD");
    if (s && !strcmp(s, gpu_row ? "cpu" : "gpu")) cr_skip_test("a %s row: not in shard %s", gpu_row ? "GPU" : "CPU", s);
}
ParameterizedTest(conv_run *r, conv2d, tunings)
{
    static const char *const *const lists[] = {other_tunings, gpu_tunings, wino_tunings};
    shard_or_skip(r->list == 1);
    static const int sets[] = {S_TUNED, S_GPU, S_WINO};
    run_set(sets[r->list], lists[r->list], (size_t)r->k);
}

static double *rand_array(size_t n, uint64_t seed, double lo, double hi)
{
    double *x = h_alloc(n);
    h_rand(x, n, seed, lo, hi);
    h_to_f32(x, n);
    return x;
}

/* Each gradient alone (the others NULL), and bit-identical results on a rerun. */
Test(conv2d, partial_and_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    const fcl_conv2d_params p = CP(3, 9, 13, 13, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1);
    int oh, ow;
    cr_assert(fcl_conv2d_check(&p, &oh, &ow, NULL) == FCL_OK);
    h_case("conv2d bwd: each gradient alone, twice, bit-identical");
    size_t xs[4] = {3, 9, 13, 13}, ws[4] = {10, 9, 3, 3}, ys[4] = {3, 10, (size_t)oh, (size_t)ow}, bs[1] = {10};
    size_t nx = h_numel(4, xs), nw = h_numel(4, ws), ny = h_numel(4, ys);
    double *x = rand_array(nx, 71, -1, 1), *w = rand_array(nw, 72, -1, 1), *dy = rand_array(ny, 73, -1, 1);
    h_buf hx = h_upload(ctx, x, 4, xs), hw = h_upload(ctx, w, 4, ws), hdy = h_upload(ctx, dy, 4, ys);
    double *want = h_alloc(nx), *got1 = h_alloc(nx), *got2 = h_alloc(nx);
    for (int which = 0; which < 3; which++) {
        size_t n = which == 0 ? nx : which == 1 ? nw : 10;
        for (int rep = 0; rep < 2; rep++) {
            h_buf g = which == 0 ? h_zeros(ctx, 4, xs) : which == 1 ? h_zeros(ctx, 4, ws) : h_zeros(ctx, 1, bs);
            H_OK(ctx, fcl_conv2d_bwd(ctx, which == 0 ? &g.t : NULL, which == 1 ? &g.t : NULL,
                                     which == 2 ? &g.t : NULL, &hdy.t, which == 1 ? &hx.t : NULL,
                                     which == 0 ? &hw.t : NULL, &p));
            h_download(ctx, &g, rep ? got2 : got1);
            h_free(ctx, &g);
        }
        memset(want, 0, nx * sizeof *want);
        if (which == 0) fcl_ref_conv2d_bwd_data(want, dy, w, &p);
        if (which == 1) fcl_ref_conv2d_bwd_weight(want, dy, x, &p);
        if (which == 2) fcl_ref_conv2d_bwd_bias(want, dy, &p);
        h_expect_close(which == 0 ? "dx alone" : which == 1 ? "dw alone" : "db alone", got1, want, n, H_TOL_BWD);
        cr_expect(memcmp(got1, got2, n * sizeof *got1) == 0, "gradient %d differs between two identical runs", which);
    }
    h_free(ctx, &hx); h_free(ctx, &hw); h_free(ctx, &hdy);
    free(x); free(w); free(dy); free(want); free(got1); free(got2);
    h_ctx_free(ctx);
}

/* ---- bad input: clear errors, nothing launched ---------------------------------------------- */

Test(conv2d, rejects_bad_input)
{
    fcl_error err;
    fcl_conv2d_params p = CP(2, 6, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    fcl_conv2d_params q = p;
    q.groups = 4; /* 6 in channels */
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "groups") != NULL, "message: %s", err.msg);
    q = p;
    q.stride_w = 0;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "stride_w") != NULL, "message: %s", err.msg);
    q = p;
    q.kh = 11; /* 7 + 2 < 11 */
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "does not fit") != NULL, "message: %s", err.msg);
    q = p;
    q.pad_h = -1;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    q = p;
    q.algo = FCL_CONV_1X1;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "1x1") != NULL, "message: %s", err.msg);
    q = p;
    q.algo = FCL_CONV_DEPTHWISE;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    q = p;
    q.stride_h = 2; /* Winograd is for stride 1 or 2x2, not 2x1 */
    q.algo = FCL_CONV_WINOGRAD;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "winograd") != NULL, "message: %s", err.msg);
    q = p;
    q.pad_w = 3;
    q.algo = FCL_CONV_WINOGRAD;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    q = p;
    q.algo = 9;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    q = p;
    q.n = 65536;
    q.cin = 65536;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "32-bit") != NULL, "message: %s", err.msg);

    /* torch.nn.Conv2d output sizes */
    cr_expect_eq(fcl_conv2d_out_size(112, 7, 2, 3, 1), 56);
    cr_expect_eq(fcl_conv2d_out_size(7, 3, 2, 1, 1), 4);
    cr_expect_eq(fcl_conv2d_out_size(13, 3, 1, 2, 2), 13);
    cr_expect_eq(fcl_conv2d_out_size(31, 5, 3, 0, 2), 8);
    cr_expect_eq(fcl_conv2d_out_size(2, 5, 1, 0, 1), 0);

    fcl_ctx *ctx = h_ctx();
    size_t xs[4] = {2, 6, 7, 7}, ws[4] = {4, 6, 3, 3}, ys[4] = {2, 4, 7, 7}, bad[4] = {2, 4, 7, 6};
    h_buf x = h_zeros(ctx, 4, xs), w = h_zeros(ctx, 4, ws), y = h_zeros(ctx, 4, ys), yb = h_zeros(ctx, 4, bad);
    cr_expect(fcl_conv2d_fwd(ctx, &yb.t, &x.t, &w.t, NULL, &p) == FCL_ERR_SHAPE);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_conv2d_fwd: y") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_conv2d_fwd(ctx, &y.t, &x.t, NULL, NULL, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "w is missing") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_conv2d_fwd(ctx, &x.t, &x.t, &w.t, NULL, &q) != FCL_OK); /* q is invalid */
    cr_expect(fcl_conv2d_bwd(ctx, NULL, &w.t, NULL, &y.t, NULL, NULL, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "x is missing") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    fcl_tensor alias; /* y aliasing x */
    size_t ys2[4] = {2, 4, 7, 7};
    H_OK(ctx, fcl_tensor_view(ctx, &x.whole, x.pre, 4, ys2, &alias));
    cr_expect(fcl_conv2d_fwd(ctx, &alias, &x.t, &w.t, NULL, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "overlaps") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    h_free(ctx, &x); h_free(ctx, &w); h_free(ctx, &y); h_free(ctx, &yb);
    h_ctx_free(ctx);
}

/* ---- the reference vs central finite differences (double, no device) ------------------------ */

Test(conv2d_ref, finite_differences) { run_set(S_FD, NULL, 0); }

/* ---- the Winograd weight gradient (host/ops/conv_wino_wgrad.c, CONV_WGRAD) ---------------------- */

/* The Winograd cases (S_WINO: forced, odd sizes, paddings 0..2, 1x1 and 2x2 images, 1 to 40
 * channels, batch 1-4, with and without bias) and the dense ones (S_DENSE: automatic; 17 -> 33
 * channels at 28x28 takes Winograd's weight gradient, the others stay on the GEMM) with the
 * weight gradient through Winograd: F(3x3, 2x2), F(3x3, 4x4), other nt register blocks and vector
 * widths, chunk budgets of 64 and 200 KiB (chunks of fewer images than the batch: the gradient
 * accumulates over chunks), and panels of 12 rows (CONV_MB: wgrad_dy's per-channel loops on whole
 * panels, which take the float8 path at 8) and of 6 (its 6-lane float8 path, on any machine). */
static const char *const wgrad_tunings[] = {
    "conv:-DCONV_WGRAD=1 -DCONV_MB=6",
    "conv:-DCONV_WGRAD=1 -DCONV_TM=2 -DCONV_TN=2 -DCONV_TW=8 -DCONV_LNT=16 -DCONV_VW=8 -DCONV_COL_KB=64",
    "conv:-DCONV_WGRAD=1 -DCONV_TM=3 -DCONV_TN=5 -DCONV_TW=16 -DCONV_LNT=0 -DCONV_LOCAL=8 -DCONV_COL_KB=200",
    "conv:-DCONV_WGRAD=2",
    "conv:-DCONV_WGRAD=2 -DCONV_WINO=2 -DCONV_TM=3 -DCONV_TN=5 -DCONV_TW=8 -DCONV_COL_KB=64 -DCONV_MB=12",
    NULL,
};
ParameterizedTestParameters(conv2d, wgrad)
{
    static conv_run runs[] = {{S_WINO, 0}, {S_WINO, 1}, {S_WINO, 2}, {S_WINO, 3}, {S_WINO, 4}, {S_DENSE, 0}, {S_DENSE, 3}};
    return cr_make_param_array(conv_run, runs, sizeof runs / sizeof runs[0]);
}
ParameterizedTest(conv_run *r, conv2d, wgrad)
{
    shard_or_skip(0); /* the Winograd weight gradient's CPU-shaped kernels */
    run_set(r->list, wgrad_tunings, (size_t)r->k);
}

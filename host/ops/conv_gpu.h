/* host/ops/conv_gpu.h: the GPU-shaped convolution path (cl/conv_gpu.cl, cl/conv_dw_gpu.cl), called by conv.c after its checks (internal). */
#ifndef FACECL_OPS_CONV_GPU_H
#define FACECL_OPS_CONV_GPU_H

#include "facecl/ops_conv.h"
#include "ops/op_util.h"

/* The "conv" tuning values of the GPU-shaped kernels (host/runtime/tuning.c; conv.c parses). */
typedef struct fcl_conv_gpu_tune {
    int tm, tn, tk;        /* GEMM tile: rows x columns per work-group, depth (CONV_GM/GN/GK) */
    int wm, wn;            /* outputs per work-item along rows / columns (CONV_GWM / CONV_GWN) */
    int wg;                /* group size of the per-element and reduction kernels (CONV_GWG) */
    int use_sg;            /* FCL_USE_SG: subgroup reductions where the device has them */
    int col_kb;            /* im2col workspace budget (KiB, CONV_COL_KB) */
    int split;             /* most K slices of a weight-gradient GEMM (CONV_GSPLIT; 1: none) */
} fcl_conv_gpu_tune;

/* Same arguments and semantics as the public entry points, already checked by conv.c. */
fcl_status fcl_conv_gpu_fwd(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *y, const fcl_tensor *x,
                            const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow);
fcl_status fcl_conv_gpu_bwd_data(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                 const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow);
fcl_status fcl_conv_gpu_bwd_weight(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                   const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow);
fcl_status fcl_conv_gpu_bwd_bias(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *db, const fcl_tensor *dy,
                                 const fcl_conv2d_params *p, int oh, int ow);

/* Depthwise (groups == cin == cout), any kernel size, stride, padding and dilation. */
fcl_status fcl_conv_dw_gpu_fwd(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *y, const fcl_tensor *x,
                               const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh,
                               int ow);
fcl_status fcl_conv_dw_gpu_bwd_data(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                    const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow);
fcl_status fcl_conv_dw_gpu_bwd_weight(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dw,
                                      const fcl_tensor *dy, const fcl_tensor *x, const fcl_conv2d_params *p,
                                      int oh, int ow);

/* The geometry arguments every conv kernel takes in this order: kh, kw, stride_h, stride_w,
 * pad_h, pad_w, dil_h, dil_w (conv.c). */
void fcl_conv_geom_args(fcl_op_args *a, const fcl_conv2d_params *p);

/* Options for a GPU-shaped conv program: the capability defines, FCL_USE_SG and `extra`. */
void fcl_conv_gpu_options(const fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const char *extra, char *buf,
                          size_t size);

#endif

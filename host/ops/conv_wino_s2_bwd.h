/* host/ops/conv_wino_s2_bwd.h: the data gradient of dense 3x3 stride-2 convolutions in the stride-2 Winograd form (internal). */
#ifndef FACECL_OPS_CONV_WINO_S2_BWD_H
#define FACECL_OPS_CONV_WINO_S2_BWD_H

#include "facecl/ops_conv.h"
#include "ops/conv_cpu.h"

/* 1 when the data gradient of p (checked) goes through cl/conv_wino_s2_bwd.cl: p applies
 * (fcl_conv_wino_s2_applies) and Winograd is forced (p->algo), or automatic with 16 or more
 * channels in and out, the tuning's CONV_WINO_S2_BWD 1 and CONV_GPU 0. */
int fcl_conv_wino_s2_bwd_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p);

/* dx += conv_transpose(dy, w) for a stride-2 3x3 conv p (applying), oh x ow its output size:
 * per chunk of images the 9 dy classes, 25 GEMMs with the transformed filters U^T over the
 * output channels, and their gather into dx. */
fcl_status fcl_conv_wino_s2_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                     const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow);

#endif

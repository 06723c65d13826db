/* host/ops/conv_wino_s2_bwd.c: the data gradient of dense 3x3 stride-2 convolutions through cl/conv_wino_s2_bwd.cl (the stride-2 Winograd form transposed). */
#include <limits.h>

#include "facecl/tuning.h"
#include "ops/conv_wino.h"
#include "ops/conv_wino_s2_bwd.h"

/* The forward's program (cl/conv_wino_s2.cl: wino_s2_weights16, conv.cl's conv_nn_run, conv_wino_cols.cl's
 * wino_div8) with the backward's kernels */
static const fcl_op_src S2_BWD = {"conv_act.cl+conv_common.cl+conv.cl+conv_wino.cl+conv_wino_cols.cl+"
                                  "conv_wino_weights.cl+conv_wino_s2.cl+conv_wino_s2_bwd.cl", FCL_TF_CONV};

/* dy channels a work-item of wino_s2_bwd_input (WINO_S2_BWD_CB); the planes' skew and the
 * automatic choice's channels and output size: host/ops/conv_wino.h */
enum { S2_CB = 4, NDM = 9, NDV = 25, NU = 16 /* U's distinct planes */ };

/* The automatic choice takes this form where the forward's would (fcl_conv_wino_s2_pick: outputs of
 * at least FCL_WINO_S2_MIN square): ResNet-18's layer2.0 (14x14 out) gains, layer3.0 (7x7) and
 * layer4.0 (4x4) lose (measured: host/runtime/tuning_table.c CONV_WINO_S2_BWD). */
int fcl_conv_wino_s2_bwd_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p)
{
    return fcl_conv_wino_s2_pick(t, p, fcl_tuning_int(ctx, FCL_T_CONV_WINO_S2_BWD));
}

fcl_status fcl_conv_wino_s2_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                     const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    fcl_conv_ws dm = {NULL, 0}, dv = {NULL, 0};
    cl_mem packed = NULL;
    size_t cap = 0;
    fcl_op_args a;
    const int M = p->cin, K = p->cout, TH = (oh + 1) / 2, TW = (ow + 1) / 2, T = TH * TW;
    const int nmb = (M + t->mb - 1) / t->mb;
    const size_t floats = (size_t)NU * nmb * t->mb * K;
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d winograd s2 bwd_data: the transformed weights (%zu floats) "
                       "exceed 32-bit indexing", floats);
    /* U^T: the 16 distinct planes with m = ci, k = co of the filters rotated by 180 degrees (flip 1) */
    if ((st = fcl_pool_alloc(ctx, floats * sizeof(float), &packed, &cap))) goto fail;
    if ((st = fcl_conv_start(ctx, &S2_BWD, "wino_s2_weights16", &a))) goto fail;
    fcl_op_arg_m(&a, packed); fcl_op_arg_t(&a, w);
    fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, 1); fcl_op_arg_i(&a, nmb);
    if ((st = fcl_conv_launch(t, &a, 1, (size_t)nmb, 1, 1, 0))) goto fail;

    const int chunk = fcl_conv_plan_chunk(t, (size_t)NDM * K + (size_t)NDV * M, T, p->n);
    const size_t skew_rows = fcl_op_div_up((size_t)NDV * FCL_WINO_SKEW, (size_t)t->nb);
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)NDM * K + skew_rows, chunk, T, &dm))) goto fail;
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)NDV * M + skew_rows, chunk, T, &dv))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        const int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, T);
        const int dmg = K * ld + FCL_WINO_SKEW, dvg = M * ld + FCL_WINO_SKEW;
        if ((st = fcl_conv_start(ctx, &S2_BWD, "wino_s2_bwd_input", &a))) goto fail;
        fcl_op_arg_m(&a, dm.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, dmg);
        fcl_op_arg_m(&a, dy->buf); fcl_op_arg_i(&a, (int)dy->offset + i0 * K * oh * ow);
        fcl_op_arg_i(&a, K); fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
        fcl_op_arg_i(&a, TH); fcl_op_arg_i(&a, TW); fcl_op_arg_i(&a, cnt);
        if ((st = fcl_conv_launch(t, &a, 2, fcl_op_div_up((size_t)K, S2_CB), (size_t)(ld / t->nb), 1, 0))) goto fail;

        if ((st = fcl_conv_start(ctx, &S2_BWD, "wino_s2_bwd_gemm", &a))) goto fail;
        fcl_op_arg_m(&a, dv.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, dvg);
        fcl_op_arg_i(&a, M); fcl_op_arg_i(&a, cnt * T);
        fcl_op_arg_m(&a, packed); fcl_op_arg_i(&a, nmb);
        fcl_op_arg_m(&a, dm.buf); fcl_op_arg_i(&a, dmg); fcl_op_arg_i(&a, K);
        if ((st = fcl_conv_launch(t, &a, 2, (size_t)nmb, (size_t)(ld / t->nb), 1, 0))) goto fail;

        if ((st = fcl_conv_start(ctx, &S2_BWD, "wino_s2_bwd_output", &a))) goto fail;
        fcl_op_arg_m(&a, dx->buf); fcl_op_arg_i(&a, (int)dx->offset + i0 * M * p->h * p->w);
        fcl_op_arg_i(&a, M); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
        fcl_op_arg_i(&a, p->pad_h); fcl_op_arg_i(&a, p->pad_w);
        fcl_op_arg_m(&a, dv.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, dvg);
        fcl_op_arg_i(&a, TH); fcl_op_arg_i(&a, TW);
        if ((st = fcl_conv_launch(t, &a, 3, fcl_op_div_up((size_t)TW + 1, 8), (size_t)TH + 1, (size_t)cnt * M, 0)))
            goto fail;
    }
fail:
    if (packed) fcl_pool_free(ctx, packed, cap);
    fcl_conv_ws_free(ctx, &dm);
    fcl_conv_ws_free(ctx, &dv);
    return st;
}

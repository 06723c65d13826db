/* host/ops/conv_wino_wgrad.c: the Winograd weight gradient launcher (cl/conv_wino_wgrad.cl transforms around cl/conv.cl's conv_gemm_nt). */
#include <limits.h>
#include <string.h>

#include "facecl/tuning.h"
#include "ops/conv_wino.h"
#include "ops/conv_wino_wgrad.h"

/* conv_wino.cl's input rows and filter transform G are shared with the forward */
static const fcl_op_src WGRAD = {"conv_wino.cl+conv_wino_wgrad.cl", FCL_TF_CONV};

/* As in conv_wino.c (WINO_MIN_C): the automatic choice leaves convolutions with fewer channels
 * (a 1- or 3-channel stem) to the GEMM: the transforms cost the same per pixel whatever the
 * channel count, the GEMMs they shrink are small there. */
enum { WGRAD_MIN_C = 16 };

int fcl_conv_wgrad_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p)
{
    if (t->gpu || !fcl_tuning_int(ctx, FCL_T_CONV_WGRAD) || !fcl_conv_wino_applies(p)) return 0;
    return p->algo == FCL_CONV_WINOGRAD || (p->algo == FCL_CONV_AUTO && p->cin >= WGRAD_MIN_C && p->cout >= WGRAD_MIN_C);
}

/* The tile: m x m outputs of dy per (m + 2) x (m + 2) input tile. F(3x3, 4x4) where CONV_WGRAD
 * is 2 and the output is at least 16x16 (or the algorithm is forced), else F(3x3, 2x2). */
static int tile_of(fcl_ctx *ctx, const fcl_conv2d_params *p, int oh, int ow)
{
    return fcl_tuning_int(ctx, FCL_T_CONV_WGRAD) == 2 && (p->algo == FCL_CONV_WINOGRAD || (oh >= 16 && ow >= 16)) ? 4
                                                                                                                 : 2;
}

/* The transform planes are skewed by SKEW floats (a cache line) so that the transforms' a * a
 * streams do not all map to the same L1 set when a plane is a multiple of 4 KiB (conv_wino.c). */
enum { SKEW = 16 };

/* One transform launch: V (x, C channels of H x W) or D (dy, K channels of OH x OW) of images i0
 * .. i0 + cnt - 1 into ws (rows ld long, planes g apart). */
static fcl_status transform(fcl_ctx *ctx, const fcl_conv_tune *t, const char *name, cl_mem ws, int ld, int g,
                            const fcl_tensor *in, int i0, int C, int H, int W, const int *pad, int TH, int TW, int cnt,
                            int mt)
{
    fcl_op_args a;
    if (fcl_conv_start(ctx, &WGRAD, name, &a)) return a.st;
    fcl_op_arg_m(&a, ws); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, g);
    fcl_op_arg_m(&a, in->buf); fcl_op_arg_i(&a, (int)in->offset + i0 * C * H * W);
    fcl_op_arg_i(&a, C); fcl_op_arg_i(&a, H); fcl_op_arg_i(&a, W);
    if (pad) {
        fcl_op_arg_i(&a, pad[0]); fcl_op_arg_i(&a, pad[1]);
    }
    fcl_op_arg_i(&a, TH); fcl_op_arg_i(&a, TW); fcl_op_arg_i(&a, cnt); fcl_op_arg_i(&a, mt);
    return fcl_conv_launch(t, &a, 2, (size_t)C, (size_t)cnt, 1, 0);
}

/* Per chunk of images: V = B^T x_t B ([np][C][ld]), D = A dy_t A^T ([np][K][ld]), M[xi] += D[xi]
 * V[xi]^T (np GEMMs K x C over the chunk's tiles, M zeroed first); then dw += G^T M G. */
fcl_status fcl_conv_wgrad(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                          const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    fcl_conv_ws v = {NULL, 0}, d = {NULL, 0};
    cl_mem mm = NULL;
    size_t mm_cap = 0;
    const int K = p->cout, C = p->cin, mt = tile_of(ctx, p, oh, ow), a = mt + 2, np = a * a;
    const int TH = (oh + mt - 1) / mt, TW = (ow + mt - 1) / mt, T = TH * TW, pad[2] = {p->pad_h, p->pad_w};
    const size_t floats = (size_t)np * K * C;
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d winograd weight gradient: the transformed gradient (%zu "
                       "floats) exceeds 32-bit indexing", floats);
    const int chunk = fcl_conv_plan_chunk(t, (size_t)np * (K + C), T, p->n);
    /* + room for the planes' skew: (np - 1) * SKEW floats in rows of at least nb floats */
    const size_t skew_rows = fcl_op_div_up((size_t)(np - 1) * SKEW, (size_t)t->nb);
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)np * C + skew_rows, chunk, T, &v))) goto fail;
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)np * K + skew_rows, chunk, T, &d))) goto fail;
    if ((st = fcl_pool_alloc(ctx, floats * sizeof(float), &mm, &mm_cap))) goto fail;
    fcl_tensor mt_acc;
    memset(&mt_acc, 0, sizeof mt_acc);
    mt_acc.buf = mm;
    mt_acc.ndim = 1;
    mt_acc.shape[0] = floats;
    mt_acc.dtype = FCL_F32;
    if ((st = fcl_tensor_fill(ctx, &mt_acc, 0.0f))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        const int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, T);
        const int vg = C * ld + SKEW, dg = K * ld + SKEW;
        if ((st = transform(ctx, t, "wgrad_input", v.buf, ld, vg, x, i0, C, p->h, p->w, pad, TH, TW, cnt, mt)))
            goto fail;
        if ((st = transform(ctx, t, "wgrad_dy", d.buf, ld, dg, dy, i0, K, oh, ow, NULL, TH, TW, cnt, mt))) goto fail;
        /* one run of ld columns per plane (the zeroed tail included): nimg 1 */
        fcl_conv_operand ad = fcl_conv_ws_operand(&d, K, ld, ld), bv = fcl_conv_ws_operand(&v, C, ld, ld);
        ad.g = dg;
        bv.g = vg;
        if ((st = fcl_conv_gemm_nt(ctx, t, np, K, C, ld, 1, &ad, &bv, &mt_acc))) goto fail;
    }
    fcl_op_args o;
    if ((st = fcl_conv_start(ctx, &WGRAD, "wgrad_output", &o))) goto fail;
    fcl_op_arg_t(&o, dw);
    fcl_op_arg_m(&o, mm); fcl_op_arg_i(&o, K * C); fcl_op_arg_i(&o, K); fcl_op_arg_i(&o, C); fcl_op_arg_i(&o, a);
    st = fcl_conv_launch(t, &o, 2, (size_t)C, (size_t)K, 1, 0);
fail:
    fcl_conv_ws_free(ctx, &v);
    fcl_conv_ws_free(ctx, &d);
    if (mm) fcl_pool_free(ctx, mm, mm_cap);
    return st;
}

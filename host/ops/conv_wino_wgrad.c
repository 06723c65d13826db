/* host/ops/conv_wino_wgrad.c: the Winograd weight gradient launcher (cl/conv_wino_wgrad.cl transforms around cl/conv.cl's conv_gemm_nn). */
#include <limits.h>

#include "facecl/tuning.h"
#include "ops/conv_wino.h"
#include "ops/conv_wino_wgrad.h"

/* conv_wino.cl's B^T (WINO_BT6) is shared with the forward */
static const fcl_op_src WGRAD = {"conv_act.cl+conv_wino.cl+conv_wino_wgrad.cl", FCL_TF_CONV};

/* As in conv_wino.c (FCL_WINO_MIN_C): the automatic choice leaves convolutions with fewer channels
 * (a 1- or 3-channel stem) to the GEMM: the transforms cost the same per pixel whatever the
 * channel count, the GEMMs they shrink are small there. */

int fcl_conv_wgrad_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p)
{
    if (t->gpu || !fcl_tuning_int(ctx, FCL_T_CONV_WGRAD) || !fcl_conv_wino_applies(p)) return 0;
    return p->algo == FCL_CONV_WINOGRAD ||
           (p->algo == FCL_CONV_AUTO && p->cin >= FCL_WINO_MIN_C && p->cout >= FCL_WINO_MIN_C);
}

/* The tile: m x m outputs of dy per (m + 2) x (m + 2) input tile. F(3x3, 4x4) where CONV_WGRAD
 * is 2 and the output is at least WGRAD_F4_MIN square (or the algorithm is forced), else
 * F(3x3, 2x2). Why 7 (was 16): on Zen 3 (CPU256 blocks 6x2x8; `bench ops`, bwd_weight, process
 * CPU ms, loaded, 3 alternating runs each) F(3x3, 4x4) vs F(3x3, 2x2) on ResNet-18's 256x7^2
 * 17.9 / 15.3 / 15.7 vs 21.6 / 20.6 / 22.3 (both tile 7x7 as 8x8; 4 tiles of 36 points instead
 * of 16 of 16: 44% fewer GEMM flops), 128x14^2 19.5 / 17.3 / 19.8 vs 23.6 / 24.9 / 25.3 (even
 * with 16x16 covering 14x14), 512x4^2 even (31.7 / 28.4 / 31.5 vs 31.0 / 29.5 / 31.5: one tile an
 * image, no gain in the GEMMs to pay for 36 planes): it stays F(3x3, 2x2). */
enum { WGRAD_F4_MIN = 7 };
static int tile_of(fcl_ctx *ctx, const fcl_conv2d_params *p, int oh, int ow)
{
    return fcl_tuning_int(ctx, FCL_T_CONV_WGRAD) == 2 &&
                   (p->algo == FCL_CONV_WINOGRAD || (oh >= WGRAD_F4_MIN && ow >= WGRAD_F4_MIN))
               ? 4
               : 2;
}

/* The planes of V and M are skewed by FCL_WINO_SKEW floats (a cache line) so that the a * a streams of
 * wgrad_input's stores and wgrad_output's loads do not all map to the same L1 set when a plane
 * is a multiple of 4 KiB (as in conv_wino.c; M of a 512-channel layer: 1 MiB a plane). */
enum { CB = 8 /* wgrad_input's channels per work-item (WGRAD_CB) */, MIN_RED = 256 };

/* The GEMMs' reduction length for n tiles: n plus up to 15 zero tiles, so that the np planes of
 * D (conv_gemm_nn's A groups, nmb * mb * length floats apart) start in as many different L1 sets
 * (64 of 64 bytes) as there are planes: wgrad_dy stores to all planes at once. Without it
 * ResNet-18's 256x7^2 layer (22 panels of 12 x 512 tiles: 132 x 4 KiB a plane) spent 2/3 of
 * its weight gradient's transform time in that kernel. */
static int reduction_of(int n, int nmb, int mb, int np)
{
    int best = n, best_sets = 0;
    for (int pad = 0; pad < 16; pad++) {
        const size_t stride = (size_t)nmb * mb * (n + pad) * sizeof(float);
        unsigned long long used = 0;
        int sets = 0;
        for (int i = 0; i < np && i < 64; i++) {
            const unsigned set = (unsigned)((i * stride / 64) % 64);
            if (!(used >> set & 1)) sets++;
            used |= 1ull << set;
        }
        if (sets > best_sets) {
            best_sets = sets;
            best = n + pad;
        }
        if (sets == (np < 64 ? np : 64)) break;
    }
    return best;
}

/* A pool buffer of `floats` floats, refused past 32-bit indexing. */
static fcl_status alloc(fcl_ctx *ctx, size_t floats, const char *what, cl_mem *buf, size_t *cap)
{
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d winograd weight gradient: %s (%zu floats) exceeds 32-bit "
                       "indexing", what, floats);
    return fcl_pool_alloc(ctx, floats * sizeof(float), buf, cap);
}

/* Per chunk of images: D = A dy_t A^T (packed panels), V = B^T x_t B ([np][tiles][ldc]), M[xi]
 * (+)= D[xi] V[xi] (np GEMMs K x C over the chunk's tiles, the first chunk overwriting); then
 * dw += G^T M G. */
fcl_status fcl_conv_wgrad(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                          const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    cl_mem bufs[3] = {NULL, NULL, NULL}; /* D, V, M */
    size_t caps[3] = {0, 0, 0};
    const int K = p->cout, C = p->cin, mt = tile_of(ctx, p, oh, ow), a = mt + 2, np = a * a;
    const int TH = (oh + mt - 1) / mt, TW = (ow + mt - 1) / mt, T = TH * TW;
    const int nmb = (int)fcl_op_div_up((size_t)K, (size_t)t->mb), ldc = (int)(fcl_op_div_up((size_t)C, (size_t)t->nb) * t->nb);
    /* within the CONV_COL_KB budget, but at least MIN_RED tile columns (where the batch has them)
     * for the GEMMs' reduction: ResNet-18's 4x4 maps have 4 tiles an image */
    int chunk = fcl_conv_plan_chunk(t, (size_t)np * ((size_t)nmb * t->mb + ldc), T, p->n);
    if (chunk * T < MIN_RED) chunk = (int)fcl_op_div_up(MIN_RED, (size_t)T) < p->n ? (int)fcl_op_div_up(MIN_RED, (size_t)T) : p->n;
    const size_t rows = (size_t)chunk * T + 15, vg = rows * ldc + FCL_WINO_SKEW, mg = (size_t)K * ldc + FCL_WINO_SKEW;
    if ((st = alloc(ctx, (size_t)np * nmb * t->mb * rows, "the transformed dy", &bufs[0], &caps[0])) ||
        (st = alloc(ctx, np * vg, "the transformed x", &bufs[1], &caps[1])) ||
        (st = alloc(ctx, np * mg, "the transformed gradient", &bufs[2], &caps[2])))
        goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        const int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, pad[2] = {p->pad_h, p->pad_w};
        const int N = reduction_of(cnt * T, nmb, t->mb, np);
        fcl_op_args o;
        if ((st = fcl_conv_start(ctx, &WGRAD, "wgrad_dy", &o))) goto fail;
        fcl_op_arg_m(&o, bufs[0]); fcl_op_arg_i(&o, nmb); fcl_op_arg_i(&o, N);
        fcl_op_arg_m(&o, dy->buf); fcl_op_arg_i(&o, (int)dy->offset + i0 * K * oh * ow);
        fcl_op_arg_i(&o, K); fcl_op_arg_i(&o, oh); fcl_op_arg_i(&o, ow);
        fcl_op_arg_i(&o, TH); fcl_op_arg_i(&o, TW); fcl_op_arg_i(&o, cnt); fcl_op_arg_i(&o, mt);
        if ((st = fcl_conv_launch(t, &o, 2, (size_t)nmb, (size_t)cnt, 1, 0))) goto fail;

        if ((st = fcl_conv_start(ctx, &WGRAD, "wgrad_input", &o))) goto fail;
        fcl_op_arg_m(&o, bufs[1]); fcl_op_arg_i(&o, ldc); fcl_op_arg_i(&o, (int)vg); fcl_op_arg_i(&o, N);
        fcl_op_arg_m(&o, x->buf); fcl_op_arg_i(&o, (int)x->offset + i0 * C * p->h * p->w);
        fcl_op_arg_i(&o, C); fcl_op_arg_i(&o, p->h); fcl_op_arg_i(&o, p->w);
        fcl_op_arg_i(&o, pad[0]); fcl_op_arg_i(&o, pad[1]);
        fcl_op_arg_i(&o, TH); fcl_op_arg_i(&o, TW); fcl_op_arg_i(&o, cnt); fcl_op_arg_i(&o, mt);
        if ((st = fcl_conv_launch(t, &o, 2, (size_t)(ldc / CB), (size_t)cnt, 1, 0))) goto fail;

        /* B rows are the tiles, C columns (one "image" of C pixels); C = M rows ldc long */
        const fcl_conv_operand bv = {bufs[1], 0, ldc, ldc, (int)vg, 1}, cm = {bufs[2], 0, ldc, ldc, (int)mg, 1};
        if ((st = fcl_conv_gemm_nn(ctx, t, np, K, N, C, C, bufs[0], &bv, &cm, NULL, i0 > 0))) goto fail;
    }
    fcl_op_args o;
    if ((st = fcl_conv_start(ctx, &WGRAD, "wgrad_output", &o))) goto fail;
    fcl_op_arg_t(&o, dw);
    fcl_op_arg_m(&o, bufs[2]); fcl_op_arg_i(&o, ldc); fcl_op_arg_i(&o, (int)mg);
    fcl_op_arg_i(&o, K); fcl_op_arg_i(&o, C); fcl_op_arg_i(&o, a);
    st = fcl_conv_launch(t, &o, 1, (size_t)K, 1, 1, 0);
fail:
    for (int i = 0; i < 3; i++)
        if (bufs[i]) fcl_pool_free(ctx, bufs[i], caps[i]);
    return st;
}

/* host/ops/conv_wino.c: Winograd F(2x2, 3x3), F(4x4, 3x3) and the stride-2 form launchers (cl/conv_wino.cl, conv_wino_s2.cl transforms around cl/conv.cl's batched GEMM). */
#include <limits.h>

#include "ops/conv_wino.h"

/* The transforms (tiles: conv_wino.cl, of small maps: conv_wino_cols.cl, weights: conv_wino_weights.cl); the GEMM
 * is conv.cl's (through conv_cpu.h). */
static const fcl_op_src WINO = {"conv_act.cl+conv_wino.cl+conv_wino_cols.cl+conv_wino_weights.cl", FCL_TF_CONV};
/* The stride-2 form's transforms (cl/conv_wino_s2.cl, on conv_wino.cl's stores and conv_wino_weights.cl's panels) */
static const fcl_op_src WINO_S2 = {"conv_act.cl+conv_common.cl+conv.cl+conv_wino.cl+conv_wino_cols.cl+conv_wino_weights.cl+"
                                   "conv_wino_s2.cl", FCL_TF_CONV};

int fcl_conv_wino_applies(const fcl_conv2d_params *p)
{
    return p->groups == 1 && p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
           p->dil_w == 1 && p->pad_h >= 0 && p->pad_h <= 2 && p->pad_w >= 0 && p->pad_w <= 2;
}

/* The automatic choice leaves convolutions with fewer than FCL_WINO_MIN_C (conv_wino.h) input or
 * output channels to the GEMM: the GEMMs over the channels are what Winograd shrinks, its
 * transforms cost the same per pixel whatever the channel count, so a 1- or 3-channel stem gains
 * nothing. There is a
 * second reason: on tests/test_mpi.c's ArcFace run (model small, gray 32x32 synthetic faces),
 * its 1-channel stem through Winograd moved the loss after one step by 7e-5 relative and bn1.bias
 * by 4%, where the GPU-shaped kernels (every summation order different) moved them by 3e-7 and
 * 0.01%; with the stem on the GEMM and every other 3x3 conv on Winograd, by 1e-7. Not
 * understood: raw images have large flat regions, where the GEMM gives equal pixels equal
 * results and Winograd's tile positions round differently; a ReLU kink at those values would
 * turn such differences into a different gradient. */
int fcl_conv_wino_use(const fcl_conv_tune *t, const fcl_conv2d_params *p)
{
    return (p->algo == FCL_CONV_WINOGRAD && fcl_conv_wino_applies(p)) ||
           (p->algo == FCL_CONV_AUTO && t->wino && !t->gpu && fcl_conv_wino_applies(p) && p->cin >= FCL_WINO_MIN_C &&
            p->cout >= FCL_WINO_MIN_C);
}

int fcl_conv_wino_s2_applies(const fcl_conv2d_params *p)
{
    return p->groups == 1 && p->kh == 3 && p->kw == 3 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 &&
           p->dil_w == 1 && p->pad_h >= 0 && p->pad_h <= 2 && p->pad_w >= 0 && p->pad_w <= 2;
}

/* The automatic choice takes the stride-2 form (CONV_WINO_S2 1) on outputs of at least FCL_WINO_S2_MIN
 * square: ResNet-18's layer2.0 (14x14 out) gains ~24% CPU (session 13), layer3.0 (7x7) is level
 * and layer4.0 (4x4) ~1.46x slower (its transformed filter planes cost more than the GEMMs save;
 * measured: host/runtime/tuning_table.c CONV_WINO_S2). The data gradient's form draws the same
 * line (CONV_WINO_S2_BWD). */
int fcl_conv_wino_s2_pick(const fcl_conv_tune *t, const fcl_conv2d_params *p, int on)
{
    if (!fcl_conv_wino_s2_applies(p)) return 0;
    const int oh = fcl_conv2d_out_size(p->h, 3, 2, p->pad_h, 1), ow = fcl_conv2d_out_size(p->w, 3, 2, p->pad_w, 1);
    return p->algo == FCL_CONV_WINOGRAD ||
           (p->algo == FCL_CONV_AUTO && on && !t->gpu && p->cin >= FCL_WINO_MIN_C && p->cout >= FCL_WINO_MIN_C &&
            oh >= FCL_WINO_S2_MIN && ow >= FCL_WINO_S2_MIN);
}

int fcl_conv_wino_s2_use(const fcl_conv_tune *t, const fcl_conv2d_params *p)
{
    return fcl_conv_wino_s2_pick(t, p, t->wino_s2);
}

/* The tile: m x m outputs from an (m + 2) x (m + 2) input tile, (m + 2)^2 transform planes.
 * F(4x4, 3x3) where the tuning's CONV_WINO is 2 and Winograd is forced, or the output (OH x OW)
 * is at least 16 square, or at least WINO_F4_MIN square with WINO_F4_C or more channels in and
 * out; else F(2x2, 3x3). Session 4: F(4x4) vs F(2x2) fwd / bwd data
 * (`facecl bench ops --filter k3s1`, ResNet-18 @112, batch 32, process CPU ms) 13.0-13.5 /
 * 12.8-13.8 vs 15.2-15.9 / 14.5-16.0 at 64x28^2, slower on 4x4 maps (512x4^2: 32-33 / 38-40 vs
 * 23-24 / 28-29: transforming the filters into 36 planes costs more than the GEMMs save, still so
 * in session 10: wino_weights4 9.3 ms of 31 CPU ms). Why 7 (16 until session 10): with maps of
 * at most 4 tiles a row on conv_wino_cols.cl (8 tiles a vector; before, 14x14 and 7x7 under
 * F(4x4) filled 4 and 2 of 8 lanes), on Zen 3 (CPU256, loaded, alternating runs, CPU ms) 256x7^2
 * fwd / bwd_data 19.7-21.5 / 20.0-20.4 -> 13.4-15.9 / 13.6-16.7 (2 pairs; the GEMMs' 36 planes of
 * 4 tiles do 44% fewer flops than 16 of 16), 128x14^2 15.3-22.9 / 17.2-22.0 -> 12.3-19.5 /
 * 12.6-21.6 (3 pairs; 5 of 6 faster, the GEMMs' device ms 12.1-16.9 -> 7.5-12.4). Why 128
 * channels: measured at 128 and 256 (F(4x4)'s gain is in the GEMMs, ~C^2 per tile, its dearer
 * transforms cost ~C); fewer are not measured and stay F(2x2): tests/test_mpi.c's small model (64
 * channels on 8x8 maps) under F(4x4) moved bn1.bias between its 1- and 2-rank runs by 1.01x
 * the tolerance (as session 6 saw with F(4x4) on every size); F(2x2) stays within it. */
enum { WINO_F4_MIN = 7, WINO_F4_C = 128 };

static int tile_of(const fcl_conv_tune *t, const fcl_conv2d_params *p, int oh, int ow)
{
    const int small = oh >= WINO_F4_MIN && ow >= WINO_F4_MIN && p->cin >= WINO_F4_C && p->cout >= WINO_F4_C;
    return t->wino == 2 && (p->algo == FCL_CONV_WINOGRAD || (oh >= 16 && ow >= 16) || small) ? 4 : 2;
}

/* The transformed filter planes stored for a tile of a x a inputs: a * a, the stride-2 form's (a 5) 16 distinct
 * (cl/conv_wino_s2.cl wino_s2_weights16) */
static int planes_of(int a) { return a == 5 ? 16 : a * a; }

/* The a * a transformed filters U[xi] (M x K each) in conv_pack's panels for conv_gemm_nn, in a
 * new pool buffer *packed (*cap bytes; the caller frees it) or in *packed when it is given (a
 * prepared-weights slot). flip: the data gradient's filters (rotated, M = cin, K = cout). */
static fcl_status weights(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *w, const fcl_conv2d_params *p,
                          int flip, int a, cl_mem *packed, size_t *cap)
{
    int M = flip ? p->cin : p->cout, K = flip ? p->cout : p->cin, nmb = (M + t->mb - 1) / t->mb;
    size_t floats = (size_t)planes_of(a) * nmb * t->mb * K;
    fcl_op_args x;
    fcl_status st;
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d winograd: the transformed weights (%zu floats) exceed 32-bit "
                       "indexing", floats);
    if (!*packed && (st = fcl_pool_alloc(ctx, floats * sizeof(float), packed, cap))) return st; /* else prep's */
    if ((st = fcl_conv_start(ctx, a == 5 ? &WINO_S2 : &WINO,
                             a == 6 ? "wino_weights4" : a == 5 ? "wino_s2_weights16" : "wino_weights2", &x)))
        return st;
    fcl_op_arg_m(&x, *packed); fcl_op_arg_t(&x, w);
    fcl_op_arg_i(&x, p->cout); fcl_op_arg_i(&x, p->cin); fcl_op_arg_i(&x, flip); fcl_op_arg_i(&x, nmb);
    return fcl_conv_launch(t, &x, 1, (size_t)nmb, 1, 1, 0);
}

/* The transform planes of V and M are skewed by FCL_WINO_SKEW floats (a cache line) so that the
 * transforms' streams do not all map to the same L1 set when a plane is a multiple of 4 KiB.
 * wino_output reads M in vectors of VL (cl/conv_wino.cl WINO_VL) tiles, up to VL - 1 floats past
 * the last plane's last column. Maps of at most VL / 2 tiles a row go through conv_wino_cols.cl
 * (8 consecutive tiles of any rows and images a vector): on ResNet-18's 256x7^2 under F(2x2)
 * (Zen 3, loaded, 2 alternating pairs, CPU ms) fwd / bwd_data 24.8-28.3 / 25.5-27.6 ->
 * 19.7-21.5 / 20.0-20.4 (the output transform's device ms 2.4-3.1 -> 1.8-2.6), 512x4^2
 * 22.9-28.4 / 22.0-29.0 -> 20.3-20.8 / 19.8-23.7; F(4x4) on 7x7 (wino_input's 8 lanes held 2
 * tiles) input transform 5.6-6.8 -> 1.7-1.8 ms. */
enum { VL = 8, COLS_BLOCKS = 4 /* WINO_COLS_BLOCKS */, S2_CB = 16 /* WINO_S2_CB */ };

/* One Winograd convolution: out [n][M][OH][OW] (+)= conv3x3(in [n][K][H][W]) with padding ph x pw
 * (stride 1: OH = H + 2 ph - 2, OW likewise; stride 2 (s2): OH = (H + 2 ph - 3) / 2 + 1). */
typedef struct wino_geom {
    int n, K, H, W, M, OH, OW, ph, pw;
} wino_geom;

/* Per chunk of images: V = input tiles transformed ([np][K][ld], np = (mt + 2)^2 planes; s2: 25 of
 * cl/conv_wino_s2.cl's 5x5 tiles at input stride 4 for mt = 2, in column panels, and the GEMMs
 * fused with A^T . A's sums into 4 planes of M instead of 25), M[xi] =
 * U[xi] * V[xi] (np GEMMs, [np][M][ld]), out (+)= their output transform (+ bias); act: the
 * forward's fused activation (fcl_conv2d_params.out_act, 0 with accumulate), after the residual
 * res (NULL: none) is added. */
static fcl_status run(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *out, const fcl_tensor *in,
                      const fcl_tensor *bias, const fcl_tensor *res, cl_mem packed, const wino_geom *g, int mt,
                      int accumulate, int act, int s2)
{
    fcl_status st;
    fcl_conv_ws v = {NULL, 0}, m = {NULL, 0};
    const fcl_op_src *src = s2 ? &WINO_S2 : &WINO;
    const int np = s2 ? 25 : (mt + 2) * (mt + 2), TH = (g->OH + mt - 1) / mt, TW = (g->OW + mt - 1) / mt, T = TH * TW;
    const int mp = s2 ? 4 : np; /* M's planes (s2: folded into 4 by wino_s2_gemm) */
    const int chunk = fcl_conv_plan_chunk(t, (size_t)np * g->K + (size_t)mp * g->M, T, g->n);
    /* + room for the planes' skew ((np - 1) * FCL_WINO_SKEW floats) and M's last vector, in rows of >= nb floats */
    const size_t skew_rows = fcl_op_div_up((size_t)(np - 1) * FCL_WINO_SKEW + VL, (size_t)t->nb);
    /* s2: V's slots skewed in every column panel (cl/conv_wino_s2.cl WINO_S2_SLOT): np * FCL_WINO_SKEW floats */
    const size_t v_skew = s2 ? fcl_op_div_up((size_t)np * FCL_WINO_SKEW, (size_t)t->nb) : skew_rows;
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)np * g->K + v_skew, chunk, T, &v))) goto fail;
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)mp * g->M + skew_rows, chunk, T, &m))) goto fail;
    for (int i0 = 0; i0 < g->n; i0 += chunk) {
        int cnt = g->n - i0 < chunk ? g->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, T);
        fcl_op_args a;
        const int vg = s2 ? g->K * t->nb + FCL_WINO_SKEW : g->K * ld + FCL_WINO_SKEW, mg = g->M * ld + FCL_WINO_SKEW,
                  cols = !s2 && TW <= VL / 2;
        const char *input = s2 ? "wino_s2_input" : !cols ? "wino_input" : mt == 4 ? "wino_input_cols4" : "wino_input_cols2";
        if ((st = fcl_conv_start(ctx, src, input, &a)))
            goto fail;
        fcl_op_arg_m(&a, v.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, vg);
        fcl_op_arg_m(&a, in->buf); fcl_op_arg_i(&a, (int)in->offset + i0 * g->K * g->H * g->W);
        if (!cols && !s2) {
            fcl_op_arg_i(&a, (int)in->offset); fcl_op_arg_i(&a, (int)(in->offset + fcl_tensor_numel(in)));
        }
        fcl_op_arg_i(&a, g->K); fcl_op_arg_i(&a, g->H); fcl_op_arg_i(&a, g->W);
        fcl_op_arg_i(&a, g->ph); fcl_op_arg_i(&a, g->pw);
        fcl_op_arg_i(&a, TH); fcl_op_arg_i(&a, TW); fcl_op_arg_i(&a, cnt);
        if (!cols && !s2) fcl_op_arg_i(&a, mt);
        if (s2) st = fcl_conv_launch(t, &a, 2, fcl_op_div_up((size_t)g->K, S2_CB), (size_t)(ld / t->nb), 1, 0);
        else st = fcl_conv_launch(t, &a, 2, (size_t)g->K, cols ? fcl_op_div_up((size_t)cnt * T, VL * COLS_BLOCKS) : (size_t)cnt,
                                  1, 0);
        if (st)
            goto fail;

        if (s2) { /* V in column panels (b_contig 2); M's 25 planes folded into 4 as the GEMMs go */
            if ((st = fcl_conv_start(ctx, src, "wino_s2_gemm", &a))) goto fail;
            const size_t nmb = fcl_op_div_up((size_t)g->M, (size_t)t->mb);
            fcl_op_arg_m(&a, m.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, mg);
            fcl_op_arg_i(&a, g->M); fcl_op_arg_i(&a, cnt * T);
            fcl_op_arg_m(&a, packed); fcl_op_arg_i(&a, (int)nmb);
            fcl_op_arg_m(&a, v.buf); fcl_op_arg_i(&a, vg); fcl_op_arg_i(&a, g->K);
            if ((st = fcl_conv_launch(t, &a, 2, nmb, (size_t)(ld / t->nb), 1, 0))) goto fail;
        } else {
            fcl_conv_operand bv = fcl_conv_ws_operand(&v, g->K, ld, T), cm = fcl_conv_ws_operand(&m, g->M, ld, T);
            bv.g = vg;
            cm.g = mg;
            if ((st = fcl_conv_gemm_nn(ctx, t, np, g->M, g->K, T, cnt * T, packed, &bv, &cm, NULL, 0))) goto fail;
        }

        if ((st = fcl_conv_start(ctx, src, !cols ? "wino_output" : mt == 4 ? "wino_output_cols4" : "wino_output_cols2", &a)))
            goto fail;
        fcl_op_arg_m(&a, out->buf); fcl_op_arg_i(&a, (int)out->offset + i0 * g->M * g->OH * g->OW);
        fcl_op_arg_i(&a, g->M); fcl_op_arg_i(&a, g->OH); fcl_op_arg_i(&a, g->OW);
        fcl_op_arg_m(&a, m.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, mg);
        fcl_op_arg_m(&a, bias ? bias->buf : m.buf); fcl_op_arg_i(&a, bias ? (int)bias->offset : 0);
        fcl_op_arg_i(&a, bias != NULL);
        fcl_op_arg_i(&a, accumulate);
        fcl_op_arg_i(&a, act);
        fcl_op_arg_m(&a, res ? res->buf : m.buf);
        fcl_op_arg_i(&a, res ? (int)res->offset + i0 * g->M * g->OH * g->OW : 0);
        fcl_op_arg_i(&a, res != NULL);
        fcl_op_arg_i(&a, TH); fcl_op_arg_i(&a, TW); fcl_op_arg_i(&a, cnt);
        if (!cols) fcl_op_arg_i(&a, s2 ? 1 : mt); /* s2: wino_s2_gemm's 4 planes of sums */
        if ((st = fcl_conv_launch(t, &a, 2, (size_t)g->M, cols ? fcl_op_div_up((size_t)cnt * T, VL * COLS_BLOCKS) : (size_t)cnt,
                                  1, 0)))
            goto fail;
    }
fail:
    fcl_conv_ws_free(ctx, &v);
    fcl_conv_ws_free(ctx, &m);
    return st;
}

/* The filters transformed (flip for the data gradient), then the convolution over the chunks.
 * The forward's transformed filters are kept in prep (when given) across calls at one version,
 * keyed by the tile and the register block (their layout). */
static fcl_status wino(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *out, const fcl_tensor *in, const fcl_tensor *w,
                       const fcl_tensor *bias, const fcl_tensor *res, const fcl_conv2d_params *p, const wino_geom *g,
                       int flip, fcl_conv_prep *prep)
{
    cl_mem packed = NULL, kept = NULL;
    size_t cap = 0;
    int fill = 1;
    const int s2 = p->stride_h == 2, mt = s2 ? 2 : tile_of(t, p, g->OH, g->OW), a = s2 ? 5 : mt + 2;
    const int nmb = (g->M + t->mb - 1) / t->mb;
    const size_t bytes = (size_t)planes_of(a) * nmb * t->mb * g->K * sizeof(float);
    fcl_status st = fcl_conv_prep_get(ctx, flip ? NULL : prep, FCL_CONV_PREP_WINO, (long long)a << 32 | t->mb, bytes,
                                      &kept, &fill);
    packed = kept;
    if (!st && fill && !(st = weights(ctx, t, w, p, flip, a, &packed, &cap)) && kept)
        fcl_conv_prep_done(prep, FCL_CONV_PREP_WINO);
    if (!st) st = run(ctx, t, out, in, bias, res, packed, g, mt, flip, flip ? 0 : p->out_act, s2);
    if (packed && !kept) fcl_pool_free(ctx, packed, cap);
    return st;
}

fcl_status fcl_conv_wino_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow,
                             fcl_conv_prep *prep, const fcl_tensor *r)
{
    const wino_geom g = {p->n, p->cin, p->h, p->w, p->cout, oh, ow, p->pad_h, p->pad_w};
    return wino(ctx, t, y, x, w, b, r, p, &g, 0, prep);
}

fcl_status fcl_conv_wino_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                  const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    /* dx[iy] gathers dy[oy] w[iy - oy + pad]: the rotated filters with padding 2 - pad */
    const wino_geom g = {p->n, p->cout, oh, ow, p->cin, p->h, p->w, 2 - p->pad_h, 2 - p->pad_w};
    return wino(ctx, t, dx, dy, w, NULL, NULL, p, &g, 1, NULL);
}
